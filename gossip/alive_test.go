package gossip

import (
	"sync/atomic"
	"testing"
	"time"

	"consulate/gossip/gossiptest"
	"consulate/structs"
)

// An alive message repeating what a member already is skips the merge
// checks (they walk every member, for every alive message memberlist
// handles); one that changes the member's tags is checked again.
func TestRepeatedAliveSkipsMergeCheck(t *testing.T) {
	var checks atomic.Int64
	ca := testConfig("a", "127.100.250.1")
	ca.MergeCheck = func([]structs.Member) error { checks.Add(1); return nil }
	a := newTestPool(t, ca)
	b := newTestPool(t, testConfig("b", "127.100.250.2"))
	if _, err := b.Join([]string{addrOf(a)}, true); err != nil {
		t.Fatal(err)
	}
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		for _, m := range a.Members() {
			if m.Name == "b" && m.Status == structs.StatusAlive {
				return true, ""
			}
		}
		return false, "a does not see b alive"
	})
	d := &aliveDelegate{a}
	node := *b.Memberlist().LocalNode()
	before := checks.Load()
	for range 3 {
		if err := d.NotifyAlive(&node); err != nil {
			t.Fatal(err)
		}
	}
	if got := checks.Load() - before; got != 0 {
		t.Fatalf("repeated alive ran the merge check %d times, want 0", got)
	}
	meta, err := encodeTags(map[string]string{"role": "other", structs.TagID: "id-b"})
	if err != nil {
		t.Fatal(err)
	}
	node.Meta = meta
	if err := d.NotifyAlive(&node); err != nil {
		t.Fatal(err)
	}
	if got := checks.Load() - before; got != 1 {
		t.Fatalf("alive with new tags ran the merge check %d times, want 1", got)
	}
}
