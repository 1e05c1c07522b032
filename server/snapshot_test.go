package server

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"consulate/snapshot"
	"consulate/structs"
)

func TestSnapshotSaveRestore(t *testing.T) {
	s := devServer(t)
	for _, k := range []string{"a", "b", "c"} {
		kvApply(t, s, structs.KVSet, structs.DirEntry{Key: k, Value: []byte(k)})
	}
	var buf bytes.Buffer
	idx, err := s.SnapshotSave(&buf)
	if err != nil || idx == 0 {
		t.Fatalf("save: %d %v", idx, err)
	}
	saved := buf.Bytes()
	// Nothing new since: a second save still works.
	var again bytes.Buffer
	if _, err := s.SnapshotSave(&again); err != nil {
		t.Fatalf("second save: %v", err)
	}
	kvApply(t, s, structs.KVDeleteTree, structs.DirEntry{Key: ""})
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "after", Value: []byte("x")})
	if err := s.SnapshotRestore(bytes.NewReader(saved)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var list structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSList, &structs.KeyRequest{Key: ""}, &list)
	if len(list.Entries) != 3 {
		t.Fatalf("after restore: %d keys", len(list.Entries))
	}
	// Writes continue after a restore.
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "d", Value: []byte("d")})

	corrupt := append([]byte(nil), saved...)
	corrupt[len(corrupt)/2] ^= 0xff
	var bad *structs.BadRequestError
	if err := s.SnapshotRestore(bytes.NewReader(corrupt)); !errors.As(err, &bad) {
		t.Fatalf("corrupt archive: %v", err)
	}
	if err := s.SnapshotRestore(bytes.NewReader([]byte("not a snapshot"))); !errors.As(err, &bad) {
		t.Fatalf("garbage: %v", err)
	}
}

// rewrap builds an archive around state with correct checksums, as a
// careless or hostile tool would.
func rewrap(t *testing.T, state []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, &raft.SnapshotMeta{Version: 1, ID: "1-1-1", Index: 1, Term: 1}, state); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A restore that would have made the FSM fail (and Raft panic, taking the
// leader down) is refused before Raft sees it; the leader keeps serving
// and a good archive still restores.
func TestSnapshotRestoreValidatesState(t *testing.T) {
	s := devServer(t)
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "keep", Value: []byte("1")})
	var good bytes.Buffer
	if _, err := s.SnapshotSave(&good); err != nil {
		t.Fatal(err)
	}
	_, goodState, err := snapshot.Read(bytes.NewReader(good.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "later", Value: []byte("2")})

	for name, state := range map[string][]byte{
		"garbage":          []byte("valid checksum, garbage content"),
		"truncated state":  goodState[:len(goodState)-3],
		"empty state":      {},
		"state of version": append([]byte{0x81, 0xa7, 'V', 'e', 'r', 's', 'i', 'o', 'n', 0x07}, goodState[10:]...),
	} {
		err := s.SnapshotRestore(bytes.NewReader(rewrap(t, state)))
		var bad *structs.BadRequestError
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), "state.bin does not decode") {
			t.Fatalf("%s: got %v, want a BadRequestError about state.bin", name, err)
		}
		if !s.IsLeader() {
			t.Fatalf("%s: leader lost leadership", name)
		}
		// Still serving: a write goes through and the old data is there.
		kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "after-" + strings.ReplaceAll(name, " ", "-"), Value: []byte("x")})
		var out structs.IndexedDirEntries
		rpc(t, s, structs.MethodKVSGet, &structs.KeyRequest{Key: "later"}, &out)
		if len(out.Entries) != 1 {
			t.Fatalf("%s: state changed by a rejected restore", name)
		}
	}

	// One restore at a time.
	s.restoring.Store(true)
	if err := s.SnapshotRestore(bytes.NewReader(good.Bytes())); !errors.Is(err, ErrRestoreInProgress) {
		t.Fatalf("concurrent restore: %v", err)
	}
	s.restoring.Store(false)

	if err := s.SnapshotRestore(bytes.NewReader(good.Bytes())); err != nil {
		t.Fatalf("good restore after rejected ones: %v", err)
	}
	var out structs.IndexedDirEntries
	rpc(t, s, structs.MethodKVSList, &structs.KeyRequest{Key: ""}, &out)
	if len(out.Entries) != 1 || out.Entries[0].Key != "keep" {
		t.Fatalf("after restore: %+v", out.Entries)
	}
	kvApply(t, s, structs.KVSet, structs.DirEntry{Key: "post", Value: []byte("y")})
}
