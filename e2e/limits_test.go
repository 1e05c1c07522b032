package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
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
	client := startAgent(t, "limits-client", "127.0.0.14", "-join", "127.0.0.11")
	client.waitHTTP(15 * time.Second)
	client.waitLeader(15 * time.Second)
	// A write stuck behind the blocking queries fails after 10 s instead
	// of waiting out their 5 minutes.
	ac, err := api.NewClient(&api.Config{Address: client.httpAddr(), HttpClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	kv := ac.KV()

	// Baseline: PUT latency through the client with nothing parked.
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
	waitFor(t, 20*time.Second, "500 blocking queries sent", func() error {
		if n := wrote.Load(); n < blockers {
			return fmt.Errorf("%d sent", n)
		}
		return nil
	})
	// Give the agent a moment to hand them all to the server; a write
	// that still waits behind them shows up as a slow PUT below either way.
	waitFor(t, 5*time.Second, "blocking queries parked", func() error {
		time.Sleep(500 * time.Millisecond)
		if n := returned.Load(); n != 0 {
			return fmt.Errorf("%d blocking queries returned early", n)
		}
		return nil
	})

	loaded := timePuts(t, kv, "limits/put", puts)
	t.Logf("KV PUT through the client, %d sequential: baseline p50 %v p99 %v max %v", puts, putPercentile(base, 50), putPercentile(base, 99), base[len(base)-1])
	t.Logf("KV PUT through the client beside %d parked blocking queries: p50 %v p99 %v max %v", blockers, putPercentile(loaded, 50), putPercentile(loaded, 99), loaded[len(loaded)-1])
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d blocking queries returned before their key changed", n)
	}
	if p99 := putPercentile(loaded, 99); p99 > maxP99 {
		t.Errorf("PUT p99 %v beside %d blocking queries, want ≤ %v", p99, blockers, maxP99)
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
