package e2e

import (
	binenc "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/chaos/netfault"
	"consulate/internal/testutil"
)

// The gateway topology of issue 15: dc1 is the hub, dc2 and dc3 are spokes
// whose gateways reach only the hub's gateways.
const (
	gwPort      = 8443
	gwProbeEach = "300ms"
)

// gwDC is one datacenter of the gateway topology.
type gwDC struct {
	name     string
	servers  []*agentProc
	gateways []*agentProc
	clients  []*agentProc
}

// gatewayIPs lists the datacenter's gateways' addresses.
func (d *gwDC) gatewayIPs() []string { return ips(d.gateways) }

// gatewayAddrs are the gateways' "ip:port" addresses.
func (d *gwDC) gatewayAddrs() []string {
	var out []string
	for _, ip := range d.gatewayIPs() {
		out = append(out, fmt.Sprintf("%s:%d", ip, gwPort))
	}
	return out
}

func ips(as []*agentProc) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ip)
	}
	return out
}

// gwSpec is the plan of one datacenter before its agents start.
type gwSpec struct {
	name       string
	serverIPs  []string
	gatewayIPs []string
	clientIPs  []string
}

func (s gwSpec) gatewayAddrs() []string {
	var out []string
	for _, ip := range s.gatewayIPs {
		out = append(out, fmt.Sprintf("%s:%d", ip, gwPort))
	}
	return out
}

// cutGatewayTopology installs the cuts of the test topology with
// nftables: every non-gateway address of a datacenter is cut from every
// address of every other datacenter, and the spokes' gateways are cut from
// each other, so that the only traffic across datacenters left is between
// a spoke's gateways and the hub's.
func cutGatewayTopology(t *testing.T, hub gwSpec, spokes ...gwSpec) *netfault.Net {
	t.Helper()
	nf, err := netfault.New("gateway")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nf.Close() })
	all := append([]gwSpec{hub}, spokes...)
	for i, d := range all {
		var others []string
		for j, o := range all {
			if j != i {
				others = append(others, o.serverIPs...)
				others = append(others, o.clientIPs...)
				others = append(others, o.gatewayIPs...)
			}
		}
		if err := nf.Partition(append(append([]string{}, d.serverIPs...), d.clientIPs...), others); err != nil {
			t.Fatal(err)
		}
	}
	for i := range spokes {
		for j := i + 1; j < len(spokes); j++ {
			if err := nf.Partition(spokes[i].gatewayIPs, spokes[j].gatewayIPs); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("nftables table %s: %d one-way cuts", nf.Table(), nf.Cuts())
	return nf
}

// dialFrom dials addr from the local address src and says whether the
// dial timed out (the cut drops the SYN), as opposed to being refused or
// answered.
func dialFrom(src, addr string, within time.Duration) (timedOut bool, err error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: within}
	conn, err := d.Dial("tcp", addr)
	if err == nil {
		conn.Close()
		return false, errors.New("connected")
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout(), err
}

// The gateway wire protocol (issue 15, gateway/wire.go), written here from
// the contract so that the test checks the wire, not the package's own
// encoder.

type gwHeader struct {
	Kind string
	DC   string `json:",omitempty"`
	Addr string `json:",omitempty"`
	Next string `json:",omitempty"`
	Hops int
}

type gwRoute struct {
	DC       string
	Via      string
	Gateways []string
	RTT      time.Duration
}

type gwInfoServer struct {
	Name       string
	Addr       string
	GossipAddr string
}

type gwInfo struct {
	DC       string
	Gateways []string
	Servers  []gwInfoServer
	Routes   []gwRoute
}

type gwStatus struct {
	OK    bool
	Error string
	Info  *gwInfo
}

// askGatewayInfo sends a Kind "info" request to the gateway at addr and
// returns its answer about its own datacenter, routes included.
func askGatewayInfo(addr string, within time.Duration) (*gwInfo, error) {
	conn, err := net.DialTimeout("tcp", addr, within)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(within))
	hdr, err := json.Marshal(gwHeader{Kind: "info"})
	if err != nil {
		return nil, err
	}
	msg := make([]byte, 0, 6+len(hdr))
	msg = append(msg, "CGW1"...)
	msg = binenc.BigEndian.AppendUint16(msg, uint16(len(hdr)))
	msg = append(msg, hdr...)
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	var lb [2]byte
	if _, err := io.ReadFull(conn, lb[:]); err != nil {
		return nil, fmt.Errorf("status length: %w", err)
	}
	body := make([]byte, binenc.BigEndian.Uint16(lb[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var st gwStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("status %q: %w", body, err)
	}
	if !st.OK {
		return nil, fmt.Errorf("gateway %s: %s", addr, st.Error)
	}
	if st.Info == nil {
		return nil, fmt.Errorf("gateway %s: OK status without Info: %s", addr, body)
	}
	return st.Info, nil
}

// routeTo returns the gateway's route for dc.
func (i *gwInfo) routeTo(dc string) (gwRoute, bool) {
	for _, r := range i.Routes {
		if r.DC == dc {
			return r, true
		}
	}
	return gwRoute{}, false
}

// apiClient is a client of the agent at addr whose requests are bounded.
func apiClient(t *testing.T, addr string, timeout time.Duration) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.HttpClient = &http.Client{Timeout: timeout}
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// crossRead is one kind of cross-datacenter read made in a loop while
// gateways die.
type crossRead struct {
	name string
	do   func() error
}

// readRun is what one crossRead saw during a run.
type readRun struct {
	name      string
	requests  int
	failures  int
	maxGap    time.Duration // longest time without a successful answer
	lastFail  time.Duration // when the last failure began, since the run started
	firstErr  string
	allFailed bool
}

func (r readRun) String() string {
	s := fmt.Sprintf("%-16s %3d requests, %2d failed, longest gap without an answer %v",
		r.name, r.requests, r.failures, r.maxGap.Round(time.Millisecond))
	if r.failures > 0 {
		s += fmt.Sprintf(", last failure began at +%v (%s)", r.lastFail.Round(time.Millisecond), r.firstErr)
	}
	return s
}

// runReads runs every read in its own loop for the given length, calling
// event (if not nil) once the loops have run for eventAt, and returns what
// each loop saw. The gap of a read counts from the end of its last success
// (or the start) to the end of its next success (or the end of the run).
func runReads(reads []crossRead, length, eventAt time.Duration, event func()) []readRun {
	start := time.Now()
	end := start.Add(length)
	out := make([]readRun, len(reads))
	var wg sync.WaitGroup
	for i, rd := range reads {
		wg.Go(func() {
			run := readRun{name: rd.name}
			lastOK := start
			for n := 0; n < 5000 && time.Now().Before(end); n++ {
				began := time.Now()
				err := rd.do()
				run.requests++
				if err != nil {
					run.failures++
					run.lastFail = began.Sub(start)
					if run.firstErr == "" {
						run.firstErr = err.Error()
					}
				} else {
					run.maxGap = max(run.maxGap, time.Since(lastOK))
					lastOK = time.Now()
				}
				time.Sleep(50 * time.Millisecond)
			}
			run.maxGap = max(run.maxGap, time.Since(lastOK))
			run.allFailed = run.failures == run.requests
			out[i] = run
		})
	}
	if event != nil {
		<-time.After(min(eventAt, length))
		event()
	}
	wg.Wait()
	return out
}

// wanAlive returns the names of the alive WAN members the agent at addr
// lists.
func wanAlive(c *api.Client) ([]string, error) {
	ms, err := c.Agent().Members(true)
	if err != nil {
		return nil, err
	}
	var alive []string
	for _, m := range ms {
		if m.Status == 1 {
			alive = append(alive, m.Name)
		}
	}
	sort.Strings(alive)
	return alive, nil
}

// waitWANAlive waits until every server lists exactly want as its alive
// WAN members.
func waitWANAlive(t *testing.T, within time.Duration, servers []*agentProc, want []string) {
	t.Helper()
	sort.Strings(want)
	testutil.WaitForErr(t, within, "every server lists every server as an alive WAN member", func() error {
		for _, s := range servers {
			got, err := wanAlive(apiClient(t, s.httpAddr(), 5*time.Second))
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				return fmt.Errorf("%s: alive WAN members %v, want %v", s.name, got, want)
			}
		}
		return nil
	})
}
