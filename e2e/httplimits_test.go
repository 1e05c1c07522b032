package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHTTPConnLimitDefault: with Consul's default
// http_max_conns_per_client (200), the 201st open HTTP connection from
// one address is answered 429 and closed; once one of the 200 closes, a
// new connection is served.
func TestHTTPConnLimitDefault(t *testing.T) {
	const src = "127.0.0.182" // no agent runs there
	a := startAgent(t, "hl-server", "127.0.0.181", "-server", "-bootstrap")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(15 * time.Second)

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	status := func(c net.Conn) (int, error) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /v1/status/leader HTTP/1.1\r\nHost: %s\r\n\r\n", a.httpAddr()); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for i := 0; i < 200; i++ {
		c, err := d.Dial("tcp", a.httpAddr())
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		held = append(held, c)
	}
	// Every one of the 200 is served (the server has accepted them all
	// by the time each answers).
	for i, c := range held {
		if code, err := status(c); err != nil || code != http.StatusOK {
			t.Fatalf("connection %d: %d %v", i+1, code, err)
		}
	}
	over, err := d.Dial("tcp", a.httpAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	_ = over.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(over), nil)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("connection 201: %v %v, want 429", resp, err)
	}
	held[0].Close()
	held = held[1:]
	var code int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := d.Dial("tcp", a.httpAddr())
		if err != nil {
			t.Fatal(err)
		}
		code, err = status(c)
		c.Close()
		if err == nil && code == http.StatusOK {
			return
		}
	}
	t.Fatalf("after closing one connection a new one got %d", code)
}

// TestClientRPCRate: limits.rpc_rate on a client agent bounds the RPCs it
// sends; reads over the rate are answered 429, and the number served in a
// fixed time is burst + rate × time within 10 %.
func TestClientRPCRate(t *testing.T) {
	const rate, burst = 20, 20
	file := filepath.Join(t.TempDir(), "rate.hcl")
	if err := os.WriteFile(file, []byte(fmt.Sprintf("limits {\n  rpc_rate = %d\n  rpc_max_burst = %d\n}\n", rate, burst)), 0o644); err != nil {
		t.Fatal(err)
	}
	server := startAgent(t, "rate-server", "127.0.0.183", "-server", "-bootstrap")
	server.waitHTTP(15 * time.Second)
	server.waitLeader(15 * time.Second)
	client := startAgent(t, "rate-client", "127.0.0.184", "-join", "127.0.0.183", "-config-file", file)
	client.waitHTTP(15 * time.Second)
	// Let anti-entropy's first syncs spend their tokens and the bucket
	// fill up again.
	time.Sleep(2 * time.Second)

	hc := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + client.httpAddr() + "/v1/catalog/nodes"
	const window = 2 * time.Second
	served, limited := 0, 0
	for start := time.Now(); time.Since(start) < window; {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			served++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
		time.Sleep(2 * time.Millisecond)
	}
	want := float64(burst) + rate*window.Seconds()
	if f := float64(served); f < want*0.9 || f > want*1.1 {
		t.Fatalf("served %d reads in %v, want %.0f ± 10%% (%d answered 429)", served, window, want, limited)
	}
	if limited == 0 {
		t.Fatal("no read was refused")
	}
}
