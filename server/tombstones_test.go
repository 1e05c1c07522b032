package server

import (
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

func TestTombstonesAreReaped(t *testing.T) {
	cfg := testConfig("gc")
	cfg.Bootstrap = true
	cfg.TombstoneTTL = 100 * time.Millisecond
	cfg.TombstoneGranularity = 20 * time.Millisecond
	s := startServer(t, cfg, Deps{})
	waitLeader(t, s)
	for _, k := range []string{"a", "b"} {
		kvApply(t, s, structs.KVSet, structs.DirEntry{Key: k, Value: []byte(k)})
		kvApply(t, s, structs.KVDelete, structs.DirEntry{Key: k})
	}
	if n := s.State().TombstoneCount(); n != 2 {
		t.Fatalf("%d tombstones after two deletes", n)
	}
	testutil.WaitFor(t, 3*time.Second, "tombstones reaped", func() bool { return s.State().TombstoneCount() == 0 })
}
