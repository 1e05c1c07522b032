package catalog

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// FuzzVerifySnapshot feeds arbitrary state.bin streams to the decoder a
// restore runs. Invariants: decoding never panics (VerifySnapshot would
// turn a panic into an error, so the target calls the decoder itself);
// whatever VerifySnapshot accepts, FSM.Restore (which reads through an
// io.Reader, not from memory) accepts too, since Raft panics when it
// does not; and a restored store snapshots to a stream that verifies.
func FuzzVerifySnapshot(f *testing.F) {
	good := sampleStream(f)
	f.Add(good)
	f.Add(good[:len(good)/3])
	var empty bytes.Buffer
	e := codec.NewEncoder(&empty, msgpackHandle())
	_ = e.Encode(&snapshotHeader{Version: 1})
	_ = e.Encode(uint8(recEnd))
	f.Add(empty.Bytes())
	f.Fuzz(func(t *testing.T, state []byte) {
		defer watchdog(10 * time.Second)()
		_, derr := decodeStore(codec.NewDecoderBytes(state, msgpackHandle()), 1000)
		verr := VerifySnapshot(state, 1000)
		if (derr == nil) != (verr == nil) {
			t.Fatalf("decoder says %v, VerifySnapshot says %v", derr, verr)
		}
		if verr != nil {
			if !errors.Is(verr, ErrBadSnapshot) {
				t.Fatalf("error does not wrap ErrBadSnapshot: %v", verr)
			}
			return
		}
		fsm := NewFSM(nil)
		if err := fsm.Restore(io.NopCloser(bytes.NewReader(state))); err != nil {
			t.Fatalf("verified stream fails to restore: %v", err)
		}
		snap, err := fsm.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var sink bufSink
		if err := snap.Persist(&sink); err != nil {
			t.Fatalf("restored store does not persist: %v", err)
		}
		if err := VerifySnapshot(sink.Bytes(), 0); err != nil {
			t.Fatalf("re-snapshot of a restored store does not verify: %v", err)
		}
	})
}

// watchdog crashes the fuzzing process (so the fuzzer records the input)
// when one input takes longer than d: a hang is a finding too. Call the
// returned func when the input is done.
func watchdog(d time.Duration) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
		case <-time.After(d):
			buf := make([]byte, 1<<20)
			panic("input took longer than " + d.String() + ":\n" + string(buf[:runtime.Stack(buf, true)]))
		}
	}()
	return func() { close(done) }
}
