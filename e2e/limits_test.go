package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// TestBlockingQueriesDoNotDelayWrites: 500 blocking KV queries
// (?index=…&wait=5m) parked through one client agent must not delay KV
// writes through the same client: p99 of sequential PUTs stays ≤ 50 ms.
// (The client's RPC pool used to allow 64 concurrent calls per server and
// make the rest, writes included, wait for a free stream.)
//
// Run: go test ./e2e -run TestBlockingQueriesDoNotDelayWrites -v
func TestBlockingQueriesDoNotDelayWrites(t *testing.T) {
	const (
		blockers = 500
		puts     = 200
		maxP99   = 50 * time.Millisecond
	)
	server := startAgent(t, "limits-server", "127.0.0.11", "-server", "-bootstrap")
	server.waitHTTP(15 * time.Second)
	server.waitLeader(15 * time.Second)
	// 500 parked queries from one address are more than Consul's default
	// http_max_conns_per_client (200) allows; lift it as an operator would.
	file := filepath.Join(t.TempDir(), "conns.hcl")
	if err := os.WriteFile(file, []byte("limits {\n  http_max_conns_per_client = 1000\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	client := startAgent(t, "limits-client", "127.0.0.14", "-join", "127.0.0.11", "-config-file", file)
	client.waitHTTP(15 * time.Second)
	client.waitLeader(15 * time.Second)
	// A write stuck behind the blocking queries fails after 10 s instead
	// of waiting out their 5 minutes.
	ac, err := api.NewClient(&api.Config{Address: client.httpAddr(), HttpClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	kv := ac.KV()

	// Baseline: PUT latency through the client with nothing parked, after
	// a few unmeasured PUTs that open the client's session.
	timePuts(t, kv, "limits/warm", 10)
	base := timePuts(t, kv, "limits/base", puts)

	if _, err := kv.Put(&api.KVPair{Key: "limits/watched", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	pair, meta, err := kv.Get("limits/watched", nil)
	if err != nil || pair == nil {
		t.Fatalf("get watched key: %v %v", pair, err)
	}
	index := meta.LastIndex

	// 500 blocking queries, each on its own HTTP connection.
	tr := &http.Transport{MaxIdleConnsPerHost: blockers + 10, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s/v1/kv/limits/watched?index=%d&wait=5m", client.httpAddr(), index)
	var (
		wrote, returned atomic.Int64
		wg              sync.WaitGroup
		resultsMu       sync.Mutex
		results         []string
	)
	for range blockers {
		wg.Go(func() {
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Add(1) }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET", url, nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := hc.Do(req)
			returned.Add(1)
			res := ""
			if err != nil {
				res = "error: " + err.Error()
			} else {
				var pairs []struct{ Value []byte }
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if json.Unmarshal(body, &pairs) != nil || len(pairs) != 1 {
					res = fmt.Sprintf("status %d body %q", resp.StatusCode, body)
				} else {
					res = resp.Status + " " + string(pairs[0].Value) + " index " + resp.Header.Get("X-Consul-Index")
				}
			}
			resultsMu.Lock()
			results = append(results, res)
			resultsMu.Unlock()
		})
	}
	testutil.WaitForErr(t, 20*time.Second, "500 blocking queries sent", func() error {
		if n := wrote.Load(); n < blockers {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})
	// Give the agent a moment to hand them all to the server; a write
	// that still waits behind them shows up as a slow PUT below either way.
	testutil.WaitForErr(t, 5*time.Second, "blocking queries parked", func() error {
		time.Sleep(500 * time.Millisecond)
		if n := returned.Load(); n != 0 {
			return fmt.Errorf("%d blocking queries returned early", n)
		}
		return nil
	})

	t.Logf("KV PUT through the client, %d sequential: baseline p50 %v p99 %v max %v", puts, putPercentile(base, 50), putPercentile(base, 99), base[len(base)-1])
	// A write queued behind the blocking queries fails every round (it
	// waits out the client's 10 s timeout); a host busy with other work
	// can spoil one round's tail, so up to three rounds are measured and
	// the best counts.
	best := time.Duration(1<<63 - 1)
	for round := 1; round <= 3 && best > maxP99; round++ {
		loaded := timePuts(t, kv, fmt.Sprintf("limits/put%d", round), puts)
		p99 := putPercentile(loaded, 99)
		t.Logf("round %d: KV PUT through the client beside %d parked blocking queries, %d sequential: p50 %v p99 %v max %v",
			round, blockers, puts, putPercentile(loaded, 50), p99, loaded[len(loaded)-1])
		best = min(best, p99)
	}
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d blocking queries returned before their key changed", n)
	}
	if best > maxP99 {
		t.Errorf("PUT p99 %v (best of 3 rounds) beside %d blocking queries, want ≤ %v", best, blockers, maxP99)
	}

	// The queries were really parked on the server: a change wakes every
	// one of them with the new value.
	if _, err := kv.Put(&api.KVPair{Key: "limits/watched", Value: []byte("v2")}, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d blocking queries returned within 20s of the change", returned.Load(), blockers)
	}
	bad := 0
	for _, r := range results {
		if len(r) < 9 || r[:9] != "200 OK v2" {
			if bad < 5 {
				t.Errorf("blocking query ended with %s", r)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d blocking queries did not see the change", bad, blockers)
	}
}

// timePuts runs n sequential PUTs and returns their latencies, sorted.
func timePuts(t *testing.T, kv *api.KV, prefix string, n int) []time.Duration {
	t.Helper()
	took := make([]time.Duration, 0, n)
	deadline := time.Now().Add(30 * time.Second)
	for i := range n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d PUTs within 30s", i, n)
		}
		t0 := time.Now()
		if _, err := kv.Put(&api.KVPair{Key: prefix + "/" + strconv.Itoa(i), Value: []byte("x")}, nil); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		took = append(took, time.Since(t0))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return took
}

// putPercentile is the p-th percentile of sorted latencies (nearest rank).
func putPercentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

// TestRPCLimitsFromConfig: limits { rpc_max_conns_per_client,
// rpc_handshake_timeout } in an HCL file bound the server port of a real
// server: the connection over the cap from one IP is closed at once, and
// connections that never finish their preamble are closed at the deadline.
func TestRPCLimitsFromConfig(t *testing.T) {
	const (
		maxConns  = 3
		handshake = 800 * time.Millisecond
		// The source of the test's connections: no agent runs there in
		// this test, so the server sees only these from it.
		src = "127.0.0.14"
	)
	file := filepath.Join(t.TempDir(), "limits.hcl")
	body := fmt.Sprintf("limits {\n  rpc_max_conns_per_client = %d\n  rpc_handshake_timeout = %q\n}\n", maxConns, handshake)
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	server := startAgent(t, "limits-server", "127.0.0.11", "-server", "-bootstrap", "-config-file", file)
	server.waitHTTP(15 * time.Second)
	server.waitLeader(15 * time.Second)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	dial := func() net.Conn {
		t.Helper()
		c, err := d.Dial("tcp", "127.0.0.11:8300")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return c
	}
	// closedAfter reads until c is closed and says how long that took.
	closedAfter := func(c net.Conn, from time.Time) (time.Duration, error) {
		_, err := io.Copy(io.Discard, c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return 0, fmt.Errorf("still open after 10s")
		}
		return time.Since(from), nil
	}

	start := time.Now()
	var held []net.Conn
	for range maxConns {
		c := dial()
		// The multiplex byte and then silence: a stalled preamble.
		if _, err := c.Write([]byte{2}); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The kernel's accept queue is FIFO and the server counts each
	// connection as it accepts it, so this one comes after all three.
	over := dial()
	t0 := time.Now()
	if took, err := closedAfter(over, t0); err != nil || took > handshake/2 {
		t.Fatalf("connection %d from %s: closed after %v (%v), want at once", maxConns+1, src, took, err)
	}
	for i, c := range held {
		took, err := closedAfter(c, start)
		if err != nil || took < handshake-100*time.Millisecond || took > handshake+3*time.Second {
			t.Fatalf("held connection %d closed after %v (%v), want at the %v handshake deadline", i, took, err, handshake)
		}
	}
	// Their slots are free again: a real client session works from src.
	// (The agent at src is started only now, for that.)
	client := startAgent(t, "limits-client", src, "-join", "127.0.0.11")
	client.waitHTTP(15 * time.Second)
	client.waitLeader(15 * time.Second)
	if _, err := client.client().KV().Put(&api.KVPair{Key: "limits/after", Value: []byte("ok")}, nil); err != nil {
		t.Fatalf("put through a client at %s after the slots freed: %v", src, err)
	}
	if !strings.Contains(server.log.String(), "connection limit") {
		t.Errorf("server did not log the refused connection:\n%s", server.log.String())
	}
	// ... and counted it, and the timed-out handshakes, in its metrics.
	m, err := server.client().Agent().Metrics()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float32{}
	for _, g := range m.Gauges {
		got[g.Name] = g.Value
	}
	if got["consul.rpc.conns.rejected"] != 1 || got["consul.rpc.handshake.timeouts"] != maxConns {
		t.Errorf("metrics: conns.rejected %v, handshake.timeouts %v; want 1 and %d",
			got["consul.rpc.conns.rejected"], got["consul.rpc.handshake.timeouts"], maxConns)
	}
}
