package gossip

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

// messageType is the first byte of every message this package gossips.
type messageType uint8

const (
	messageLeave messageType = iota + 1
	messageJoin
	messagePushPull
	messageUserEvent
	messageQuery
	messageQueryResponse
)

// tagMagicByte marks metadata encoded as a tag map (as serf does), so that
// other metadata is not mistaken for tags.
const tagMagicByte byte = 255

// userEventSizeHardLimit is the largest user event accepted at all: it must
// fit a UDP gossip packet with room to spare.
const userEventSizeHardLimit = 9 * 1024

// ErrTagsTooLarge is returned when encoded tags exceed memberlist's meta limit.
var ErrTagsTooLarge = errors.New("gossip: encoded tags exceed memberlist's metadata limit")

type messageJoinIntent struct {
	LTime LamportTime
	Node  string
}

type messageLeaveIntent struct {
	LTime LamportTime
	Node  string
	Prune bool
}

type messageUserEvt struct {
	LTime   LamportTime
	Name    string
	Payload []byte
	CC      bool // coalesce
}

type messagePushPullState struct {
	LTime        LamportTime
	StatusLTimes map[string]LamportTime
	LeftMembers  []string
	EventLTime   LamportTime
	Events       []userEventsAt
}

// userEventsAt is every distinct user event seen at one Lamport time.
type userEventsAt struct {
	LTime  LamportTime
	Events []userEventRecord
}

type userEventRecord struct {
	Name    string
	Payload []byte
	CC      bool
}

// sharedHandle is configured once and only read afterwards: go-msgpack's
// handles are safe for concurrent reads (codec/doc.go), and a fresh handle
// per message cost its initialisation on every gossiped message and every
// tag decode (bench/scale profile, issue 15).
var sharedHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	h.WriteExt = true
	return h
}()

// msgpackHandle is the handle every encoder and decoder of the package uses.
func msgpackHandle() *codec.MsgpackHandle { return sharedHandle }

func encodeMessage(t messageType, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(byte(t))
	if err := codec.NewEncoder(&buf, msgpackHandle()).Encode(v); err != nil {
		return nil, fmt.Errorf("gossip: encode message %d: %w", t, err)
	}
	return buf.Bytes(), nil
}

// encodeBody encodes v without a message type (query payloads).
func encodeBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, msgpackHandle()).Encode(v); err != nil {
		return nil, fmt.Errorf("gossip: encode: %w", err)
	}
	return buf.Bytes(), nil
}

func decodeMessage(buf []byte, out any) error {
	return codec.NewDecoderBytes(buf, msgpackHandle()).Decode(out)
}

func encodeTags(tags map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(tagMagicByte)
	if tags == nil {
		tags = map[string]string{}
	}
	if err := codec.NewEncoder(&buf, msgpackHandle()).Encode(tags); err != nil {
		return nil, fmt.Errorf("gossip: encode tags: %w", err)
	}
	if buf.Len() > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTagsTooLarge, buf.Len(), memberlist.MetaMaxSize)
	}
	return buf.Bytes(), nil
}

func decodeTags(meta []byte) (map[string]string, error) {
	tags := map[string]string{}
	if len(meta) == 0 {
		return tags, nil
	}
	if meta[0] != tagMagicByte {
		return tags, errors.New("gossip: metadata is not a tag map")
	}
	if err := decodeMessage(meta[1:], &tags); err != nil {
		return map[string]string{}, fmt.Errorf("gossip: decode tags: %w", err)
	}
	if tags == nil {
		// A msgpack nil decodes to a nil map; callers get a map always.
		tags = map[string]string{}
	}
	return tags, nil
}

// broadcast is a gossiped message; notify, if set, is closed when memberlist
// is done transmitting it (sent enough times or superseded).
type broadcast struct {
	node   string      // for intents: a newer intent about the same node supersedes
	ltime  LamportTime // of the intent
	msg    []byte
	notify chan struct{}
}

var _ memberlist.Broadcast = (*broadcast)(nil)

func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*broadcast)
	return ok && b.node != "" && o.node == b.node && b.ltime >= o.ltime
}

func (b *broadcast) Message() []byte { return b.msg }

func (b *broadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}
