package federation

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// netCaller is a Caller and Prober over a fake network that can be cut:
// while cut, calls and pings hang until their ctx ends (as on a network
// that drops packets), and CloseSession fails the calls waiting on an
// address at once.
type netCaller struct {
	mu     sync.Mutex
	cut    bool
	calls  int
	pings  int
	closed map[string]int
	// waiting holds, per address, channels closed by CloseSession.
	waiting map[string][]chan struct{}
}

func newNetCaller() *netCaller {
	return &netCaller{closed: map[string]int{}, waiting: map[string][]chan struct{}{}}
}

func (n *netCaller) setCut(c bool) {
	n.mu.Lock()
	n.cut = c
	n.mu.Unlock()
}

// wait blocks like a call on a dead connection to addr.
func (n *netCaller) wait(ctx context.Context, addr string) error {
	n.mu.Lock()
	if !n.cut {
		n.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	n.waiting[addr] = append(n.waiting[addr], ch)
	n.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-ch:
		return errors.New("session shutdown")
	}
}

func (n *netCaller) Call(ctx context.Context, _ structs.Datacenter, addr structs.ServerAddr, method structs.Method, args, reply any) error {
	n.mu.Lock()
	n.calls++
	n.mu.Unlock()
	if err := n.wait(ctx, string(addr)); err != nil {
		return err
	}
	if p, ok := reply.(*string); ok {
		*p = string(addr)
	}
	return nil
}

// Stream is a call whose answer is one frame.
func (n *netCaller) Stream(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, method structs.Method,
	args any, newFrame func() any, recv func(any) error) error {
	f := newFrame()
	if err := n.Call(ctx, dc, addr, method, args, f); err != nil {
		return err
	}
	return recv(f)
}

func (n *netCaller) Ping(ctx context.Context, _ structs.Datacenter, sa structs.ServerAddr) (time.Duration, error) {
	addr := string(sa)
	n.mu.Lock()
	n.pings++
	n.mu.Unlock()
	return time.Millisecond, n.wait(ctx, addr)
}

func (n *netCaller) CloseSession(sa structs.ServerAddr) int {
	addr := string(sa)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed[addr]++
	for _, ch := range n.waiting[addr] {
		close(ch)
	}
	delete(n.waiting, addr)
	return 1
}

func (n *netCaller) counts() (calls, pings int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.calls, n.pings
}

var _ Prober = (*netCaller)(nil)

func fastRouter(t *testing.T, c Caller) *Router {
	t.Helper()
	cfg := DefaultConfig()
	cfg.AttemptTimeout = 300 * time.Millisecond
	cfg.ProbeInterval = 30 * time.Millisecond
	cfg.DownProbeInterval = 10 * time.Millisecond
	cfg.ProbeTimeout = 60 * time.Millisecond
	r, err := New(cfg, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Once every server of a datacenter failed its last call, calls for it
// fail at once with a "no path" error naming it, without trying a server.
// (Before, failed servers were only tried last, so every call waited out
// AttemptTimeout again.)
func TestKnownUnreachableFailsAtOnce(t *testing.T) {
	nc := newNetCaller()
	r := fastRouter(t, nc) // no Run: failed calls alone teach it
	addDC(r, "dc2", 2, structs.StatusAlive)
	nc.setCut(true)
	for i := 0; i < 2; i++ { // each call finds one server dead
		if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoDCPath) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	calls, _ := nc.counts()
	start := time.Now()
	err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string))
	took := time.Since(start)
	if !errors.Is(err, structs.ErrNoDCPath) || !strings.Contains(err.Error(), `"dc2"`) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err = %v", err)
	}
	if c, _ := nc.counts(); c != calls {
		t.Fatalf("a server was tried although both were known dead")
	}
	if took > 50*time.Millisecond {
		t.Fatalf("known-unreachable call took %v", took)
	}
	// A blocking query fails at once too.
	q := &structs.KeyRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{MinQueryIndex: 3, MaxQueryTime: time.Minute}}
	start = time.Now()
	if err := r.ForwardDC(context.Background(), "dc2", "m", q, new(string)); !errors.Is(err, structs.ErrNoDCPath) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("blocking query: %v after %v", err, time.Since(start))
	}
}

// The prober finds a cut on its own: calls waiting on the dead sessions
// (a blocking query here) fail as soon as it does, later calls fail at
// once, and after the heal the datacenter answers again within a few
// DownProbeIntervals, before any user call pays a timeout.
func TestProbesFindCutAndHeal(t *testing.T) {
	nc := newNetCaller()
	r := fastRouter(t, nc)
	addDC(r, "dc1", 1, structs.StatusAlive) // the local DC is never probed
	addDC(r, "dc2", 3, structs.StatusAlive)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err != nil {
		t.Fatal(err)
	}

	nc.setCut(true)
	cutAt := time.Now()
	q := &structs.KeyRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{MinQueryIndex: 3, MaxQueryTime: time.Minute}}
	blocked := make(chan error, 1)
	go func() { blocked <- r.ForwardDC(context.Background(), "dc2", "m", q, new(string)) }()
	select {
	case err := <-blocked:
		if !errors.Is(err, structs.ErrNoDCPath) {
			t.Fatalf("blocking query: %v", err)
		}
		t.Logf("blocking query failed %v after the cut", time.Since(cutAt))
	case <-time.After(2 * time.Second):
		t.Fatal("a blocking query on a cut datacenter still waits 2s after the cut")
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		start := time.Now()
		err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string))
		if !errors.Is(err, structs.ErrNoDCPath) {
			t.Fatalf("during the cut: %v", err)
		}
		if time.Since(start) < 20*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("calls still wait their timeout 2s into the cut")
		}
	}
	t.Logf("known unreachable %v after the cut", time.Since(cutAt))
	nc.mu.Lock()
	closed := len(nc.closed)
	nc.mu.Unlock()
	if closed != 3 {
		t.Fatalf("sessions closed for %d of 3 servers", closed)
	}
	if h := r.Health(); !h[1].Unreachable {
		t.Fatalf("health does not say unreachable: %+v", h[1])
	}

	time.Sleep(100 * time.Millisecond) // several down-probes fail meanwhile
	calls, _ := nc.counts()
	nc.setCut(false)
	healed := time.Now()
	for {
		if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err == nil {
			break
		}
		if time.Since(healed) > time.Second {
			t.Fatal("dc2 not answering 1s after the heal")
		}
		time.Sleep(2 * time.Millisecond)
	}
	back := time.Since(healed)
	t.Logf("answering %v after the heal", back)
	if back > 200*time.Millisecond {
		t.Fatalf("answering only %v after the heal (down probes every 10ms)", back)
	}
	if c, _ := nc.counts(); c != calls+1 {
		t.Fatalf("user calls paid for finding dc2 back: %d calls", c-calls)
	}
	// Probes never went to the local datacenter.
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if nc.closed["dc1-1:8300"] != 0 {
		t.Fatal("the local datacenter was probed")
	}
}

// A probe that began during the cut and timed out after a later probe
// succeeded does not mark the server down again.
func TestLateFailureDoesNotOutweighNewerSuccess(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	r, _ := New(cfg, &fakeCaller{}, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	r.mu.Lock()
	dc := r.dcs["dc2"]
	r.evidenceLocked("dc2", dc, "dc2-1:8300", now, now.Add(500*time.Millisecond), errors.New("timeout")) // began at +0
	r.evidenceLocked("dc2", dc, "dc2-1:8300", now.Add(200*time.Millisecond), now.Add(210*time.Millisecond), nil)
	r.evidenceLocked("dc2", dc, "dc2-1:8300", now.Add(100*time.Millisecond), now.Add(600*time.Millisecond), errors.New("timeout"))
	r.mu.Unlock()
	now = now.Add(600 * time.Millisecond)
	if _, err := r.candidates("dc2"); err != nil {
		t.Fatalf("server down after a late failure of an older probe: %v", err)
	}
	r.mu.Lock()
	r.evidenceLocked("dc2", dc, "dc2-1:8300", now, now, errors.New("timeout"))
	r.mu.Unlock()
	if _, err := r.candidates("dc2"); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("a newer failure did not count: %v", err)
	}
}

// A call its caller abandoned says nothing about the server.
func TestCallerCancelDoesNotMarkServerDown(t *testing.T) {
	nc := newNetCaller()
	r := fastRouter(t, nc)
	addDC(r, "dc2", 1, structs.StatusAlive)
	nc.setCut(true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.ForwardDC(ctx, "dc2", "m", &structs.EmptyRequest{}, new(string)); err == nil {
		t.Fatal("call on a cut network succeeded")
	}
	nc.setCut(false)
	if err := r.ForwardDC(context.Background(), "dc2", "m", &structs.EmptyRequest{}, new(string)); err != nil {
		t.Fatalf("server marked down by a call its caller abandoned: %v", err)
	}
}

// Gossip may still call a server failed after the heal; a probe that
// answered since wins.
func TestProbeAnswerOutweighsGossipFailed(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	r, _ := New(cfg, &fakeCaller{}, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	r.UpdateServer(Server{Name: "s1.dc2", Datacenter: "dc2", Addr: "dc2-1:8300", Status: structs.StatusFailed})
	if _, err := r.candidates("dc2"); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("gossip-failed server used: %v", err)
	}
	now = now.Add(time.Second)
	r.mu.Lock()
	r.evidenceLocked("dc2", r.dcs["dc2"], "dc2-1:8300", now, now, nil)
	r.mu.Unlock()
	if _, err := r.candidates("dc2"); err != nil {
		t.Fatalf("server that answered a probe after gossip failed it is not used: %v", err)
	}
}

// A probe that timed out across the heal must not close the session a
// newer probe opened; one that failed with nothing newer does.
func TestLateProbeFailureKeepsFreshSession(t *testing.T) {
	now := time.Unix(1000, 0)
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	r, _ := New(cfg, &fakeCaller{}, nil)
	addDC(r, "dc2", 1, structs.StatusAlive)
	pt := probeTarget{dc: "dc2", name: "s1.dc2", addr: "dc2-1:8300"}
	began := now
	now = now.Add(300 * time.Millisecond)
	if !r.probeDone(context.Background(), pt, began, errors.New("timeout")) {
		t.Fatal("a failed probe with no newer answer kept the session")
	}
	r.mu.Lock()
	r.evidenceLocked("dc2", r.dcs["dc2"], pt.addr, now, now, nil) // a newer probe answered
	r.mu.Unlock()
	now = now.Add(200 * time.Millisecond)
	if r.probeDone(context.Background(), pt, began.Add(100*time.Millisecond), errors.New("timeout")) {
		t.Fatal("a probe that began before a newer answer closed the fresh session")
	}
	if _, err := r.candidates("dc2"); err != nil {
		t.Fatalf("server down after the late failure: %v", err)
	}
}
