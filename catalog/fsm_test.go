package catalog

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"

	"consulate/structs"
)

type bufSink struct {
	bytes.Buffer
	cancelled bool
}

func (b *bufSink) ID() string    { return "test" }
func (b *bufSink) Cancel() error { b.cancelled = true; return nil }
func (b *bufSink) Close() error  { return nil }

func apply(t *testing.T, f *FSM, idx uint64, mt MessageType, msg any) any {
	t.Helper()
	buf, err := Encode(mt, msg)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: buf})
}

func TestFSMApplyResults(t *testing.T) {
	f := NewFSM(nil)
	if r := apply(t, f, 1, RegisterRequestType, webReq("n1", "127.0.0.11", "web1")); r != nil {
		t.Fatalf("register: %v", r)
	}
	if r := apply(t, f, 2, KVSRequestType, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}}); r != nil {
		t.Fatalf("set: %v", r)
	}
	if r := apply(t, f, 3, KVSRequestType, &structs.KVSRequest{Op: structs.KVCAS, DirEnt: structs.DirEntry{Key: "k", ModifyIndex: 1}}); r != false {
		t.Fatalf("stale cas: %v", r)
	}
	r := apply(t, f, 4, KVSRequestType, &structs.KVSRequest{Op: structs.KVLock, DirEnt: structs.DirEntry{Key: "k", Session: "none"}})
	if err, ok := r.(error); !ok || !errors.Is(err, ErrMissingSession) {
		t.Fatalf("lock without session: %v", r)
	}
	r = apply(t, f, 5, TxnRequestType, &structs.TxnRequest{Ops: []*structs.TxnOp{{KV: &structs.TxnKVOp{Verb: structs.KVGet, DirEnt: structs.DirEntry{Key: "k"}}}}})
	if resp, ok := r.(*structs.TxnResponse); !ok || len(resp.Results) != 1 {
		t.Fatalf("txn: %#v", r)
	}
	if r := f.Apply(&raft.Log{Index: 6, Type: raft.LogCommand, Data: []byte{200, 1}}); r == nil {
		t.Fatal("unknown type accepted")
	}
	if r := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: []byte{byte(RegisterRequestType), 0xc1}}); r == nil {
		t.Fatal("garbage body accepted")
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	f := NewFSM(nil)
	apply(t, f, 1, RegisterRequestType, webReq("n1", "127.0.0.11", "web1", "a"))
	apply(t, f, 2, RegisterRequestType, webReq("n2", "127.0.0.12", "web2"))
	apply(t, f, 3, SessionRequestType, &structs.SessionRequest{Op: structs.SessionCreate,
		Session: structs.Session{ID: "s1", Node: "n1", NodeChecks: []string{structs.SerfCheckID}, TTL: "15s"}})
	apply(t, f, 4, KVSRequestType, &structs.KVSRequest{Op: structs.KVLock, DirEnt: structs.DirEntry{Key: "l", Session: "s1", Value: []byte("x")}})
	apply(t, f, 5, KVSRequestType, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "dir/a", Flags: 42}})
	apply(t, f, 6, KVSRequestType, &structs.KVSRequest{Op: structs.KVDelete, DirEnt: structs.DirEntry{Key: "dir/a"}})

	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot must not appear in it.
	apply(t, f, 7, KVSRequestType, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "late"}})
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}

	f2 := NewFSM(nil)
	oldState := f2.State()
	if err := f2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-oldState.AbandonCh():
	default:
		t.Fatal("restore did not abandon the old store")
	}
	st, src := f2.State(), f.State()
	_, n1, _ := st.Nodes(nil)
	_, n2, _ := src.Nodes(nil)
	if !reflect.DeepEqual(n1, n2) {
		t.Fatalf("nodes differ:\n%+v\n%+v", n1, n2)
	}
	_, c1, _ := st.CheckServiceNodes(nil, "web", nil)
	_, c2, _ := src.CheckServiceNodes(nil, "web", nil)
	if !reflect.DeepEqual(c1, c2) {
		t.Fatalf("health differs")
	}
	_, e, _ := st.KVGet(nil, "l")
	if e == nil || e.Session != "s1" || e.LockIndex != 1 {
		t.Fatalf("lock lost: %+v", e)
	}
	if _, e, _ := st.KVGet(nil, "late"); e != nil {
		t.Fatal("snapshot included a later write")
	}
	if idx, _, _ := st.KVList(nil, "dir/"); idx != 6 {
		t.Fatalf("tombstone index lost: %d", idx)
	}
	if idx := st.Index(serviceIndexKey("web")); idx != 2 {
		t.Fatalf("service index lost: %d", idx)
	}
	// Session checks are rebuilt: the session still dies with its check.
	apply(t, f2, 8, DeregisterRequestType, &structs.DeregisterRequest{Node: "n1", CheckID: structs.SerfCheckID})
	if _, s, _ := f2.State().SessionGet(nil, "s1"); s != nil {
		t.Fatal("restored session not tied to its check")
	}
	// A truncated stream is an error, not a panic, and keeps the old state.
	before := f2.State()
	if err := f2.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()[:len(sink.Bytes())/2]))); err == nil {
		t.Fatal("truncated snapshot restored")
	}
	if f2.State() != before {
		t.Fatal("failed restore replaced state")
	}
}
