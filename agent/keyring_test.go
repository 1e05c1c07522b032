package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"consulate/gossip"
)

func TestLoadKeyringSavesAndReloads(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	got, warn, err := loadKeyring(dir, keyringFile, key)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0], key) || warn != "" {
		t.Fatalf("configured: %x %q %v", got, warn, err)
	}
	got, _, err = loadKeyring(dir, keyringFile, nil)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0], key) {
		t.Fatalf("reloaded: %x %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, keyringFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}
	if got, _, err := loadKeyring(t.TempDir(), keyringFile, nil); err != nil || got != nil {
		t.Fatalf("no keyring: %x %v", got, err)
	}
	if got, _, err := loadKeyring("", keyringFile, key); err != nil || len(got) != 1 {
		t.Fatalf("no data dir: %x %v", got, err)
	}
}

// Keys the keyring commands installed survive a restart, primary first,
// and the file wins over -encrypt once it exists (as in Consul).
func TestLoadKeyringSeveralKeysFileWins(t *testing.T) {
	dir := t.TempDir()
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 16)
	if err := gossip.WriteKeyringFile(filepath.Join(dir, keyringFileWAN), [][]byte{k2, k1}); err != nil {
		t.Fatal(err)
	}
	got, warn, err := loadKeyring(dir, keyringFileWAN, k3)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], k2) || !bytes.Equal(got[1], k1) {
		t.Fatalf("keys %x %v", got, err)
	}
	if !strings.Contains(warn, "using the keyring") {
		t.Fatalf("warning %q", warn)
	}
	if _, warn, _ := loadKeyring(dir, keyringFileWAN, k2); warn != "" {
		t.Fatalf("same primary warned: %q", warn)
	}
	// The single-key file earlier versions wrote still loads.
	if err := os.WriteFile(filepath.Join(dir, keyringFile), []byte(encodeKey(k1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, err := loadKeyring(dir, keyringFile, nil); err != nil || len(got) != 1 || !bytes.Equal(got[0], k1) {
		t.Fatalf("legacy %x %v", got, err)
	}
}

func TestLoadKeyringDamagedFileIsAnErrorNamingIt(t *testing.T) {
	for name, content := range map[string]string{
		"empty":     "",
		"newline":   "\n",
		"garbage":   "\x00\xff{{{",
		"short key": "AAAA",
		"empty arr": "[]",
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
			key, _, err := loadKeyring(dir, keyringFile, nil)
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
	if _, _, err := loadKeyring(dir, keyringFile, bytes.Repeat([]byte{1}, 16)); err == nil {
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
