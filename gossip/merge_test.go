package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/hashicorp/memberlist"

	"consulate/structs"
)

// mergePool is a Pool with only what the merge checks read: its own name
// and tags, and n alive members m0..m(n-1) with node IDs id-m0...
func mergePool(tb testing.TB, n int) *Pool {
	tb.Helper()
	p := &Pool{
		cfg:     Config{NodeName: "self"},
		logger:  slog.New(slog.DiscardHandler),
		members: map[string]*memberState{},
		tags:    map[string]string{structs.TagID: "id-self"},
	}
	for i := range n {
		name := fmt.Sprintf("m%d", i)
		p.members[name] = &memberState{member: structs.Member{
			Name: name, Status: structs.StatusAlive,
			Tags: map[string]string{structs.TagID: "id-" + name},
		}}
	}
	return p
}

func mergeNode(tb testing.TB, name, id string, state memberlist.NodeStateType) *memberlist.Node {
	tb.Helper()
	meta, err := encodeTags(map[string]string{structs.TagID: id})
	if err != nil {
		tb.Fatal(err)
	}
	return &memberlist.Node{Name: name, Addr: net.ParseIP("127.100.250.9"), Port: 8301, Meta: meta, State: state}
}

// The merge check refuses a peer carrying this agent's node ID or that of a
// live (alive or leaving) member with another name, and nothing else.
func TestCheckMergeMembersConflicts(t *testing.T) {
	p := mergePool(t, 5)
	p.members["m3"].member.Status = structs.StatusFailed
	p.members["m4"].member.Status = structs.StatusLeaving
	cases := []struct {
		name      string
		peers     []*memberlist.Node
		wantOther string // "" with wantErr: conflict with self
		wantErr   bool
	}{
		{"new id", []*memberlist.Node{mergeNode(t, "new", "id-new", memberlist.StateAlive)}, "", false},
		{"same member again", []*memberlist.Node{mergeNode(t, "m1", "id-m1", memberlist.StateAlive)}, "", false},
		{"self id", []*memberlist.Node{mergeNode(t, "new", "id-self", memberlist.StateAlive)}, "", true},
		{"alive member's id", []*memberlist.Node{mergeNode(t, "new", "id-m2", memberlist.StateAlive)}, "m2", true},
		{"failed member's id", []*memberlist.Node{mergeNode(t, "new", "id-m3", memberlist.StateAlive)}, "", false},
		{"leaving member's id", []*memberlist.Node{mergeNode(t, "new", "id-m4", memberlist.StateAlive)}, "m4", true},
		{"dead peer with a taken id", []*memberlist.Node{mergeNode(t, "new", "id-m2", memberlist.StateDead)}, "", false},
		{"second peer conflicts", []*memberlist.Node{
			mergeNode(t, "a", "id-a", memberlist.StateAlive),
			mergeNode(t, "b", "id-m0", memberlist.StateAlive),
		}, "m0", true},
		{"no id", []*memberlist.Node{{Name: "bare", Addr: net.ParseIP("127.100.250.9"), State: memberlist.StateAlive}}, "", false},
	}
	pad := mergeNode(t, "pad", "id-pad", memberlist.StateAlive)
	for _, tc := range cases {
		// Alone (one alive message) and after a harmless peer (a push/pull).
		for _, peers := range [][]*memberlist.Node{tc.peers, append([]*memberlist.Node{pad}, tc.peers...)} {
			checkConflict(t, p, tc.name, peers, tc.wantErr, tc.wantOther)
		}
	}
}

// checkConflict runs the merge check on peers and compares the outcome.
func checkConflict(t *testing.T, p *Pool, name string, peers []*memberlist.Node, wantErr bool, wantOther string) {
	t.Helper()
	err := p.checkMergeMembers(peers)
	var conflict *NodeIDConflictError
	switch {
	case !wantErr && err != nil:
		t.Errorf("%s (%d peers): %v, want no error", name, len(peers), err)
	case wantErr && !errors.As(err, &conflict):
		t.Errorf("%s (%d peers): %v, want a NodeIDConflictError", name, len(peers), err)
	case wantErr && conflict.Other != wantOther:
		t.Errorf("%s (%d peers): conflict with %q, want %q (%v)", name, len(peers), conflict.Other, wantOther, err)
	}
}

// MergeCheck sees every peer, decoded, after the ID checks pass.
func TestCheckMergeMembersCallsMergeCheck(t *testing.T) {
	p := mergePool(t, 2)
	refuse := errors.New("refused")
	var seen []structs.Member
	p.cfg.MergeCheck = func(ms []structs.Member) error { seen = ms; return refuse }
	err := p.checkMergeMembers([]*memberlist.Node{
		mergeNode(t, "x", "id-x", memberlist.StateAlive),
		mergeNode(t, "y", "id-y", memberlist.StateLeft),
	})
	if !errors.Is(err, refuse) {
		t.Fatalf("err = %v, want MergeCheck's", err)
	}
	if len(seen) != 2 || seen[0].Tags[structs.TagID] != "id-x" || seen[1].Status != structs.StatusLeft {
		t.Fatalf("MergeCheck saw %+v", seen)
	}
}

// One alive message about a new peer in a pool of 300 members: memberlist
// asks this for every such message, so a joining pool of N runs it ~N² times.
func BenchmarkCheckMergeMembers300(b *testing.B) {
	p := mergePool(b, 300)
	peer := []*memberlist.Node{mergeNode(b, "new", "id-new", memberlist.StateAlive)}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.checkMergeMembers(peer); err != nil {
			b.Fatal(err)
		}
	}
}

// Decoding a member's tags, as every join, update and merge check does.
func BenchmarkDecodeTags(b *testing.B) {
	meta, err := encodeTags(map[string]string{structs.TagID: "id-x", "role": "node", "dc": "dc1", "vsn": "2"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTags(meta); err != nil {
			b.Fatal(err)
		}
	}
}

// A push/pull's merge check (every member of the other side at once).
func BenchmarkCheckMergeMembersPushPull300(b *testing.B) {
	p := mergePool(b, 300)
	peers := make([]*memberlist.Node, 0, 300)
	for i := range 300 {
		name := fmt.Sprintf("m%d", i)
		peers = append(peers, mergeNode(b, name, "id-"+name, memberlist.StateAlive))
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.checkMergeMembers(peers); err != nil {
			b.Fatal(err)
		}
	}
}
