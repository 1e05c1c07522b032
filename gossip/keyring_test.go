package gossip

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"consulate/gossip/gossiptest"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// steadyTimers relaxes the shrunk test timers so that a slow machine (or
// the race detector) does not make members flap: these tests assert that
// nobody fails, which must be about the keyring, not the scheduler.
func steadyTimers(c *Config) {
	c.Memberlist.ProbeInterval = 200 * time.Millisecond
	c.Memberlist.ProbeTimeout = 150 * time.Millisecond
	c.Memberlist.SuspicionMult = 4
}

// A query reaches every member once and all three answers come back.
func TestQueryRoundTripThreePools(t *testing.T) {
	pools := cluster(t, 101, 3, steadyTimers)
	var calls [3]atomic.Int32
	for i, p := range pools {
		i, p := i, p
		p.registerQueryHandler("test", func(payload []byte) []byte {
			calls[i].Add(1)
			return append([]byte(p.LocalName()+":"), payload...)
		})
	}
	for round := 0; round < 3; round++ {
		from := pools[round]
		start := time.Now()
		answers, expected, err := from.query(ctxT(t), "test", []byte(fmt.Sprint("ping", round)), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(expected) != 3 || len(answers) != 3 {
			t.Fatalf("round %d: expected %v, answers %v", round, expected, answers)
		}
		for _, p := range pools {
			want := fmt.Sprintf("%s:ping%d", p.LocalName(), round)
			if string(answers[p.LocalName()]) != want {
				t.Errorf("answer of %s = %q, want %q", p.LocalName(), answers[p.LocalName()], want)
			}
		}
		// All answered: the query ends before its timeout.
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("query took %s", d)
		}
	}
	// Rebroadcasts do not run a query twice on a member.
	gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
		for _, p := range pools {
			if n := p.q.broadcast.NumQueued(); n != 0 {
				return false, fmt.Sprintf("%s still rebroadcasts %d queries", p.LocalName(), n)
			}
		}
		return true, ""
	})
	for i := range calls {
		if n := calls[i].Load(); n != 3 {
			t.Errorf("%s ran the handler %d times, want 3", pools[i].LocalName(), n)
		}
	}
	if _, _, err := pools[0].query(ctxT(t), "test", make([]byte, querySizeLimit+1), 0); !errors.Is(err, ErrQuery) {
		t.Fatalf("oversized query: %v", err)
	}
}

// Install, use, remove across three encrypted pools while they gossip:
// nobody goes suspect or failed, all report the new primary, and each
// member's keyring file holds its keys, primary first.
func TestKeyringRotationThreePools(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := testKey(1), testKey(2)
	var cols []*collector
	pools := cluster(t, 104, 3, func(c *Config) {
		steadyTimers(c)
		c.SecretKey = oldKey
		c.KeyringFile = filepath.Join(dir, c.NodeName+".keyring")
	})
	for _, p := range pools {
		if !p.EncryptionEnabled() {
			t.Fatalf("%s not encrypted", p.LocalName())
		}
		cols = append(cols, collect(p))
	}
	// Traffic: user events all along.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_ = pools[i%3].UserEvent("tick", []byte(fmt.Sprint(i)), false)
		}
	}()
	defer func() { close(stop); <-done }()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := pools[1].KeyringOp(ctx, KeyringInstall, b64(newKey))
	if err != nil {
		t.Fatalf("install: %v %+v", err, res)
	}
	if res.NumNodes != 3 || res.Keys[b64(newKey)] != 3 || res.Keys[b64(oldKey)] != 3 || res.PrimaryKeys[b64(oldKey)] != 3 {
		t.Fatalf("install result %+v", res)
	}
	if res, err = pools[2].KeyringOp(ctx, KeyringUse, b64(newKey)); err != nil || res.PrimaryKeys[b64(newKey)] != 3 {
		t.Fatalf("use: %v %+v", err, res)
	}
	// The primary cannot be removed: every member says so.
	res, err = pools[0].KeyringOp(ctx, KeyringRemove, b64(newKey))
	if !errors.Is(err, ErrKeyring) || res.NumErr != 3 || len(res.Messages) != 3 {
		t.Fatalf("remove primary: %v %+v", err, res)
	}
	if res, err = pools[0].KeyringOp(ctx, KeyringRemove, b64(oldKey)); err != nil || res.Keys[b64(oldKey)] != 0 || res.Keys[b64(newKey)] != 3 {
		t.Fatalf("remove: %v %+v", err, res)
	}
	if res, err = pools[0].KeyringOp(ctx, KeyringList, ""); err != nil || len(res.Keys) != 1 || res.PrimaryKeys[b64(newKey)] != 3 || res.NumResp != 3 {
		t.Fatalf("list: %v %+v", err, res)
	}
	// Gossip keeps working on the new key alone.
	if err := pools[0].UserEvent("after", nil, false); err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		gossiptest.WaitFor(t, 5*time.Second, func() (bool, string) {
			return c.count(func(e Event) bool { return e.Type == User && e.User.Name == "after" }) == 1, "no event after rotation on " + pools[i].LocalName()
		})
		if n := c.count(func(e Event) bool { return e.Type == MemberFailed || e.Type == MemberLeave }); n != 0 {
			t.Errorf("%s saw %d members fail or leave", pools[i].LocalName(), n)
		}
	}
	for _, p := range pools {
		for _, m := range p.Members() {
			if m.Status.String() != "alive" {
				t.Errorf("%s sees %s as %s", p.LocalName(), m.Name, m.Status)
			}
		}
		keys, err := ReadKeyringFile(p.cfg.KeyringFile)
		if err != nil || len(keys) != 1 || !bytes.Equal(keys[0], newKey) {
			t.Errorf("%s keyring file: %x %v", p.LocalName(), keys, err)
		}
	}
}

// Without a key and with verification on, keyring operations are refused
// as Consul refuses them; with both verifications off, a first key can be
// installed (gossip then still sends and accepts plaintext).
func TestKeyringWithoutEncryption(t *testing.T) {
	pools := cluster(t, 107, 2, func(c *Config) {
		c.DisableVerifyOutgoing = c.NodeName == "node2"
		c.DisableVerifyIncoming = c.NodeName == "node2"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := pools[0].KeyringOp(ctx, KeyringList, "")
	if !errors.Is(err, ErrKeyring) || res.NumErr != 2 {
		t.Fatalf("list unencrypted: %v %+v", err, res)
	}
	res, err = pools[0].KeyringOp(ctx, KeyringInstall, b64(testKey(3)))
	if !errors.Is(err, ErrKeyring) || res.NumErr != 1 || res.Messages["node1"] == "" || res.Keys[b64(testKey(3))] != 1 {
		t.Fatalf("install unencrypted: %v %+v", err, res)
	}
	if _, err := pools[0].KeyringOp(ctx, KeyringInstall, "not base64"); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestKeyringFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "serf", "local.keyring")
	keys := [][]byte{testKey(5), testKey(6)[:16]}
	if err := WriteKeyringFile(path, keys); err != nil {
		t.Fatal(err)
	}
	got, err := ReadKeyringFile(path)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], keys[0]) || !bytes.Equal(got[1], keys[1]) {
		t.Fatalf("read back %x %v", got, err)
	}
	raw, _ := os.ReadFile(path)
	if want := fmt.Sprintf("[%q,%q]", b64(keys[0]), b64(keys[1])); string(raw) != want {
		t.Fatalf("file = %s, want %s", raw, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	// The single-key format of earlier versions still reads.
	if err := os.WriteFile(path, []byte(b64(keys[0])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadKeyringFile(path); err != nil || len(got) != 1 {
		t.Fatalf("legacy: %x %v", got, err)
	}
	for _, bad := range []string{"", "[]", "[\"AAAA\"]", "{", "!!"} {
		_ = os.WriteFile(path, []byte(bad), 0o600)
		if _, err := ReadKeyringFile(path); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ReadKeyringFile(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}
