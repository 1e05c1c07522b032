package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/structs"
)

type fakeCaller struct {
	mu    sync.Mutex
	calls []string
	// dcs holds the datacenter each call was addressed to.
	dcs []structs.Datacenter
	// fail maps an address to the error its calls return.
	fail map[string]error
}

func (f *fakeCaller) Call(ctx context.Context, dc structs.Datacenter, sa structs.ServerAddr, method structs.Method, args, reply any) error {
	addr := string(sa)
	f.mu.Lock()
	f.calls = append(f.calls, addr)
	f.dcs = append(f.dcs, dc)
	err := f.fail[addr]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if p, ok := reply.(*string); ok {
		*p = addr
	}
	return nil
}

// Stream records the stream like a call; an address without a failure
// sends one frame, its address, and ends cleanly.
func (f *fakeCaller) Stream(ctx context.Context, dc structs.Datacenter, sa structs.ServerAddr, method structs.Method,
	args any, newFrame func() any, recv func(any) error) error {
	addr := string(sa)
	f.mu.Lock()
	f.calls = append(f.calls, addr)
	f.dcs = append(f.dcs, dc)
	err := f.fail[addr]
	f.mu.Unlock()
	if err != nil {
		return err
	}
	frame := newFrame()
	if p, ok := frame.(*string); ok {
		*p = addr
	}
	return recv(frame)
}

func newTestRouter(t *testing.T, c Caller, rtts map[string]time.Duration) *Router {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LocalDC = "dc1"
	r, err := New(cfg, c, func(name string) (time.Duration, bool) {
		d, ok := rtts[name]
		return d, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addDC(r *Router, dc string, n int, status structs.MemberStatus) {
	for i := 1; i <= n; i++ {
		r.UpdateServer(Server{Name: fmt.Sprintf("s%d.%s", i, dc), Datacenter: dc,
			Addr: structs.ServerAddr(fmt.Sprintf("%s-%d:8300", dc, i)), Status: status})
	}
}

func TestDatacentersSortedByMedianRTT(t *testing.T) {
	rtts := map[string]time.Duration{
		"s1.dc2": 30 * time.Millisecond, "s2.dc2": 40 * time.Millisecond, "s3.dc2": 500 * time.Millisecond,
		"s1.dc3": 10 * time.Millisecond, "s2.dc3": 12 * time.Millisecond,
	}
	r := newTestRouter(t, &fakeCaller{}, rtts)
	addDC(r, "dc1", 3, structs.StatusAlive)
	addDC(r, "dc2", 3, structs.StatusAlive)
	addDC(r, "dc3", 2, structs.StatusAlive)
	addDC(r, "dc4", 1, structs.StatusAlive) // no coordinate: last
	got := r.Datacenters()
	want := []string{"dc1", "dc3", "dc2", "dc4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestForwardPrefersNearestAndSkipsFailed(t *testing.T) {
	rtts := map[string]time.Duration{"s1.dc2": 50 * time.Millisecond, "s2.dc2": 5 * time.Millisecond, "s3.dc2": 1 * time.Millisecond}
	fc := &fakeCaller{}
	r := newTestRouter(t, fc, rtts)
	addDC(r, "dc2", 3, structs.StatusAlive)
	r.UpdateServer(Server{Name: "s3.dc2", Datacenter: "dc2", Addr: "dc2-3:8300", Status: structs.StatusFailed})
	var got string
	if err := r.ForwardDC(context.Background(), "dc2", "Status.Leader", &structs.EmptyRequest{}, &got); err != nil {
		t.Fatal(err)
	}
	if got != "dc2-2:8300" {
		t.Fatalf("answered by %s, want the nearest alive server dc2-2", got)
	}
}

func TestForwardFallsBackOnTransportError(t *testing.T) {
	rtts := map[string]time.Duration{"s1.dc2": 1 * time.Millisecond, "s2.dc2": 2 * time.Millisecond}
	fc := &fakeCaller{fail: map[string]error{"dc2-1:8300": errors.New("connection refused")}}
	r := newTestRouter(t, fc, rtts)
	addDC(r, "dc2", 2, structs.StatusAlive)
	var got string
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, &got); err != nil {
		t.Fatal(err)
	}
	if got != "dc2-2:8300" {
		t.Fatalf("got %s", got)
	}
	// The failed server is now quarantined: the next call goes to s2 first.
	fc.calls = nil
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, &got); err != nil {
		t.Fatal(err)
	}
	if len(fc.calls) != 1 || fc.calls[0] != "dc2-2:8300" {
		t.Fatalf("calls %v: quarantined server tried first", fc.calls)
	}
}

func TestForwardDoesNotRetryAnswers(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{
		"dc2-1:8300": structs.ToRemoteError(&structs.BadRequestError{Reason: "bad"}),
		"dc2-2:8300": structs.ToRemoteError(&structs.BadRequestError{Reason: "bad"}),
	}}
	r := newTestRouter(t, fc, nil)
	addDC(r, "dc2", 2, structs.StatusAlive)
	err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string))
	var bad *structs.BadRequestError
	if !errors.As(err, &bad) || len(fc.calls) != 1 {
		t.Fatalf("err %v after %d calls; want the answer after one call", err, len(fc.calls))
	}
}

func TestUnknownAndUnreachableDatacenters(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{"dc2-1:8300": errors.New("i/o timeout")}}
	r := newTestRouter(t, fc, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	addDC(r, "dc3", 2, structs.StatusFailed)

	err := r.ForwardDC(context.Background(), "dc9", "m", &structs.EmptyRequest{}, new(string))
	var udc *structs.ErrUnknownDC
	if !errors.As(err, &udc) || udc.DC != "dc9" || !reflect.DeepEqual(udc.Known, []string{"dc1", "dc2", "dc3"}) {
		t.Fatalf("unknown dc: %v (%+v)", err, udc)
	}
	if err := r.ForwardDC(context.Background(), "dc3", "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("all failed: %v", err)
	}
	if len(fc.calls) != 0 {
		t.Fatalf("failed servers were dialled: %v", fc.calls)
	}
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("unreachable: %v", err)
	}
	// All servers left: the datacenter is dropped.
	r.RemoveServer("dc2", "s1.dc2")
	if got := r.Datacenters(); !reflect.DeepEqual(got, []string{"dc1", "dc3"}) {
		t.Fatalf("after leave: %v", got)
	}
}

func TestFlapsCounted(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	r, _ := New(cfg, &fakeCaller{}, nil)
	s := Server{Name: "a.dc2", Datacenter: "dc2", Addr: "a:1", Status: structs.StatusAlive}
	r.UpdateServer(s)
	for i := 0; i < 3; i++ {
		s.Status = structs.StatusFailed
		r.UpdateServer(s)
		s.Status = structs.StatusAlive
		r.UpdateServer(s)
	}
	h := r.Health()
	if h[1].Datacenter != "dc2" || h[1].Flaps != 3 {
		t.Fatalf("flaps: %+v", h)
	}
	now = now.Add(2 * time.Hour)
	if h := r.Health(); h[1].Flaps != 0 {
		t.Fatalf("old flaps kept: %+v", h[1])
	}
}

func TestFailoverOrder(t *testing.T) {
	cases := []struct {
		nearest int
		listed  []string
		want    []string
	}{
		{0, []string{"dc2"}, []string{"dc2"}},
		{1, nil, []string{"dc3"}},
		{2, []string{"dc2", "dc4"}, []string{"dc3", "dc2", "dc4"}},
		{5, []string{"dc1", "dc2"}, []string{"dc3", "dc2", "dc4"}},
		{0, []string{"dc2", "dc2", "dc1"}, []string{"dc2"}},
		// Unknown listed datacenters are skipped, the order kept.
		{0, []string{"dc9", "dc4", "dcx", "dc2"}, []string{"dc4", "dc2"}},
		{1, []string{"dc9"}, []string{"dc3"}},
	}
	for _, c := range cases {
		got := failoverOrder("dc1", []string{"dc1", "dc3", "dc2", "dc4"}, c.nearest, c.listed)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("nearest=%d listed=%v: got %v want %v", c.nearest, c.listed, got, c.want)
		}
	}
}

func TestWritesRetryOnlyWhenUndelivered(t *testing.T) {
	rtts := map[string]time.Duration{"s1.dc2": 1 * time.Millisecond, "s2.dc2": 2 * time.Millisecond}
	fc := &fakeCaller{fail: map[string]error{"dc2-1:8300": errors.New("connection reset by peer")}}
	r := newTestRouter(t, fc, rtts)
	addDC(r, "dc2", 2, structs.StatusAlive)
	write := &structs.KVSRequest{Datacenter: "dc2", Op: structs.KVSet}
	if err := r.ForwardDC(context.Background(), "dc2", "KVS.Apply", write, new(string)); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("a write that may have arrived was retried elsewhere: %v", err)
	}
	if len(fc.calls) != 1 {
		t.Fatalf("calls %v", fc.calls)
	}
	// A dial failure means it never arrived: the next server may take it.
	fc.calls = nil
	fc.fail["dc2-1:8300"] = fmt.Errorf("dial: %w", structs.ErrUnreachable)
	r2 := newTestRouter(t, fc, rtts)
	addDC(r2, "dc2", 2, structs.StatusAlive)
	var got string
	if err := r2.ForwardDC(context.Background(), "dc2", "KVS.Apply", write, &got); err != nil || got != "dc2-2:8300" {
		t.Fatalf("undelivered write not retried: %v %q", err, got)
	}
}

func TestNewValidates(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no LocalDC":                 func(c *Config) { c.LocalDC = "" },
		"zero AttemptTimeout":        func(c *Config) { c.AttemptTimeout = 0 },
		"negative Quarantine":        func(c *Config) { c.Quarantine = -time.Second },
		"zero FlapWindow":            func(c *Config) { c.FlapWindow = 0 },
		"probing without timeout":    func(c *Config) { c.ProbeTimeout = 0 },
		"negative ProbeInterval":     func(c *Config) { c.ProbeInterval = -1 },
		"negative BlockingGrace":     func(c *Config) { c.BlockingGrace = -1 },
		"negative DownProbeInterval": func(c *Config) { c.DownProbeInterval = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			mutate(&cfg)
			if r, err := New(cfg, &fakeCaller{}, nil); !errors.Is(err, ErrInvalidConfig) || r != nil {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := New(DefaultConfig(), nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("nil Caller: got %v, want ErrInvalidConfig", err)
	}
	cfg := DefaultConfig()
	cfg.ProbeInterval, cfg.ProbeTimeout = 0, 0 // probing off
	if _, err := New(cfg, &fakeCaller{}, nil); err != nil {
		t.Fatalf("probing off: %v", err)
	}
}

// A server over its rate limit answered without running the call: even a
// write moves on to the next server, which is not quarantined, and every
// call names the target datacenter (its TLS config depends on it).
func TestForwardMovesOnWhenRateLimited(t *testing.T) {
	rtts := map[string]time.Duration{"s1.dc2": 1 * time.Millisecond, "s2.dc2": 2 * time.Millisecond}
	limited := &structs.RemoteError{Code: structs.CodeRateLimited, Msg: "rate limit exceeded"}
	fc := &fakeCaller{fail: map[string]error{"dc2-1:8300": limited}}
	r := newTestRouter(t, fc, rtts)
	addDC(r, "dc2", 2, structs.StatusAlive)
	var got string
	write := &structs.RegisterRequest{Datacenter: "dc2", Node: "n"}
	if err := r.ForwardDC(context.Background(), "dc2", "m", write, &got); err != nil {
		t.Fatal(err)
	}
	if got != "dc2-2:8300" || len(fc.calls) != 2 {
		t.Fatalf("answered by %s after %v", got, fc.calls)
	}
	for _, dc := range fc.dcs {
		if dc != "dc2" {
			t.Fatalf("calls addressed to %v, want dc2", fc.dcs)
		}
	}
	if !r.usable("dc2", "dc2-1:8300") {
		t.Fatal("a rate-limited server was quarantined")
	}
}

// seqCaller answers each call with the next error of errs (nil once they
// run out), counting the calls.
type seqCaller struct {
	fakeCaller
	errs []error
}

func (s *seqCaller) Call(ctx context.Context, dc structs.Datacenter, sa structs.ServerAddr, method structs.Method, args, reply any) error {
	s.mu.Lock()
	s.calls = append(s.calls, string(sa))
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	s.mu.Unlock()
	return err
}

func TestForwardRetriesReadOnceOnBrokenSession(t *testing.T) {
	eof := fmt.Errorf("rpcmux: call m to dc2-1:8300: %w", io.EOF)
	shut := fmt.Errorf("rpcmux: call m to dc2-1:8300: %w", yamux.ErrSessionShutdown)
	for _, first := range []error{eof, shut} {
		sc := &seqCaller{errs: []error{first}}
		r := newTestRouter(t, sc, nil)
		addDC(r, "dc2", 1, structs.StatusAlive)
		if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err != nil {
			t.Fatalf("first %v: read failed: %v", first, err)
		}
		if want := []string{"dc2-1:8300", "dc2-1:8300"}; !reflect.DeepEqual(sc.calls, want) {
			t.Fatalf("first %v: calls %v, want %v", first, sc.calls, want)
		}
		// The success outweighs the failure: the next call goes out.
		if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err != nil {
			t.Fatalf("first %v: next read failed: %v", first, err)
		}
	}

	// Only once: a second broken session fails the read, and the server
	// is quarantined as before.
	sc := &seqCaller{errs: []error{eof, eof}}
	r := newTestRouter(t, sc, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoDCPath) || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("err = %v, want a no-path error wrapping EOF", err)
	}
	if len(sc.calls) != 2 {
		t.Fatalf("calls %v, want 2", sc.calls)
	}
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoDCPath) || len(sc.calls) != 2 {
		t.Fatalf("err = %v after %d calls, want unreachable at once", err, len(sc.calls))
	}

	// An answer that is an error is not retried.
	sc = &seqCaller{errs: []error{&structs.RemoteError{Msg: "boom"}}}
	r = newTestRouter(t, sc, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err == nil || len(sc.calls) != 1 {
		t.Fatalf("err = %v after %d calls, want the answer after 1", err, len(sc.calls))
	}
}

func TestForwardNeverRetriesWriteOnBrokenSession(t *testing.T) {
	sc := &seqCaller{errs: []error{fmt.Errorf("rpcmux: call m to dc2-1:8300: %w", io.EOF)}}
	r := newTestRouter(t, sc, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	write := &structs.KVSRequest{Datacenter: "dc2", Op: structs.KVSet}
	if err := r.ForwardDC(context.Background(), "dc2", "KVS.Apply", write, new(bool)); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("err = %v, want EOF", err)
	}
	if len(sc.calls) != 1 {
		t.Fatalf("calls %v, want 1 (a write's outcome is unknown)", sc.calls)
	}
}

func TestForwardRetriesOtherServerBeforeSame(t *testing.T) {
	rtts := map[string]time.Duration{"s1.dc2": 1 * time.Millisecond, "s2.dc2": 2 * time.Millisecond}
	sc := &seqCaller{errs: []error{io.EOF, io.EOF}}
	r := newTestRouter(t, sc, rtts)
	addDC(r, "dc2", 2, structs.StatusAlive)
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"dc2-1:8300", "dc2-2:8300", "dc2-2:8300"}; !reflect.DeepEqual(sc.calls, want) {
		t.Fatalf("calls %v, want %v", sc.calls, want)
	}
}
