package snapshot

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"consulate/structs"
)

// FuzzRead feeds arbitrary archives to Read. Invariants: no panic; every
// rejection is a *structs.BadRequestError (the HTTP API's 400); whatever
// is accepted stays within the limits, and writing it back out reads back
// to the same metadata and state.
func FuzzRead(f *testing.F) {
	good := goodArchive(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(archive(f, wellFormed(f, 99, []byte("s")), false))
	f.Add(archive(f, []entry{{name: stateFile, data: make([]byte, 512), size: 8 << 30}}, true))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	lim := Limits{MaxStateSize: 1 << 20}
	f.Fuzz(func(t *testing.T, in []byte) {
		meta, state, err := ReadLimited(bytes.NewReader(in), lim)
		if err != nil {
			var bad *structs.BadRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("rejection is not a BadRequestError: %v", err)
			}
			return
		}
		if int64(len(state)) > lim.MaxStateSize {
			t.Fatalf("accepted %d bytes of state over a %d limit", len(state), lim.MaxStateSize)
		}
		var buf bytes.Buffer
		if err := Write(&buf, meta, state); err != nil {
			t.Fatalf("accepted archive does not write back: %v", err)
		}
		meta2, state2, err := ReadLimited(&buf, lim)
		if err != nil {
			t.Fatalf("rewritten archive rejected: %v", err)
		}
		if !bytes.Equal(state, state2) || !reflect.DeepEqual(meta, meta2) {
			t.Fatalf("round trip changed the archive:\n%+v\n%+v", meta, meta2)
		}
	})
}
