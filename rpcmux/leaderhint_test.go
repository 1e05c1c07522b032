package rpcmux

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"consulate/structs"
)

// hintHandler is a testHandler that names a leader in every answer.
type hintHandler struct {
	*testHandler
	leader atomic.Pointer[string]
}

func (h *hintHandler) LeaderHint() string {
	if p := h.leader.Load(); p != nil {
		return *p
	}
	return ""
}

func (h *hintHandler) setLeader(s string) { h.leader.Store(&s) }

// serveHandler serves h on a loopback port until the test ends.
func serveHandler(t *testing.T, h Handler) structs.ServerAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newPipeMux(t, testConfig(), h)
	go func() { _ = m.Serve(ln) }()
	return structs.ServerAddr(ln.Addr().String())
}

func TestLeaderHintRecordedPerDatacenter(t *testing.T) {
	h := &hintHandler{testHandler: newTestHandler()}
	addr := serveHandler(t, h)
	plain := serveHandler(t, newTestHandler()) // gives no hints
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 5*time.Second)

	if got := p.LeaderHint("dc1"); got != "" {
		t.Fatalf("hint before any call = %q", got)
	}
	// A server that knows no leader sends none.
	if err := p.Call(ctx, "dc1", addr, "Test.Echo", &echoArgs{S: "x"}, &echoArgs{}); err != nil {
		t.Fatal(err)
	}
	if got := p.LeaderHint("dc1"); got != "" {
		t.Fatalf("hint from a server without a leader = %q", got)
	}
	h.setLeader("10.0.0.1:8300")
	if err := p.Call(ctx, "dc1", addr, "Test.Echo", &echoArgs{S: "x"}, &echoArgs{}); err != nil {
		t.Fatal(err)
	}
	if got := p.LeaderHint("dc1"); got != "10.0.0.1:8300" {
		t.Fatalf("hint = %q, want 10.0.0.1:8300", got)
	}
	if got := p.LeaderHint("dc2"); got != "" {
		t.Fatalf("dc2 hint = %q, want none (hints are per datacenter)", got)
	}
	// An error answer carries the hint too; a new leader replaces the old.
	h.setLeader("10.0.0.2:8300")
	err := p.Call(ctx, "dc1", addr, "Test.Error", &errArgs{Kind: "noleader"}, nil)
	if !errors.Is(err, structs.ErrNoLeader) {
		t.Fatalf("err = %v, want ErrNoLeader", err)
	}
	if got := p.LeaderHint("dc1"); got != "10.0.0.2:8300" {
		t.Fatalf("hint after error answer = %q, want 10.0.0.2:8300", got)
	}
	// An answer without a hint (an older server) keeps the last one.
	if err := p.Call(ctx, "dc1", plain, "Test.Echo", &echoArgs{}, &echoArgs{}); err != nil {
		t.Fatal(err)
	}
	if got := p.LeaderHint("dc1"); got != "10.0.0.2:8300" {
		t.Fatalf("hint after a hintless answer = %q, want 10.0.0.2:8300", got)
	}
	// Another datacenter's server records its hint there.
	h2 := &hintHandler{testHandler: newTestHandler()}
	h2.setLeader("10.0.2.1:8300")
	addr2 := serveHandler(t, h2)
	if err := p.Call(ctx, "dc2", addr2, "Test.Echo", &echoArgs{}, &echoArgs{}); err != nil {
		t.Fatal(err)
	}
	if got, got1 := p.LeaderHint("dc2"), p.LeaderHint("dc1"); got != "10.0.2.1:8300" || got1 != "10.0.0.2:8300" {
		t.Fatalf("hints dc2 = %q, dc1 = %q", got, got1)
	}
}

// TestLeaderHintOldPeers: a header with the new field decodes into the
// header older peers have (the field is skipped), and an old header
// decodes into the new one with no hint.
func TestLeaderHintOldPeers(t *testing.T) {
	type oldHeader struct {
		Seq   uint64
		Error *structs.RemoteError
	}
	c := newWireCodec(1 << 20)
	buf, err := c.encodeFrame(&responseHeader{Seq: 7, Leader: "10.0.0.1:8300"}, "body")
	if err != nil {
		t.Fatal(err)
	}
	dec := c.decoder(buf.Bytes()[frameLenSize:])
	var old oldHeader
	var body string
	if err := dec.decode(&old); err != nil || old.Seq != 7 {
		t.Fatalf("old peer decoding: %v, %+v", err, old)
	}
	if err := dec.decode(&body); err != nil || body != "body" {
		t.Fatalf("body after header: %v %q", err, body)
	}
	dec.release()

	buf, err = c.encodeFrame(&oldHeader{Seq: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dec = c.decoder(buf.Bytes()[frameLenSize:])
	defer dec.release()
	var hdr responseHeader
	if err := dec.decode(&hdr); err != nil || hdr.Seq != 8 || hdr.Leader != "" {
		t.Fatalf("new peer decoding an old header: %v, %+v", err, hdr)
	}
}

// BenchmarkLeaderHintNote: recording the hint every answer repeats
// costs no allocation.
func BenchmarkLeaderHintNote(b *testing.B) {
	p := &Pool{}
	p.noteLeader("dc1", "10.0.0.1:8300")
	b.ReportAllocs()
	for b.Loop() {
		p.noteLeader("dc1", "10.0.0.1:8300")
	}
}
