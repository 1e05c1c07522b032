package catalog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"

	"consulate/structs"
)

// sampleStream is the state.bin of a small but varied store.
func sampleStream(t testing.TB) []byte {
	t.Helper()
	f := NewFSM(nil)
	for i, msg := range []struct {
		mt  MessageType
		msg any
	}{
		{RegisterRequestType, webReq("n1", "127.0.0.11", "web1", "a")},
		{RegisterRequestType, webReq("n2", "127.0.0.12", "web2")},
		{SessionRequestType, &structs.SessionRequest{Op: structs.SessionCreate,
			Session: structs.Session{ID: "s1", Node: "n1", NodeChecks: []string{structs.SerfCheckID}, TTL: "15s"}}},
		{KVSRequestType, &structs.KVSRequest{Op: structs.KVLock, DirEnt: structs.DirEntry{Key: "l", Session: "s1", Value: []byte("x")}}},
		{KVSRequestType, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "dir/a", Flags: 42}}},
		{KVSRequestType, &structs.KVSRequest{Op: structs.KVDelete, DirEnt: structs.DirEntry{Key: "dir/a"}}},
	} {
		buf, err := Encode(msg.mt, msg.msg)
		if err != nil {
			t.Fatal(err)
		}
		if err, ok := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: buf}).(error); ok {
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// countRecords counts the records of a stream the way Persist wrote it.
func countRecords(t *testing.T, state []byte) int {
	t.Helper()
	st, err := decodeStore(codec.NewDecoderBytes(state, msgpackHandle()), 0)
	if err != nil || st == nil {
		t.Fatal(err)
	}
	for n := 1; n < 1000; n++ {
		if err := VerifySnapshot(state, n); err == nil {
			return n
		}
	}
	t.Fatal("no record count fits")
	return 0
}

func TestVerifySnapshot(t *testing.T) {
	good := sampleStream(t)
	if err := VerifySnapshot(good, 0); err != nil {
		t.Fatalf("good stream rejected: %v", err)
	}

	// The record bound: exactly the stream's count passes, one fewer fails.
	n := countRecords(t, good)
	if n < 5 {
		t.Fatalf("sample has only %d records", n)
	}
	if err := VerifySnapshot(good, n-1); !errors.Is(err, ErrSnapshotTooLarge) || !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("over the record bound: %v", err)
	}

	h := msgpackHandle()
	enc := func(vals ...any) []byte {
		var buf bytes.Buffer
		e := codec.NewEncoder(&buf, h)
		for _, v := range vals {
			if err := e.Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	for name, state := range map[string][]byte{
		"empty":                       nil,
		"garbage":                     []byte("this is not a msgpack snapshot stream at all"),
		"wrong version":               enc(&snapshotHeader{Version: 2}, uint8(recEnd)),
		"no end record":               enc(&snapshotHeader{Version: 1}),
		"unknown record":              enc(&snapshotHeader{Version: 1}, uint8(200), "x", uint8(recEnd)),
		"record of wrong shape":       enc(&snapshotHeader{Version: 1}, uint8(recNode), []int{1, 2, 3}, uint8(recEnd)),
		"node without a name":         enc(&snapshotHeader{Version: 1}, uint8(recNode), &structs.Node{}, uint8(recEnd)),
		"service row without service": enc(&snapshotHeader{Version: 1}, uint8(recService), &serviceRow{Node: "n1"}, uint8(recEnd)),
		// A string header claiming 4 GiB: decoding from memory fails at once.
		"huge length prefix": append(enc(&snapshotHeader{Version: 1}, uint8(recKV)), 0x81, 0xa3, 'K', 'e', 'y', 0xdb, 0xff, 0xff, 0xff, 0xff),
		"truncated":          good[:len(good)/2],
	} {
		if err := VerifySnapshot(state, 0); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: got %v, want ErrBadSnapshot", name, err)
		}
	}
	// An empty store is a valid snapshot.
	if err := VerifySnapshot(enc(&snapshotHeader{Version: 1}, uint8(recEnd)), 0); err != nil {
		t.Fatalf("empty store: %v", err)
	}
}
