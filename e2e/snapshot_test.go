package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
	"consulate/snapshot"
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

// TestSnapshotRestoreRejectsBadArchives: on a three-server cluster, every
// kind of bad archive sent to PUT /v1/snapshot (through a follower and
// through the leader) is a 400 that says what is wrong; the leader stays
// up and leading, writes keep working, and a good archive still restores
// on every server.
func TestSnapshotRestoreRejectsBadArchives(t *testing.T) {
	ips := []string{"127.0.0.18", "127.0.0.19", "127.0.0.20"}
	var servers []*agentProc
	for i, ip := range ips {
		servers = append(servers, startAgent(t, fmt.Sprintf("r%d", i+1), ip, "-server", "-bootstrap-expect", "3",
			"-retry-join", ips[0], "-retry-interval", "200ms"))
	}
	for _, s := range servers {
		s.waitHTTP(15 * time.Second)
	}
	leaderAddr := servers[0].waitLeader(15 * time.Second)
	var leader, follower *agentProc
	for _, s := range servers {
		if strings.HasPrefix(leaderAddr, s.ip+":") {
			leader = s
		} else if follower == nil {
			follower = s
		}
	}
	if leader == nil {
		t.Fatalf("leader %s is none of ours", leaderAddr)
	}
	kv := follower.client().KV()
	if _, err := kv.Put(&api.KVPair{Key: "snap/saved", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	good := httpDo(t, "GET", "http://"+follower.httpAddr()+"/v1/snapshot", nil, 200)
	meta, state, err := snapshot.Read(bytes.NewReader(good))
	if err != nil {
		t.Fatalf("saved archive does not read: %v", err)
	}
	if _, err := kv.Put(&api.KVPair{Key: "snap/later", Value: []byte("2")}, nil); err != nil {
		t.Fatal(err)
	}

	write := func(m raft.SnapshotMeta, st []byte) []byte {
		var buf bytes.Buffer
		if err := snapshot.Write(&buf, &m, st); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	future := *meta
	future.Version = 99
	// state.bin whose header names a catalog format this build lacks.
	stateV7 := append([]byte{0x81, 0xa7, 'V', 'e', 'r', 's', 'i', 'o', 'n', 0x07}, state[10:]...)
	bad := []struct {
		name, want string
		archive    []byte
	}{
		{"truncated", "truncated", good[:len(good)*2/3]},
		{"not gzip", "not a gzip archive", []byte("hello, not an archive")},
		{"wrong raft version", "unsupported snapshot version 99", write(future, state)},
		{"wrong state version", "unsupported snapshot version 7", write(*meta, stateV7)},
		{"gzip bomb", "is 8589934592 bytes, limit", gzipBomb(t)},
		{"valid checksum over garbage", "state.bin does not decode", write(*meta, bytes.Repeat([]byte{0xc1, 0xff}, 4096))},
		{"truncated state", "state.bin does not decode", write(*meta, state[:len(state)-5])},
	}
	for _, via := range []*agentProc{follower, leader} {
		for _, b := range bad {
			body := httpDo(t, "PUT", "http://"+via.httpAddr()+"/v1/snapshot", b.archive, 400)
			if !strings.Contains(string(body), b.want) {
				t.Errorf("%s via %s: 400 %q does not say %q", b.name, via.name, body, b.want)
			}
		}
	}
	select {
	case <-leader.done:
		t.Fatalf("leader exited:\n%s", leader.log.String())
	default:
	}
	if l := follower.waitLeader(5 * time.Second); l != leaderAddr {
		t.Fatalf("leadership moved from %s to %s after rejected restores", leaderAddr, l)
	}
	if _, err := kv.Put(&api.KVPair{Key: "snap/after-bad", Value: []byte("3")}, nil); err != nil {
		t.Fatalf("write after rejected restores: %v", err)
	}
	if p, _, err := kv.Get("snap/later", &api.QueryOptions{RequireConsistent: true}); err != nil || p == nil {
		t.Fatalf("a rejected restore changed the state: %v %v", p, err)
	}

	// The good archive restores, through a follower, on every server.
	httpDo(t, "PUT", "http://"+follower.httpAddr()+"/v1/snapshot", good, 200)
	for _, s := range servers {
		testutil.WaitForErr(t, 5*time.Second, s.name+" restored", func() error {
			pairs, _, err := s.client().KV().List("snap/", &api.QueryOptions{AllowStale: true})
			if err != nil {
				return err
			}
			if len(pairs) != 1 || pairs[0].Key != "snap/saved" {
				return fmt.Errorf("keys %d", len(pairs))
			}
			return nil
		})
	}
	if _, err := kv.Put(&api.KVPair{Key: "snap/after-restore", Value: []byte("4")}, nil); err != nil {
		t.Fatalf("write after restore: %v", err)
	}
}

// gzipBomb is an archive whose state.bin claims 8 GiB; only its first
// MiB is there (the server must refuse it from the header alone).
func gzipBomb(t *testing.T) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "state.bin", Mode: 0o600, Size: 8 << 30}); err != nil {
		t.Fatal(err)
	}
	tw.Write(make([]byte, 1<<20))
	tw.Flush()
	gz.Close()
	return buf.Bytes()
}

// httpDo sends one request and checks its status.
func httpDo(t *testing.T, method, url string, body []byte, want int) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %q, want %d", method, url, resp.StatusCode, out, want)
	}
	return out
}
