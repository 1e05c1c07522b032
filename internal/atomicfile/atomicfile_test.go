package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "node-id")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := Write(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if names := listDir(t, filepath.Dir(path)); len(names) != 1 || names[0] != "node-id" {
		t.Fatalf("directory holds %v, want only node-id", names)
	}
}

// A write that fails keeps the old file and removes its temporary file,
// so failures do not litter the data dir.
func TestWriteFailureKeepsOldAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory where the file should go: the rename fails.
	path := filepath.Join(dir, "keyring")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := Write(path, []byte("data"), 0o600)
	if err == nil {
		t.Fatal("write over a non-empty directory succeeded")
	}
	for _, n := range listDir(t, dir) {
		if IsTemp(n) {
			t.Fatalf("temporary file %s left behind after a failed write (error %v)", n, err)
		}
	}
	if _, serr := os.Stat(filepath.Join(path, "x")); serr != nil {
		t.Fatalf("old content damaged: %v", serr)
	}
}

// Temporary files a crash left behind do not get in the way of the next
// write, and IsTemp recognises them.
func TestWriteAfterCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node-id")
	// What a crash between create and rename leaves: a stray temp file
	// (even a directory in the worst case) with the old fixed name too.
	for _, n := range []string{TempPrefix + "node-id-123", "node-id.tmp"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "x" {
		t.Fatalf("read %q", got)
	}
	if !IsTemp(TempPrefix+"node-id-123") || IsTemp("node-id") {
		t.Fatal("IsTemp misclassifies")
	}
}
