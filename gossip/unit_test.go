package gossip

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/gossip/gossiptest"
	"consulate/structs"
)

func fakeNode(t *testing.T, name string, state memberlist.NodeStateType) *memberlist.Node {
	t.Helper()
	meta, err := encodeTags(map[string]string{structs.TagID: "id-" + name})
	if err != nil {
		t.Fatal(err)
	}
	return &memberlist.Node{Name: name, Addr: net.ParseIP("127.0.0.99"), Port: 1, Meta: meta, State: state}
}

// The Lamport ordering of intents: a late (older) join intent must not undo
// a later leave, and a leave known before memberlist reports the node sticks.
func TestIntentOrdering(t *testing.T) {
	p := newTestPool(t, testConfig("self", "127.0.0.84"))

	p.handleNodeJoin(fakeNode(t, "x", memberlist.StateAlive))
	if !p.handleNodeJoinIntent(&messageJoinIntent{LTime: 5, Node: "x"}) {
		t.Fatal("fresh join intent not applied")
	}
	if !p.handleNodeLeaveIntent(&messageLeaveIntent{LTime: 10, Node: "x"}) {
		t.Fatal("newer leave intent not applied")
	}
	if st, _ := memberStatus(p, "x"); st != structs.StatusLeaving {
		t.Fatalf("after leave intent x is %s", st)
	}
	// A join intent from before the leave arrives late: ignored.
	if p.handleNodeJoinIntent(&messageJoinIntent{LTime: 7, Node: "x"}) {
		t.Fatal("stale join intent was applied")
	}
	if st, _ := memberStatus(p, "x"); st != structs.StatusLeaving {
		t.Fatalf("stale join changed x to %s", st)
	}
	// memberlist reports it gone: leaving becomes left, not failed.
	p.handleNodeLeave(fakeNode(t, "x", memberlist.StateDead))
	if st, _ := memberStatus(p, "x"); st != structs.StatusLeft {
		t.Fatalf("x is %s, want left", st)
	}
	// Neither a stale nor a newer join intent resurrects a left member.
	p.handleNodeJoinIntent(&messageJoinIntent{LTime: 8, Node: "x"})
	p.handleNodeJoinIntent(&messageJoinIntent{LTime: 12, Node: "x"})
	if st, _ := memberStatus(p, "x"); st != structs.StatusLeft {
		t.Fatalf("join intent resurrected x as %s", st)
	}
	// A duplicate leave intent is not rebroadcast.
	if p.handleNodeLeaveIntent(&messageLeaveIntent{LTime: 10, Node: "x"}) {
		t.Fatal("duplicate leave intent rebroadcast")
	}

	// An intent that arrives before the node is known is applied on join.
	if !p.handleNodeLeaveIntent(&messageLeaveIntent{LTime: 20, Node: "y"}) {
		t.Fatal("intent about unknown node not kept")
	}
	if p.handleNodeJoinIntent(&messageJoinIntent{LTime: 15, Node: "y"}) {
		t.Fatal("older join intent replaced newer leave intent for unknown node")
	}
	p.handleNodeJoin(fakeNode(t, "y", memberlist.StateAlive))
	if st, _ := memberStatus(p, "y"); st != structs.StatusLeaving {
		t.Fatalf("y is %s, want leaving", st)
	}
	// A newer join intent refutes a leave in progress.
	p.handleNodeJoinIntent(&messageJoinIntent{LTime: 21, Node: "y"})
	if st, _ := memberStatus(p, "y"); st != structs.StatusAlive {
		t.Fatalf("y is %s, want alive", st)
	}
	// The clock moved past everything witnessed.
	if p.clock.Time() <= 21 {
		t.Errorf("clock %d did not witness 21", p.clock.Time())
	}
	// Broadcast invalidation follows the same order.
	older := &broadcast{node: "y", ltime: 4}
	newer := &broadcast{node: "y", ltime: 6}
	if older.Invalidates(newer) || !newer.Invalidates(older) {
		t.Error("broadcast invalidation ignores Lamport order")
	}
	if (&broadcast{ltime: 9}).Invalidates(&broadcast{ltime: 1}) {
		t.Error("unnamed broadcasts must not invalidate each other")
	}
}

func TestLocalNodeRefutesLeaveIntent(t *testing.T) {
	p := newTestPool(t, testConfig("self", "127.0.0.85"))
	before := p.clock.Time()
	p.handleNodeLeaveIntent(&messageLeaveIntent{LTime: before + 5, Node: "self"})
	if st := p.LocalMember().Status; st != structs.StatusAlive {
		t.Fatalf("self is %s after a leave intent about it", st)
	}
	if p.clock.Time() <= before+5 {
		t.Fatalf("refutation did not advance the clock")
	}
}

func TestLamportClock(t *testing.T) {
	var c lamportClock
	if c.Time() != 0 || c.Increment() != 1 {
		t.Fatal("clock does not start at 0")
	}
	c.Witness(10)
	if c.Time() != 11 {
		t.Fatalf("after witness 10: %d", c.Time())
	}
	c.Witness(3)
	if c.Time() != 11 {
		t.Fatalf("witnessing the past moved the clock: %d", c.Time())
	}
}

func TestEventQueueBoundedAndCoalescing(t *testing.T) {
	q := newEventQueue(2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	q.push(Event{Type: MemberJoin})
	q.push(Event{Type: User, Coalesce: true, User: &structs.UserEvent{Name: "e", LTime: 1}})
	q.push(Event{Type: User, Coalesce: true, User: &structs.UserEvent{Name: "e", LTime: 3}})
	q.push(Event{Type: MemberLeave}) // dropped: full
	if q.len() != 2 || q.dropped != 1 {
		t.Fatalf("len=%d dropped=%d", q.len(), q.dropped)
	}
	stop := make(chan struct{})
	go q.run(stop)
	if e := <-q.out; e.Type != MemberJoin {
		t.Fatalf("first = %v", e)
	}
	if e := <-q.out; e.Type != User || e.User.LTime != 3 {
		t.Fatalf("coalesced = %+v", e.User)
	}
	close(stop)
	select {
	case _, ok := <-q.out:
		if ok {
			t.Fatal("unexpected event")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("out not closed")
	}
}

func TestEventTypeString(t *testing.T) {
	for typ, want := range map[EventType]string{
		MemberJoin: "member-join", MemberLeave: "member-leave", MemberFailed: "member-failed",
		MemberUpdate: "member-update", MemberReap: "member-reap", User: "user",
	} {
		if typ.String() != want {
			t.Errorf("%d: %s", typ, typ.String())
		}
	}
	if !strings.Contains(EventType(99).String(), "99") {
		t.Error("unknown type string")
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig("n", "127.0.0.1")
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	cases := map[string]func(*Config){
		"no name":       func(c *Config) { c.NodeName = "" },
		"bad bind":      func(c *Config) { c.BindAddr = "nope" },
		"bad advertise": func(c *Config) { c.AdvertiseAddr = "1.2.3" },
		"port":          func(c *Config) { c.BindPort = 70000 },
		"key":           func(c *Config) { c.SecretKey = []byte("short") },
		"reconnect":     func(c *Config) { c.ReconnectInterval = 0 },
		"tombstone":     func(c *Config) { c.TombstoneTimeout = -1 },
		"memberlist":    func(c *Config) { c.Memberlist = nil },
		"buffer":        func(c *Config) { c.EventBuffer = 0 },
		"tags":          func(c *Config) { c.Tags = map[string]string{"k": strings.Repeat("v", 600)} },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			c := testConfig("n", "127.0.0.1")
			mut(c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate = %v", err)
			}
			if _, err := New(c); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
	var nilCfg *Config
	if err := nilCfg.Validate(); err == nil {
		t.Error("nil config accepted")
	}
}

func TestTagsRoundTrip(t *testing.T) {
	in := map[string]string{"role": "consul", "dc": "dc1"}
	meta, err := encodeTags(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeTags(meta)
	if err != nil || out["role"] != "consul" || out["dc"] != "dc1" || len(out) != 2 {
		t.Fatalf("round trip: %v %v", out, err)
	}
	if _, err := decodeTags([]byte("plain")); err == nil {
		t.Error("non-tag metadata accepted")
	}
}

func TestSnapshotRejoin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "serf", "local.snapshot")
	a := newTestPool(t, testConfig("a", "127.0.0.86"))
	cb := testConfig("b", "127.0.0.87")
	cb.SnapshotPath = path
	b, err := New(cb)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.PreviousMembers()) != 0 {
		t.Fatalf("fresh snapshot has members: %v", b.PreviousMembers())
	}
	if _, err := b.Join([]string{addrOf(a)}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.UserEvent("e", nil, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, []*Pool{b}, "a", structs.StatusAlive, 5*time.Second)
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		return b.eventClock.Time() > 1, "event clock did not move"
	})
	eventTime := b.eventClock.Time()
	if err := b.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	cb2 := testConfig("b", "127.0.0.87")
	cb2.SnapshotPath = path
	b2, err := New(cb2)
	if err != nil {
		t.Fatal(err)
	}
	prev := b2.PreviousMembers()
	if len(prev) != 1 || prev[0].Name != "a" || prev[0].Addr != addrOf(a) {
		t.Fatalf("PreviousMembers = %v", prev)
	}
	if b2.eventClock.Time() < eventTime {
		t.Errorf("event clock not restored: %d < %d", b2.eventClock.Time(), eventTime)
	}
	if n, err := b2.Join(b2.PreviousMemberAddrs(), false); err != nil || n != 1 {
		t.Fatalf("rejoin: %d %v", n, err)
	}
	if err := b2.Leave(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := b2.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	// After a graceful leave there is nothing to rejoin.
	cb3 := testConfig("b", "127.0.0.87")
	cb3.SnapshotPath = path
	b3 := newTestPool(t, cb3)
	if len(b3.PreviousMembers()) != 0 {
		t.Fatalf("members to rejoin after leave: %v", b3.PreviousMembers())
	}
}
