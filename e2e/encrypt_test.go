package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"consulate/internal/testutil"
)

// TestGossipEncryption: agents sharing a key from `consulate keygen` form
// a cluster; a wrong key or none cannot join and the error says so; the
// key is kept in the data dir, so a restart needs no -encrypt.
func TestGossipEncryption(t *testing.T) {
	key1, err := cli(t, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	key2, _ := cli(t, "keygen")
	key1, key2 = strings.TrimSpace(key1), strings.TrimSpace(key2)
	if len(key1) != 44 || key1 == key2 {
		t.Fatalf("keygen gave %q and %q", key1, key2)
	}
	a := startAgent(t, "enc-a", "127.0.0.31", "-server", "-bootstrap", "-encrypt", key1)
	dataB := filepath.Join(t.TempDir(), "b")
	b := startAgent(t, "enc-b", "127.0.0.32", "-data-dir", dataB, "-encrypt", key1)
	wrong := startAgent(t, "enc-wrong", "127.0.0.33", "-encrypt", key2)
	plain := startAgent(t, "enc-plain", "127.0.0.34")
	for _, x := range []*agentProc{a, b, wrong, plain} {
		x.waitHTTP(15 * time.Second)
	}
	if out, err := cli(t, "join", "--http-addr", b.httpAddr(), "127.0.0.31"); err != nil {
		t.Fatalf("join with the same key: %v %s", err, out)
	}
	for _, x := range []*agentProc{wrong, plain} {
		out, err := cli(t, "join", "--http-addr", x.httpAddr(), "127.0.0.31")
		if err == nil {
			t.Fatalf("%s joined an encrypted pool: %s", x.name, out)
		}
		if !strings.Contains(out, "Error joining address") {
			t.Fatalf("%s: unclear error: %s", x.name, out)
		}
	}
	info, err := cli(t, "info", "--http-addr", a.httpAddr())
	if err != nil || !strings.Contains(info, "encrypted = true") {
		t.Fatalf("info: %v\n%s", err, info)
	}
	members := func() string { out, _ := cli(t, "members", "--http-addr", a.httpAddr()); return out }
	if m := members(); strings.Contains(m, "enc-wrong") || strings.Contains(m, "enc-plain") {
		t.Fatalf("a stranger got in:\n%s", m)
	}

	// Restart b without -encrypt: the saved key lets it rejoin.
	b.stop(syscall.SIGKILL, 10*time.Second)
	b2 := startAgent(t, "enc-b", "127.0.0.32", "-data-dir", dataB)
	b2.waitHTTP(15 * time.Second)
	testutil.WaitForErr(t, 15*time.Second, "b back, encrypted", func() error {
		out, _ := cli(t, "info", "--http-addr", b2.httpAddr())
		if !strings.Contains(out, "encrypted = true") {
			return fmt.Errorf("b2 not encrypted:\n%s", out)
		}
		for _, line := range strings.Split(members(), "\n") {
			if strings.HasPrefix(line, "enc-b ") && strings.Contains(line, " alive ") {
				return nil
			}
		}
		return fmt.Errorf("b not alive:\n%s", members())
	})
}
