package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"consulate/structs"
)

// holdAgent is the fake agent whose KV writes and snapshot restores take
// hold to answer (or fail when their ctx ends first), and which records
// the size of restored archives.
type holdAgent struct {
	*fakeAgent
	hold     time.Duration
	restored chan int
}

func (h *holdAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	switch method {
	case structs.MethodKVSApply:
		select {
		case <-time.After(h.hold):
		case <-ctx.Done():
			return fmt.Errorf("request cancelled while held: %w", ctx.Err())
		}
	case structs.MethodSnapshotRestore:
		h.restored <- len(args.(*structs.SnapshotRequest).Archive)
		return nil
	}
	return h.fakeAgent.RPC(ctx, method, args, reply)
}

// startLimited serves cfg over a real listener on 127.0.0.1 (deadlines
// need a real connection) and returns its address.
func startLimited(t *testing.T, cfg Config, a Agent) string {
	t.Helper()
	srv := mustNew(t, cfg, a)
	if err := srv.Start([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addrs()[0].String()
}

// dial opens a raw connection with an overall deadline for the test.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	return c
}

// drip writes s a piece at a time, every interval, until the server
// closes the connection or s runs out. It returns when it stopped.
func drip(c net.Conn, s string, piece int, interval time.Duration) {
	for i := 0; i < len(s); i += piece {
		if _, err := io.WriteString(c, s[i:min(i+piece, len(s))]); err != nil {
			return
		}
		time.Sleep(interval)
	}
}

// A client sending its headers slowly is cut off after ReadHeaderTimeout.
func TestSlowHeadersCutOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	addr := startLimited(t, cfg, newFakeAgent())
	c := dial(t, addr)
	start := time.Now()
	go drip(c, "GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n"+strings.Repeat("X-Slow: y\r\n", 200)+"\r\n", 4, 50*time.Millisecond)
	_, err := io.ReadAll(c)
	took := time.Since(start)
	// A reset is a close too: the server closed while the client was
	// still dripping, so the kernel answered the next piece with RST.
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed by the server: %v after %s", err, took)
	}
	if took > 3*time.Second {
		t.Fatalf("slow headers cut off only after %s", took)
	}
}

// A client sending its body slowly gets a 408 after BodyReadTimeout and
// is disconnected; without the deadline it would hold the handler for as
// long as it liked.
func TestSlowBodyCutOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BodyReadTimeout = 300 * time.Millisecond
	addr := startLimited(t, cfg, newFakeAgent())
	c := dial(t, addr)
	const n = 4096
	fmt.Fprintf(c, "PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n)
	start := time.Now()
	go drip(c, strings.Repeat("v", n), 1, 50*time.Millisecond)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response to a slow body: %v after %s", err, time.Since(start))
	}
	body, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "not received within 300ms") {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	if took > 3*time.Second {
		t.Fatalf("slow body cut off only after %s", took)
	}
	// The connection is done with.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after the 408: %v", err)
	}
}

// The body deadline ends with the body: a write whose handler takes
// longer than BodyReadTimeout (as a write waiting on Raft may), and a
// blocking query on the same connection, are not cut by it.
func TestBodyDeadlineLiftedAfterBody(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BodyReadTimeout = 200 * time.Millisecond
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	a := &holdAgent{fakeAgent: newFakeAgent(), hold: 800 * time.Millisecond}
	addr := startLimited(t, cfg, a)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("PUT", "http://"+addr+"/v1/kv/held", strings.NewReader("value"))
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || time.Since(start) < a.hold {
		t.Fatalf("held write: %d %q after %s", resp.StatusCode, body, time.Since(start))
	}
	// A blocking query, reusing the connection, waits out its full wait.
	start = time.Now()
	resp, err = client.Get("http://" + addr + "/v1/kv/held?index=1000&wait=1s")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != 200 || took < 900*time.Millisecond {
		t.Fatalf("blocking query: %d after %s", resp.StatusCode, took)
	}
}

// PUT /v1/snapshot has its own size cap (413, also without a
// Content-Length) and its own, longer, time to upload.
func TestSnapshotUploadLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSnapshotBytes = 64 << 10
	cfg.BodyReadTimeout = 200 * time.Millisecond
	cfg.SnapshotReadTimeout = 5 * time.Second
	a := &holdAgent{fakeAgent: newFakeAgent(), restored: make(chan int, 4)}
	addr := startLimited(t, cfg, a)

	put := func(body io.Reader, length int64) (int, string) {
		req, _ := http.NewRequest("PUT", "http://"+addr+"/v1/snapshot", body)
		req.ContentLength = length
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	big := strings.Repeat("a", 64<<10+1)
	if code, msg := put(strings.NewReader(big), int64(len(big))); code != 413 || msg != "Snapshot archive too large, max size: 65536 bytes" {
		t.Fatalf("oversized archive: %d %q", code, msg)
	}
	if code, _ := put(io.MultiReader(strings.NewReader(big)), -1); code != 413 {
		t.Fatalf("oversized chunked archive: %d", code)
	}
	select {
	case n := <-a.restored:
		t.Fatalf("an oversized archive (%d bytes) reached the RPC", n)
	default:
	}
	// An upload taking longer than BodyReadTimeout (but well within the
	// snapshot's) goes through.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 8; i++ {
			pw.Write([]byte(strings.Repeat("s", 1024)))
			time.Sleep(75 * time.Millisecond)
		}
		pw.Close()
	}()
	if code, msg := put(pr, -1); code != 200 {
		t.Fatalf("slow but steady archive upload: %d %q", code, msg)
	}
	if n := <-a.restored; n != 8*1024 {
		t.Fatalf("restored %d bytes", n)
	}
}
