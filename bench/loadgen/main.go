// Command loadgen drives HTTP load at a Consulate (or Consul) agent, or
// serves the bare net/http baseline the figures are compared with. Every
// run is bounded in time and request count, and talks only to the address
// it is given (loopback in bench/run.sh).
//
//	loadgen -mode get  -url http://127.0.0.61:8500/v1/health/service/web?passing -c 32 -d 10s
//	loadgen -mode put  -url http://127.0.0.61:8500/v1/kv/bench -c 16 -d 10s
//	loadgen -mode bare -listen 127.0.0.62:8080
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	mode := fs.String("mode", "get", "get, put or bare")
	url := fs.String("url", "", "target URL (get, put)")
	conc := fs.Int("c", 32, "concurrent clients")
	dur := fs.Duration("d", 10*time.Second, "duration of the run")
	max := fs.Int("n", 5_000_000, "upper bound on requests")
	size := fs.Int("size", 64, "PUT body size in bytes")
	listen := fs.String("listen", "127.0.0.62:8080", "bare server address")
	unique := fs.Bool("unique-keys", true, "PUT: a distinct key per request (url + /N)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *mode {
	case "bare":
		return bare(*listen)
	case "get", "put":
		if *url == "" {
			return fmt.Errorf("-url is required")
		}
		if *dur > 10*time.Minute {
			return fmt.Errorf("-d is capped at 10m")
		}
		return load(*mode, *url, *conc, *dur, *max, *size, *unique)
	}
	return fmt.Errorf("unknown mode %q", *mode)
}

// bare serves a fixed JSON body until interrupted (or 30 minutes pass).
func bare(addr string) error {
	body := []byte(`[{"Node":{"Node":"bench","Address":"127.0.0.1"},"Service":{"Service":"web","Port":8080},"Checks":[]}]`)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Consul-Index", "1")
		w.Write(body)
	})}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Minute):
		}
		srv.Close()
	}()
	fmt.Println("bare server on", ln.Addr())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func load(mode, url string, conc int, dur time.Duration, max, size int, unique bool) error {
	tr := &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	payload := bytes.Repeat([]byte("v"), size)
	var count, errs atomic.Int64
	lat := make([][]time.Duration, conc)
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				n := count.Add(1)
				if n > int64(max) {
					return
				}
				var req *http.Request
				if mode == "put" {
					target := url
					if unique {
						target = fmt.Sprintf("%s/%d-%d", url, w, i)
					}
					req, _ = http.NewRequest(http.MethodPut, target, bytes.NewReader(payload))
				} else {
					req, _ = http.NewRequest(http.MethodGet, url, nil)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p)]
	}
	fmt.Printf("mode=%s c=%d ok=%d errors=%d elapsed=%.1fs rate=%.0f/s p50=%s p99=%s\n",
		mode, conc, len(all), errs.Load(), elapsed.Seconds(), float64(len(all))/elapsed.Seconds(),
		pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond))
	return nil
}
