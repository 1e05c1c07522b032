package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKeyringSavesAndReloads(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	got, err := loadKeyring(dir, key)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("configured: %x %v", got, err)
	}
	got, err = loadKeyring(dir, nil)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("reloaded: %x %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyringFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}
	if got, err := loadKeyring(t.TempDir(), nil); err != nil || got != nil {
		t.Fatalf("no keyring: %x %v", got, err)
	}
}

func TestLoadKeyringDamagedFileIsAnErrorNamingIt(t *testing.T) {
	for name, content := range map[string]string{
		"empty":     "",
		"newline":   "\n",
		"garbage":   "\x00\xff{{{",
		"short key": "AAAA",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, keyringFile)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			key, err := loadKeyring(dir, nil)
			if err == nil {
				t.Fatalf("damaged keyring gave key %x and no error", key)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name %s: %v", path, err)
			}
		})
	}
}

// A failed save of the keyring leaves no temporary file behind in the
// data dir's serf directory.
func TestLoadKeyringFailedWriteLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, keyringFile)
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeyring(dir, bytes.Repeat([]byte{1}, 16)); err == nil {
		t.Fatal("saving the keyring over a directory succeeded")
	}
	es, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Name() != filepath.Base(keyringFile) {
			t.Fatalf("left %s behind", e.Name())
		}
	}
}
