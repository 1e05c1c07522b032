package catalog

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// MaxSnapshotRecords is the default bound on the records a snapshot given
// to VerifySnapshot may hold: each becomes a row in memory, so a stream of
// tiny records would otherwise cost far more than its size.
const MaxSnapshotRecords = 5_000_000

// ErrSnapshotTooLarge is returned when a snapshot holds more records than
// allowed.
var ErrSnapshotTooLarge = errors.New("catalog: snapshot has too many records")

// ErrBadSnapshot wraps every reason VerifySnapshot rejects a stream.
var ErrBadSnapshot = errors.New("catalog: invalid snapshot")

// VerifySnapshot decodes a whole snapshot stream (state.bin) into a fresh
// store and throws it away. A stream that passes restores without error
// (Restore runs the same decoder), which matters because Raft panics when
// a restore it was handed fails. maxRecords <= 0 means
// MaxSnapshotRecords. Decoding from memory means a length prefix can never
// allocate more than the stream holds.
func VerifySnapshot(state []byte, maxRecords int) (err error) {
	// A stream that makes the decoder panic would make Restore panic
	// inside Raft, which takes the server down: reject it here instead.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoder failed: %v", ErrBadSnapshot, r)
		}
	}()
	if maxRecords <= 0 {
		maxRecords = MaxSnapshotRecords
	}
	if _, err := decodeStore(codec.NewDecoderBytes(state, msgpackHandle()), maxRecords); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	return nil
}
