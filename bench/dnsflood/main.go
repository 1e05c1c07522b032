// Command dnsflood sends a flood of distinct made-up names to a DNS server
// over UDP while it measures how fast a real name is answered, first alone
// and then during the flood. Every run is bounded in names and time, and
// talks only to the address it is given (loopback in bench/dnsflood.sh).
//
//	dnsflood -server 127.0.0.61:8600 -names 100000 -real web.service.consul -d 5s
//
// The made-up names cycle through the forms a Consul DNS server answers:
// rndN.service.consul, xN.node.consul, tN.web.service.consul (a tag no
// instance has), rndN.service.DC.consul and _rndN._tcp.service.consul.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dnsflood:", err)
		os.Exit(1)
	}
}

type options struct {
	server    string
	names     int
	repeat    int
	floodC    int
	realName  string
	realType  uint16
	realC     int
	dur       time.Duration
	dc        string
	timeout   time.Duration
	seed      string
	maxFlood  time.Duration
	skipAlone bool
}

func run(args []string) error {
	fs := flag.NewFlagSet("dnsflood", flag.ContinueOnError)
	var o options
	var realType string
	fs.StringVar(&o.server, "server", "127.0.0.61:8600", "DNS server (UDP)")
	fs.IntVar(&o.names, "names", 100_000, "distinct made-up names to send")
	fs.IntVar(&o.repeat, "repeat", 1, "times each made-up name is asked, back to back")
	fs.IntVar(&o.floodC, "flood-c", 8, "concurrent flood clients")
	fs.StringVar(&o.realName, "real", "web.service.consul", "real name to measure")
	fs.StringVar(&realType, "real-type", "SRV", "query type of the real name")
	fs.IntVar(&o.realC, "real-c", 4, "concurrent clients asking the real name")
	fs.DurationVar(&o.dur, "d", 5*time.Second, "duration of the real-name run alone")
	fs.StringVar(&o.dc, "dc", "dc1", "datacenter label for the rndN.service.DC.consul form")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Second, "per-query timeout")
	fs.StringVar(&o.seed, "prefix", "", "prefix of the made-up labels, so repeated runs use new names (default: from the clock)")
	fs.DurationVar(&o.maxFlood, "max", 5*time.Minute, "upper bound on the flood's duration")
	fs.BoolVar(&o.skipAlone, "skip-alone", false, "skip the real-name run without the flood")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t, ok := dns.StringToType[strings.ToUpper(realType)]
	if !ok {
		return fmt.Errorf("unknown query type %q", realType)
	}
	o.realType = t
	switch {
	case o.names <= 0 || o.names > 10_000_000:
		return fmt.Errorf("-names must be in 1..10000000")
	case o.repeat < 1 || o.repeat > 10:
		return fmt.Errorf("-repeat must be in 1..10")
	case o.floodC < 1 || o.floodC > 256 || o.realC < 1 || o.realC > 256:
		return fmt.Errorf("-flood-c and -real-c must be in 1..256")
	case o.dur <= 0 || o.dur > 10*time.Minute || o.maxFlood <= 0 || o.maxFlood > 30*time.Minute:
		return fmt.Errorf("-d must be in (0, 10m], -max in (0, 30m]")
	}
	if o.seed == "" {
		o.seed = fmt.Sprintf("r%x", time.Now().UnixNano()&0xffffff)
	}

	if !o.skipAlone {
		ctx, cancel := context.WithTimeout(context.Background(), o.dur)
		r := realLoad(ctx, o)
		cancel()
		fmt.Printf("real name alone:        %s\n", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.maxFlood)
	defer cancel()
	realCtx, stopReal := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var during result
	wg.Go(func() { during = realLoad(realCtx, o) })
	f := flood(ctx, o)
	stopReal()
	wg.Wait()
	fmt.Printf("real name during flood: %s\n", during)
	fmt.Printf("flood:                  %s\n", f)
	return nil
}

// name is the i-th made-up name.
func name(o options, i int) string {
	switch i % 5 {
	case 0:
		return fmt.Sprintf("%s%d.service.consul.", o.seed, i)
	case 1:
		return fmt.Sprintf("x%s%d.node.consul.", o.seed, i)
	case 2:
		return fmt.Sprintf("t%s%d.web.service.consul.", o.seed, i)
	case 3:
		return fmt.Sprintf("%s%d.service.%s.consul.", o.seed, i, o.dc)
	}
	return fmt.Sprintf("_%s%d._tcp.service.consul.", o.seed, i)
}

type result struct {
	ok, failed, lost int
	rcodes           map[int]int
	elapsed          time.Duration
	lat              []time.Duration
}

func (r result) String() string {
	if r.elapsed <= 0 {
		return "no queries"
	}
	var codes []string
	for c, n := range r.rcodes {
		codes = append(codes, fmt.Sprintf("%s=%d", dns.RcodeToString[c], n))
	}
	slices.Sort(codes)
	slices.Sort(r.lat)
	pct := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))]
	}
	return fmt.Sprintf("%8.0f q/s over %5.1fs  answered %d (%s), lost %d, errors %d, p50 %v p99 %v",
		float64(r.ok)/r.elapsed.Seconds(), r.elapsed.Seconds(), r.ok, strings.Join(codes, " "),
		r.lost, r.failed, pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
}

// worker asks next() until it returns "" or ctx ends, on its own socket.
func worker(ctx context.Context, o options, qtype uint16, next func() string, out *result, mu *sync.Mutex) {
	c := &dns.Client{Net: "udp", Timeout: o.timeout}
	var local result
	local.rcodes = map[int]int{}
	defer func() {
		mu.Lock()
		out.ok += local.ok
		out.failed += local.failed
		out.lost += local.lost
		for k, v := range local.rcodes {
			out.rcodes[k] += v
		}
		out.lat = append(out.lat, local.lat...)
		mu.Unlock()
	}()
	conn, err := c.Dial(o.server)
	if err != nil {
		local.failed++
		return
	}
	defer func() { conn.Close() }()
	m := new(dns.Msg)
	for ctx.Err() == nil {
		qname := next()
		if qname == "" {
			return
		}
		m.SetQuestion(qname, qtype)
		start := time.Now()
		r, _, err := c.ExchangeWithConn(m, conn)
		switch {
		case err != nil:
			// A timeout leaves the socket usable, but a late answer would
			// be read as the next one's: start on a fresh socket.
			local.lost++
			conn.Close()
			if conn, err = c.Dial(o.server); err != nil {
				local.failed++
				return
			}
		default:
			local.ok++
			local.rcodes[r.Rcode]++
			if len(local.lat) < 1_000_000 {
				local.lat = append(local.lat, time.Since(start))
			}
		}
	}
}

// realLoad asks the real name until ctx ends.
func realLoad(ctx context.Context, o options) result {
	out := result{rcodes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	qname := dns.Fqdn(o.realName)
	start := time.Now()
	for range o.realC {
		wg.Go(func() { worker(ctx, o, o.realType, func() string { return qname }, &out, &mu) })
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// flood asks every made-up name repeat times, then returns.
func flood(ctx context.Context, o options) result {
	out := result{rcodes: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var n atomic.Int64
	total := int64(o.names * o.repeat)
	next := func() string {
		i := n.Add(1) - 1
		if i >= total {
			return ""
		}
		return name(o, int(i)/o.repeat)
	}
	start := time.Now()
	for range o.floodC {
		wg.Go(func() { worker(ctx, o, dns.TypeA, next, &out, &mu) })
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}
