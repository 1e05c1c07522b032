package checks

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

type result struct{ status, output string }

// recorder is a Notifier that keeps every update.
type recorder struct {
	mu      sync.Mutex
	updates []result
}

func (r *recorder) UpdateCheck(id, status, output string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, result{status, output})
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

func (r *recorder) last() (result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		return result{}, false
	}
	return r.updates[len(r.updates)-1], true
}

// waitStatus waits until the latest update has the status.
func (r *recorder) waitStatus(t *testing.T, status string) result {
	t.Helper()
	var res result
	testutil.WaitForErr(t, 5*time.Second, "status "+status, func() error {
		var ok bool
		if res, ok = r.last(); ok && res.status == status {
			return nil
		}
		return fmt.Errorf("last update %+v", res)
	})
	return res
}

func start(t *testing.T, ct *structs.CheckType, opts Options) *recorder {
	t.Helper()
	rec := &recorder{}
	r, err := NewRunner("c1", ct, rec, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.Stop)
	return rec
}

func TestHTTPStatuses(t *testing.T) {
	var mu sync.Mutex
	code := 200
	var gotMethod, gotBody, gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		c := code
		gotMethod = r.Method
		gotHeader = r.Header.Get("X-Test")
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		gotBody = string(b[:n])
		mu.Unlock()
		w.WriteHeader(c)
		w.Write([]byte(strings.Repeat("x", 10000)))
	}))
	defer srv.Close()

	rec := start(t, &structs.CheckType{HTTP: srv.URL + "/h", Method: "POST", Body: "ping",
		Header: map[string][]string{"X-Test": {"yes"}}, Interval: 20 * time.Millisecond}, Options{})
	res := rec.waitStatus(t, structs.HealthPassing)
	want := "HTTP POST " + srv.URL + "/h: 200 OK Output: "
	if !strings.HasPrefix(res.output, want) {
		t.Fatalf("output %q, want prefix %q", res.output[:80], want)
	}
	if len(res.output) != len(want)+DefaultOutputMaxSize {
		t.Fatalf("body not bounded to 4 KiB: %d", len(res.output)-len(want))
	}
	mu.Lock()
	if gotMethod != "POST" || gotBody != "ping" || gotHeader != "yes" {
		t.Fatalf("request: %s %q %q", gotMethod, gotBody, gotHeader)
	}
	code = 429
	mu.Unlock()
	rec.waitStatus(t, structs.HealthWarning)
	mu.Lock()
	code = 503
	mu.Unlock()
	rec.waitStatus(t, structs.HealthCritical)
	srv.Close()
	res = rec.waitStatus(t, structs.HealthCritical)
	if res.output == "" {
		t.Fatal("no error output")
	}
}

func TestHTTPFirstRunStaggeredWithinInterval(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	// The first run comes at a random stagger within the interval, not a
	// full interval later.
	rec2 := start(t, &structs.CheckType{HTTP: srv.URL, Interval: 200 * time.Millisecond}, Options{})
	begin := time.Now()
	rec2.waitStatus(t, structs.HealthPassing)
	if d := time.Since(begin); d > 400*time.Millisecond {
		t.Fatalf("first run after %v", d)
	}
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	rec := start(t, &structs.CheckType{TCP: addr, Interval: 20 * time.Millisecond}, Options{})
	res := rec.waitStatus(t, structs.HealthPassing)
	if res.output != "TCP connect "+addr+": Success" {
		t.Fatalf("output %q", res.output)
	}
	ln.Close()
	res = rec.waitStatus(t, structs.HealthCritical)
	if !strings.Contains(res.output, "refused") {
		t.Logf("critical output: %q", res.output)
	}
}

func TestScriptRefusedUnlessEnabled(t *testing.T) {
	_, err := NewRunner("s", &structs.CheckType{Args: []string{"true"}, Interval: time.Second}, &recorder{}, nil, Options{})
	if !errors.Is(err, ErrScriptChecksDisabled) {
		t.Fatalf("err = %v", err)
	}
}

func TestScriptExitCodes(t *testing.T) {
	opts := Options{EnableScriptChecks: true}
	for _, tc := range []struct {
		name, script, status, output string
	}{
		{"exit 0 passes", "echo ok", structs.HealthPassing, "ok\n"},
		{"exit 1 warns", "echo warn >&2; exit 1", structs.HealthWarning, "warn\n"},
		{"exit 2 is critical", "echo bad; exit 2", structs.HealthCritical, "bad\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := start(t, &structs.CheckType{Script: tc.script, Interval: 20 * time.Millisecond}, opts)
			res := rec.waitStatus(t, tc.status)
			if res.output != tc.output {
				t.Fatalf("%q: output %q, want %q", tc.script, res.output, tc.output)
			}
		})
	}
	rec := start(t, &structs.CheckType{Args: []string{"/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' a"}, Interval: 20 * time.Millisecond}, opts)
	res := rec.waitStatus(t, structs.HealthPassing)
	if !strings.HasPrefix(res.output, "Captured 4096 of 10000 bytes") || len(res.output) > 4200 {
		t.Fatalf("unbounded output: %d bytes, %q", len(res.output), res.output[:40])
	}
}

func TestScriptTimeoutKills(t *testing.T) {
	rec := start(t, &structs.CheckType{Args: []string{"/bin/sh", "-c", "sleep 30"},
		Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond}, Options{EnableScriptChecks: true})
	begin := time.Now()
	res := rec.waitStatus(t, structs.HealthCritical)
	if !strings.HasPrefix(res.output, "Timed out (100ms)") {
		t.Fatalf("output %q", res.output)
	}
	if time.Since(begin) > 3*time.Second {
		t.Fatal("script not killed at its timeout")
	}
}

func TestTTL(t *testing.T) {
	rec := &recorder{}
	r, err := NewRunner("t", &structs.CheckType{TTL: 100 * time.Millisecond}, rec, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ttl := r.(*TTLRunner)
	ttl.Start()
	defer ttl.Stop()
	ttl.SetStatus(structs.HealthPassing, "fine")
	if res, _ := rec.last(); res.status != structs.HealthPassing {
		t.Fatalf("got %+v", res)
	}
	ttl.SetStatus(structs.HealthWarning, "meh")
	res := rec.waitStatus(t, structs.HealthCritical)
	if res.output != "TTL expired (last output before timeout follows): meh" {
		t.Fatalf("output %q", res.output)
	}
	out := ttl.SetStatus(structs.HealthPassing, strings.Repeat("y", 5000))
	if len(out) > DefaultOutputMaxSize+100 || !strings.Contains(out, "captured 4096 of 5000") {
		t.Fatalf("not bounded: %d", len(out))
	}
	ttl.Stop()
	n := rec.count()
	time.Sleep(200 * time.Millisecond) // nothing may fire after Stop; waiting past the TTL is the point
	if rec.count() != n {
		t.Fatal("TTL fired after Stop")
	}
}

func TestTTLKeptAliveStaysPassing(t *testing.T) {
	rec := &recorder{}
	ttl := NewTTL("t", 80*time.Millisecond, rec, 0)
	ttl.Start()
	defer ttl.Stop()
	for i := 0; i < 8; i++ {
		ttl.SetStatus(structs.HealthPassing, "ok")
		time.Sleep(20 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, u := range rec.updates {
		if u.status != structs.HealthPassing {
			t.Fatalf("expired while kept alive: %+v", u)
		}
	}
}

func TestInvalidDefinitions(t *testing.T) {
	for name, ct := range map[string]*structs.CheckType{
		"none":        {},
		"no interval": {HTTP: "http://127.0.0.1:1/"},
		"bad url":     {HTTP: "::nope", Interval: time.Second},
		"bad tcp":     {TCP: "nohostport", Interval: time.Second},
	} {
		if _, err := NewRunner("x", ct, &recorder{}, nil, Options{}); !errors.Is(err, ErrInvalidCheck) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestStopIdempotentAndBeforeStart(t *testing.T) {
	r, err := NewRunner("x", &structs.CheckType{TCP: "127.0.0.1:1", Interval: 10 * time.Millisecond}, &recorder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	r.Start() // no-op after Stop
	r.Stop()
}

func TestTimeoutRule(t *testing.T) {
	for _, tc := range []struct{ timeout, interval, want time.Duration }{
		{0, time.Minute, 10 * time.Second},
		{0, 2 * time.Second, 2 * time.Second},
		{time.Second, 5 * time.Second, time.Second},
		{20 * time.Second, 15 * time.Second, 10 * time.Second},
	} {
		if got := httpTCPTimeout(tc.timeout, tc.interval); got != tc.want {
			t.Errorf("%v/%v: %v want %v", tc.timeout, tc.interval, got, tc.want)
		}
	}
}

// TestTimeoutNotCappedByInterval: gRPC, H2PING and UDP take the given
// timeout or 10s, an OS service check the given one or 30s, whatever the
// interval (Consul's rule for these kinds).
func TestTimeoutNotCappedByInterval(t *testing.T) {
	iv := 2 * time.Second
	for _, tc := range []struct {
		timeout, want, osWant time.Duration
	}{
		{0, 10 * time.Second, 30 * time.Second},
		{15 * time.Second, 15 * time.Second, 15 * time.Second},
		{time.Second, time.Second, time.Second},
	} {
		g, err := newGRPCCheck("g", &structs.CheckType{GRPC: "127.0.16.1:1", Timeout: tc.timeout}, iv, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		h, err := newH2PingCheck("h", &structs.CheckType{H2PING: "127.0.16.1:1", Timeout: tc.timeout}, iv, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		u, err := newUDPCheck("u", &structs.CheckType{UDP: "127.0.16.1:1", Timeout: tc.timeout}, iv, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		o, err := newOSServiceCheck("o", &structs.CheckType{OSService: "x", Timeout: tc.timeout}, iv, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		if g.timeout != tc.want || h.timeout != tc.want || u.timeout != tc.want || o.timeout != tc.osWant {
			t.Errorf("timeout %v: grpc %v h2ping %v udp %v os %v; want %v (os %v)", tc.timeout, g.timeout, h.timeout, u.timeout, o.timeout, tc.want, tc.osWant)
		}
	}
}
