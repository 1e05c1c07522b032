package rpcmux

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"consulate/structs"
)

// requestHeader precedes the arguments of every call.
type requestHeader struct {
	Method structs.Method
	Seq    uint64
	// Timeout is the time the caller has left, in nanoseconds, so the
	// server's clock need not agree with the caller's; 0 means none. A
	// deadline already passed is sent as 1.
	Timeout int64
}

// responseHeader precedes the reply of every call.
type responseHeader struct {
	Seq   uint64
	Error *structs.RemoteError
	// More marks a frame of a streaming call (structs.IsStreamMethod)
	// that carries a body and is followed by more frames; the last frame
	// of a stream has it false and carries the stream's error, if any.
	// Old peers ignore the field.
	More bool `codec:",omitempty"`
	// Leader is the RPC address of the leader the answering server knows
	// (see LeaderHinter); empty when it knows none. Peers that predate it
	// skip the unknown field.
	Leader string `codec:",omitempty"`
}

// frameLenSize is the size of the big-endian length before every frame.
const frameLenSize = 4

// maxPooledBuf keeps one large message from pinning its buffer forever.
const maxPooledBuf = 64 << 10

// NewMsgpackHandle returns the msgpack handle used on the wire: strings
// decode as strings, time.Time travels as the msgpack timestamp extension
// and time.Duration as its integer nanoseconds, so both round-trip.
func NewMsgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.RawToString = true
	h.WriteExt = true
	h.MapType = reflect.TypeOf(map[string]any(nil))
	return h
}

// wireCodec frames and encodes calls. It is safe for concurrent use.
type wireCodec struct {
	h    *codec.MsgpackHandle
	max  int
	encs sync.Pool // *codec.Encoder
	decs sync.Pool // *codec.Decoder
	bufs sync.Pool // *bytes.Buffer
}

func newWireCodec(maxMessage int) *wireCodec {
	return &wireCodec{h: NewMsgpackHandle(), max: maxMessage}
}

// encodeFrame encodes hdr and body into one length-prefixed frame. The
// caller writes buf.Bytes() and hands buf back with putBuf.
func (c *wireCodec) encodeFrame(hdr, body any) (*bytes.Buffer, error) {
	buf, _ := c.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	buf.Write(make([]byte, frameLenSize))

	enc, _ := c.encs.Get().(*codec.Encoder)
	if enc == nil {
		enc = codec.NewEncoder(buf, c.h)
	} else {
		enc.Reset(buf)
	}
	err := enc.Encode(hdr)
	if raw, ok := body.(*RawReply); ok && err == nil {
		// Already encoded: written as it came (see RawReply).
		buf.Write(raw.body)
	} else if err == nil {
		err = enc.Encode(body)
	}
	c.encs.Put(enc)
	if err != nil {
		c.putBuf(buf)
		return nil, fmt.Errorf("rpcmux: encoding message: %w", err)
	}
	n := buf.Len() - frameLenSize
	if n > c.max {
		c.putBuf(buf)
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, n, c.max)
	}
	binary.BigEndian.PutUint32(buf.Bytes()[:frameLenSize], uint32(n))
	return buf, nil
}

func (c *wireCodec) putBuf(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuf {
		c.bufs.Put(buf)
	}
}

// writeFrame encodes and writes one frame in a single Write.
func (c *wireCodec) writeFrame(w io.Writer, hdr, body any) error {
	buf, err := c.encodeFrame(hdr, body)
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	c.putBuf(buf)
	return err
}

// readFrame reads one frame's payload. The length is checked before
// anything is allocated, so a hostile length cannot exhaust memory. A
// clean end of stream before the frame starts returns io.EOF.
func (c *wireCodec) readFrame(r io.Reader) ([]byte, error) {
	var lenBuf [frameLenSize]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(lenBuf[:])
	if uint64(n) > uint64(c.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, n, c.max)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	// Grow with the bytes that actually arrive: a peer that announces 8
	// MiB and sends nothing costs 64 KiB, not 8 MiB.
	var b bytes.Buffer
	b.Grow(min(int(n), 64<<10))
	got, err := io.CopyN(&b, r, int64(n))
	if err != nil {
		if err == io.EOF && got < int64(n) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b.Bytes(), nil
}

// frameDecoder decodes the header, then the body, of one frame.
type frameDecoder struct {
	c *wireCodec
	d *codec.Decoder
}

func (c *wireCodec) decoder(payload []byte) frameDecoder {
	d, _ := c.decs.Get().(*codec.Decoder)
	if d == nil {
		d = codec.NewDecoderBytes(payload, c.h)
	} else {
		d.ResetBytes(payload)
	}
	return frameDecoder{c: c, d: d}
}

// decode decodes the next value into v (a pointer); a nil v skips it.
func (f frameDecoder) decode(v any) error {
	if v == nil {
		var skip any
		return f.d.Decode(&skip)
	}
	return f.d.Decode(v)
}

// rest returns the payload bytes not yet decoded.
func (f frameDecoder) rest(payload []byte) []byte { return payload[f.d.NumBytesRead():] }

func (f frameDecoder) release() { f.c.decs.Put(f.d) }
