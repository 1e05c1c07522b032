package rpcmux

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"consulate/structs"
)

// relayHandler relays every call to a backend through a Pool, as a
// server forwards to another datacenter: RPC decodes the backend's reply,
// RPCRelay passes it on raw.
type relayHandler struct {
	backend *testHandler
	pool    *Pool
	raw     atomic.Int64 // calls relayed raw
}

func (h *relayHandler) NewCall(method structs.Method) (any, any, bool) {
	return h.backend.NewCall(method)
}

func (h *relayHandler) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	return h.pool.Call(ctx, "dc2", "pipe", method, args, reply)
}

func (h *relayHandler) RPCRelay(ctx context.Context, method structs.Method, args, reply any, raw *RawReply) error {
	if method == "Test.Deadline" {
		return h.RPC(ctx, method, args, reply) // served "here": typed
	}
	h.raw.Add(1)
	return h.pool.Call(ctx, "dc2", "pipe", method, args, raw)
}

// relayPair returns a Pool calling a relaying Mux (front, with frontCfg)
// that relays to a Mux serving a testHandler.
func relayPair(t *testing.T, frontCfg Config) (*Pool, *relayHandler) {
	t.Helper()
	back := newPipeMux(t, testConfig(), newTestHandler())
	rh := &relayHandler{backend: newTestHandler(), pool: pipePool(t, back, testPoolConfig())}
	front := newPipeMux(t, frontCfg, rh)
	return pipePool(t, front, testPoolConfig()), rh
}

func TestRelayRawReply(t *testing.T) {
	client, rh := relayPair(t, testConfig())
	ctx := ctxTimeout(t, 10*time.Second)
	n := 7
	in := echoArgs{S: "web", M: map[string]string{"a": "b"}, L: []string{"x", "y"}, Ptr: &n, B: []byte{1, 2}}
	for range 3 { // the same streams again: nothing stale is left behind
		var out echoArgs
		if err := client.Call(ctx, "dc1", "pipe", "Test.Echo", &in, &out); err != nil {
			t.Fatalf("relayed call: %v", err)
		}
		if out.S != "web" || out.M["a"] != "b" || len(out.L) != 2 || out.Ptr == nil || *out.Ptr != 7 || len(out.B) != 2 {
			t.Fatalf("relayed reply = %+v", out)
		}
	}
	if got := rh.raw.Load(); got != 3 {
		t.Fatalf("%d calls relayed raw, want 3", got)
	}

	// The backend's error comes through as the same RemoteError.
	err := client.Call(ctx, "dc1", "pipe", "Test.Error", &errArgs{Kind: "noleader"}, &struct{}{})
	var re *structs.RemoteError
	if !errors.As(err, &re) || !errors.Is(err, structs.ErrNoLeader) {
		t.Fatalf("relayed error = %v, want a RemoteError matching ErrNoLeader", err)
	}

	// A call the handler serves itself still answers with its typed reply.
	var dl int64
	if err := client.Call(ctx, "dc1", "pipe", "Test.Deadline", &struct{}{}, &dl); err != nil || dl == 0 {
		t.Fatalf("typed reply through the relay: %d, %v", dl, err)
	}

	// In process, RPC still decodes the reply.
	var out echoArgs
	if err := rh.RPC(ctx, "Test.Echo", &in, &out); err != nil || out.S != "web" {
		t.Fatalf("in-process RPC = %+v, %v", out, err)
	}
}

// TestRelayRawReplyTooLarge: the relaying Mux enforces its own message
// size limit on a raw body.
func TestRelayRawReplyTooLarge(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 64 << 10
	client, _ := relayPair(t, cfg)
	ctx := ctxTimeout(t, 10*time.Second)
	var out []byte
	err := client.Call(ctx, "dc1", "pipe", "Test.Big", &sizeArgs{N: 100 << 10}, &out)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized relayed reply: %v, want ErrMessageTooLarge", err)
	}
	// The stream is still good for a call that fits.
	if err := client.Call(ctx, "dc1", "pipe", "Test.Big", &sizeArgs{N: 1000}, &out); err != nil || len(out) != 1000 {
		t.Fatalf("call after an oversized one: len %d, %v", len(out), err)
	}
}
