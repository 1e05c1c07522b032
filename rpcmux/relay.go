package rpcmux

import (
	"context"

	"consulate/structs"
)

// RawReply is a reply left encoded: a server that only relays a call to
// another server (another datacenter's, or its leader) passes a *RawReply
// as the reply to Pool.Call, which fills it with the answer's body bytes
// as they came (msgpack, undecoded), and the Mux writes those bytes back
// verbatim as the body of its own answer. The relaying server so neither
// decodes nor re-encodes the reply (for a 50-instance catalog answer
// that is most of the relay's cost).
//
// Only the body travels raw: the answer's error, sequence number and
// leader hint are read by the Pool and written anew by the Mux as for
// any reply, and the Mux enforces the message size limit on what it
// writes. Use it only where nothing reads the reply in process.
//
// The bytes belong to the one call that filled them (each answer is read
// into its own buffer, never pooled), so a RawReply must not be reused
// across calls.
type RawReply struct {
	body   []byte
	filled bool
}

// Filled reports whether a call filled r.
func (r *RawReply) Filled() bool { return r.filled }

// Bytes returns the body bytes a call filled r with (nil if none did).
// They must not be modified.
func (r *RawReply) Bytes() []byte { return r.body }

// set fills r with body.
func (r *RawReply) set(body []byte) { r.body, r.filled = body, true }

// RawReplier is implemented by a Caller that fills a *RawReply passed as
// the reply (Pool does; federation.Router does when its Caller does). A
// relaying server asks before passing one: a Caller that decodes replies
// in process would fail on it.
type RawReplier interface {
	// RawReplies reports whether calls fill a *RawReply reply.
	RawReplies() bool
}

// RawReplies reports true: Call fills a *RawReply reply with the
// answer's undecoded body.
func (p *Pool) RawReplies() bool { return true }

// Relayer is an optional interface of a Handler. For a call that came
// over the wire the Mux calls RPCRelay instead of RPC, with a fresh raw:
// the handler answers either by filling reply as RPC does, or, when it
// only relays the call to another server, by passing raw as the reply to
// a Caller that fills it (see RawReply); the Mux then writes raw's bytes
// as the answer's body. In-process callers keep calling RPC and always
// get a decoded reply.
type Relayer interface {
	RPCRelay(ctx context.Context, method structs.Method, args, reply any, raw *RawReply) error
}
