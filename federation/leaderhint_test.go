package federation

import (
	"context"
	"slices"
	"testing"
	"time"

	"consulate/structs"
)

// hintCaller is a fakeCaller that also gives a leader hint per datacenter.
type hintCaller struct {
	fakeCaller
	hints map[structs.Datacenter]structs.ServerAddr
}

func (h *hintCaller) LeaderHint(dc structs.Datacenter) structs.ServerAddr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hints[dc]
}

func (h *hintCaller) setHint(dc structs.Datacenter, a structs.ServerAddr) {
	h.mu.Lock()
	h.hints[dc] = a
	h.mu.Unlock()
}

func (h *hintCaller) takeCalls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

func TestWantsLeader(t *testing.T) {
	stale := &structs.KeyRequest{QueryOptions: structs.QueryOptions{AllowStale: true}}
	maxStale := &structs.KeyRequest{QueryOptions: structs.QueryOptions{AllowStale: true, MaxStaleDuration: 1}}
	consistent := &structs.KeyRequest{QueryOptions: structs.QueryOptions{RequireConsistent: true}}
	for _, tc := range []struct {
		name string
		args any
		want bool
	}{
		{"write", &structs.KVSRequest{}, true},
		{"default read", &structs.KeyRequest{}, true},
		{"consistent read", consistent, true},
		{"stale read", stale, false},
		{"max_stale read", maxStale, false},
		{"read without options", &structs.AutoEncryptSignRequest{}, false},
	} {
		if got := wantsLeader(tc.args); got != tc.want {
			t.Errorf("%s: wantsLeader = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestLocalServersFollowLeaderHint(t *testing.T) {
	hc := &hintCaller{fakeCaller: fakeCaller{fail: map[string]error{}}, hints: map[structs.Datacenter]structs.ServerAddr{}}
	l := NewLocalServers(hc, "dc1")
	for _, n := range []string{"a", "b", "c"} {
		l.Update(Server{Name: n, Datacenter: "dc1", Addr: structs.ServerAddr(n + ":8300"), Status: structs.StatusAlive})
	}
	preferred := l.Addrs()[0]
	leader := structs.ServerAddr("a:8300")
	if preferred == leader {
		leader = "b:8300"
	}
	ctx := context.Background()
	write := &structs.KVSRequest{Datacenter: "dc1"}
	stale := &structs.KeyRequest{QueryOptions: structs.QueryOptions{AllowStale: true}}
	consistent := &structs.KeyRequest{QueryOptions: structs.QueryOptions{RequireConsistent: true}}

	// No hint yet: the preferred server.
	if err := l.Call(ctx, "m", write, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); !slices.Equal(c, []string{string(preferred)}) {
		t.Fatalf("without a hint the write went to %v, want %s", c, preferred)
	}
	hc.setHint("dc1", leader)
	for _, args := range []any{write, consistent, &structs.KeyRequest{}} {
		if err := l.Call(ctx, "m", args, new(string)); err != nil {
			t.Fatal(err)
		}
		if c := hc.takeCalls(); !slices.Equal(c, []string{string(leader)}) {
			t.Fatalf("%T went to %v, want the hinted leader %s", args, c, leader)
		}
	}
	// Stale reads keep the preferred server, which the leader calls did
	// not move.
	if err := l.Call(ctx, "m", stale, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); !slices.Equal(c, []string{string(preferred)}) {
		t.Fatalf("stale read went to %v, want %s", c, preferred)
	}

	// A hint naming no alive server here: the normal order.
	hc.setHint("dc1", "gone:8300")
	if err := l.Call(ctx, "m", write, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); !slices.Equal(c, []string{string(preferred)}) {
		t.Fatalf("with an unknown hint the write went to %v", c)
	}
	l.Update(Server{Name: string(leader[:1]), Datacenter: "dc1", Addr: leader, Status: structs.StatusFailed})
	hc.setHint("dc1", leader)
	if err := l.Call(ctx, "m", write, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); !slices.Equal(c, []string{string(preferred)}) {
		t.Fatalf("with a failed hinted leader the write went to %v", c)
	}
	l.Update(Server{Name: string(leader[:1]), Datacenter: "dc1", Addr: leader, Status: structs.StatusAlive})

	// A hinted leader that does not answer: the read moves on, and the
	// hint is not tried first again while it names the same server.
	hc.fail[string(leader)] = structs.ErrUnreachable
	if err := l.Call(ctx, "m", consistent, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); len(c) != 2 || c[0] != string(leader) {
		t.Fatalf("calls %v, want the hinted leader then another", c)
	}
	if err := l.Call(ctx, "m", write, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); len(c) != 1 || c[0] == string(leader) {
		t.Fatalf("a silent hinted leader was asked first again: %v", c)
	}
	// A new hint is followed at once.
	delete(hc.fail, string(leader))
	hc.setHint("dc1", "c:8300")
	if err := l.Call(ctx, "m", write, new(string)); err != nil {
		t.Fatal(err)
	}
	if c := hc.takeCalls(); !slices.Equal(c, []string{"c:8300"}) {
		t.Fatalf("write went to %v, want the new hint c:8300", c)
	}
}

func TestRouterFollowsRemoteLeaderHint(t *testing.T) {
	hc := &hintCaller{fakeCaller: fakeCaller{fail: map[string]error{}}, hints: map[structs.Datacenter]structs.ServerAddr{}}
	// dc2-1 is nearest; dc2-3 the farthest.
	r := newTestRouter(t, hc, map[string]time.Duration{"s1.dc2": 1 * time.Millisecond, "s2.dc2": 2 * time.Millisecond, "s3.dc2": 3 * time.Millisecond})
	addDC(r, "dc2", 3, structs.StatusAlive)
	ctx := context.Background()
	write := &structs.KVSRequest{Datacenter: "dc2"}
	stale := &structs.KeyRequest{Datacenter: "dc2", QueryOptions: structs.QueryOptions{AllowStale: true}}

	call := func(args any) []string {
		t.Helper()
		if err := r.ForwardDC(ctx, "dc2", "m", args, new(string)); err != nil {
			t.Fatal(err)
		}
		return hc.takeCalls()
	}
	if c := call(write); !slices.Equal(c, []string{"dc2-1:8300"}) {
		t.Fatalf("without a hint: %v, want the nearest", c)
	}
	hc.setHint("dc2", "dc2-3:8300")
	hc.setHint("dc1", "dc2-2:8300") // another datacenter's hint is not used
	for _, args := range []any{write, &structs.KeyRequest{Datacenter: "dc2"}} {
		if c := call(args); !slices.Equal(c, []string{"dc2-3:8300"}) {
			t.Fatalf("%T went to %v, want dc2's hinted leader", args, c)
		}
	}
	if c := call(stale); !slices.Equal(c, []string{"dc2-1:8300"}) {
		t.Fatalf("stale read went to %v, want the nearest", c)
	}
	// The hinted leader fails: the write moves on (it never arrived) and
	// the leader, now quarantined, is not asked first any more.
	hc.fail["dc2-3:8300"] = structs.ErrUnreachable
	if c := call(write); len(c) != 2 || c[0] != "dc2-3:8300" {
		t.Fatalf("calls %v, want the hinted leader then another", c)
	}
	if c := call(write); !slices.Equal(c, []string{"dc2-1:8300"}) {
		t.Fatalf("after the hinted leader failed: %v, want the nearest", c)
	}
	// A hint naming no known server of dc2: the usual order.
	hc.setHint("dc2", "elsewhere:8300")
	if c := call(write); !slices.Equal(c, []string{"dc2-1:8300"}) {
		t.Fatalf("with an unknown hint: %v", c)
	}
}
