package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// TestSnapshotCLI: save a snapshot, lose data, restore it, find it back.
func TestSnapshotCLI(t *testing.T) {
	a := startAgent(t, "snap", "127.0.0.47", "-dev")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)
	kv := a.client().KV()
	for _, k := range []string{"backup/a", "backup/b"} {
		if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte(k)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "backup.snap")
	if out, err := cli(t, "snapshot", "save", "-http-addr", a.httpAddr(), file); err != nil || !strings.Contains(out, "Saved and verified") {
		t.Fatalf("save: %v %s", err, out)
	}
	if out, err := cli(t, "snapshot", "inspect", file); err != nil || !strings.Contains(out, "Index") {
		t.Fatalf("inspect: %v %s", err, out)
	}
	if _, err := kv.DeleteTree("backup/", nil); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, "snapshot", "restore", "-http-addr", a.httpAddr(), file); err != nil {
		t.Fatalf("restore: %v %s", err, out)
	}
	pairs, _, err := kv.List("backup/", nil)
	if err != nil || len(pairs) != 2 {
		t.Fatalf("after restore: %v %v", pairs, err)
	}
	if out, err := cli(t, "snapshot", "restore", "-http-addr", a.httpAddr(), "/etc/hostname"); err == nil || !strings.Contains(out, "gzip") {
		t.Fatalf("restoring garbage: %v %s", err, out)
	}
}
