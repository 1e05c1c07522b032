package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"consulate/internal/atomicfile"
)

func TestResolveNodeIDDamagedFileIsAnErrorNamingIt(t *testing.T) {
	for name, content := range map[string]string{
		"empty":      "",
		"whitespace": " \n",
		"garbage":    "\x00\x01not-a-uuid",
		"truncated":  "0a1b2c3d-0000-4000-8000-00000000",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, nodeIDFile)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			id, err := resolveNodeID("", dir)
			if err == nil {
				t.Fatalf("a damaged node-id file gave ID %q and no error", id)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name %s: %v", path, err)
			}
			// The file is left for the operator to inspect.
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Fatalf("file changed to %q", b)
			}
		})
	}
}

func TestResolveNodeIDPersistsAndReloads(t *testing.T) {
	dir := t.TempDir()
	id, err := resolveNodeID("", dir)
	if err != nil || !validUUID(id) {
		t.Fatalf("new ID %q, %v", id, err)
	}
	again, err := resolveNodeID("", dir)
	if err != nil || again != id {
		t.Fatalf("reloaded %q, %v; want %q", again, err, id)
	}
	fi, err := os.Stat(filepath.Join(dir, nodeIDFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node-id file: %v %v", fi, err)
	}
}

// A write that cannot complete leaves nothing half-done in the data dir:
// no temporary file, and the ID is not reported as saved.
func TestResolveNodeIDFailedWriteLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	// node-id is a non-empty directory: the final rename fails.
	if err := os.MkdirAll(filepath.Join(dir, nodeIDFile, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveNodeID("0a1b2c3d-0000-4000-8000-000000000000", dir); err == nil {
		t.Fatal("saving the node ID over a directory succeeded")
	}
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name() != nodeIDFile {
			t.Fatalf("left %s in the data dir", e.Name())
		}
	}
}

// A crash part-way through an earlier write leaves a temporary file; the
// next start neither trips over it nor reads it as the node ID.
func TestResolveNodeIDIgnoresCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	stray := filepath.Join(dir, atomicfile.TempPrefix+nodeIDFile+"-42")
	if err := os.WriteFile(stray, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	id, err := resolveNodeID("", dir)
	if err != nil || !validUUID(id) {
		t.Fatalf("ID %q, %v", id, err)
	}
}
