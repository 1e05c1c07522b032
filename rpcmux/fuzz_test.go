package rpcmux

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"consulate/structs"
)

// fuzzHandler serves a few real endpoints' argument types and echoes the
// decoded arguments back as the reply.
type fuzzHandler struct{}

var fuzzMethods = map[structs.Method]func() any{
	structs.MethodKVSApply:           func() any { return &structs.KVSRequest{} },
	structs.MethodCatalogRegister:    func() any { return &structs.RegisterRequest{} },
	structs.MethodTxnApply:           func() any { return &structs.TxnRequest{} },
	structs.MethodSessionApply:       func() any { return &structs.SessionRequest{} },
	structs.MethodPreparedQueryApply: func() any { return &structs.PreparedQueryRequest{} },
	structs.MethodHealthServiceNodes: func() any { return &structs.ServiceSpecificRequest{} },
	structs.MethodSnapshotRestore:    func() any { return &structs.SnapshotRequest{} },
}

func (fuzzHandler) NewCall(method structs.Method) (any, any, bool) {
	mk, ok := fuzzMethods[method]
	if !ok {
		return nil, nil, false
	}
	return mk(), new(any), true
}

func (fuzzHandler) RPC(_ context.Context, _ structs.Method, args, reply any) error {
	*reply.(*any) = args
	return nil
}

// FuzzRPCFrames feeds an arbitrary byte stream to the server side of an
// RPC connection: frames are read (readFrame) and each is served
// (serveOne: header, arguments, handler, reply). Invariants: no panic;
// a frame is never longer than the limit nor empty; every served frame
// gets exactly one reply frame that the client side can read, carrying
// the request's sequence number; and arguments that decode re-encode to
// bytes that decode to the same value (encode∘decode is stable).
func FuzzRPCFrames(f *testing.F) {
	c := newWireCodec(64 << 10)
	frame := func(hdr, body any) []byte {
		buf, err := c.encodeFrame(hdr, body)
		if err != nil {
			f.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	kv := frame(&requestHeader{Method: structs.MethodKVSApply, Seq: 1, Timeout: int64(time.Second)},
		&structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v"), Flags: 3}})
	reg := frame(&requestHeader{Method: structs.MethodCatalogRegister, Seq: 2},
		&structs.RegisterRequest{Node: "n1", Address: "127.0.0.11", Service: &structs.NodeService{ID: "web", Service: "web", Tags: []string{"a"}, Port: 80}})
	txn := frame(&requestHeader{Method: structs.MethodTxnApply, Seq: 3},
		&structs.TxnRequest{Ops: []*structs.TxnOp{{KV: &structs.TxnKVOp{Verb: structs.KVGet, DirEnt: structs.DirEntry{Key: "k"}}}}})
	sess := frame(&requestHeader{Method: structs.MethodSessionApply, Seq: 4},
		&structs.SessionRequest{Op: structs.SessionCreate, Session: structs.Session{ID: "s", Node: "n1", TTL: "10s", LockDelay: 15 * time.Second}})
	f.Add(kv)
	f.Add(append(append(reg, txn...), sess...))
	f.Add(kv[:len(kv)-3])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(frame(&requestHeader{Method: "Nope.Nope", Seq: 9}, struct{}{}))

	m := mustMux(f, DefaultConfig(), fuzzHandler{})
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	})
	m.codec = c
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		for i := 0; i < 16; i++ {
			payload, err := c.readFrame(r)
			if err != nil {
				if errors.Is(err, ErrMessageTooLarge) || errors.Is(err, ErrProtocol) {
					return
				}
				if len(payload) != 0 {
					t.Fatalf("payload returned with error %v", err)
				}
				return
			}
			if len(payload) == 0 || len(payload) > c.max {
				t.Fatalf("frame of %d bytes accepted", len(payload))
			}
			checkServeOne(t, m, c, payload)
			checkArgsStable(t, c, payload)
		}
	})
}

// checkServeOne serves payload and reads back the one reply frame.
func checkServeOne(t *testing.T, m *Mux, c *wireCodec, payload []byte) {
	var hdr requestHeader
	hdrErr := c.decoder(payload).decode(&hdr)
	var out bytes.Buffer
	m.serveOne(context.Background(), &out, payload, "fuzz", nil)
	reply, err := c.readFrame(&out)
	if err != nil {
		t.Fatalf("no readable reply frame: %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("%d bytes after the reply frame", out.Len())
	}
	var rh responseHeader
	dec := c.decoder(reply)
	defer dec.release()
	if err := dec.decode(&rh); err != nil {
		t.Fatalf("reply header does not decode: %v", err)
	}
	if hdrErr != nil {
		if rh.Error == nil {
			t.Fatal("malformed header answered without an error")
		}
		return
	}
	if rh.Seq != hdr.Seq {
		t.Fatalf("reply seq %d for request seq %d", rh.Seq, hdr.Seq)
	}
}

// checkArgsStable decodes the arguments as the server would, then checks
// that re-encoding and decoding gives the same value.
func checkArgsStable(t *testing.T, c *wireCodec, payload []byte) {
	dec := c.decoder(payload)
	defer dec.release()
	var hdr requestHeader
	if dec.decode(&hdr) != nil {
		return
	}
	mk, ok := fuzzMethods[hdr.Method]
	if !ok {
		return
	}
	args := mk()
	if dec.decode(args) != nil {
		return
	}
	buf1, err := c.encodeFrame(&hdr, args)
	if err != nil {
		return // too large to send back: not a decoding question
	}
	frame1 := append([]byte(nil), buf1.Bytes()...)
	c.putBuf(buf1)
	args2 := mk()
	d2 := c.decoder(frame1[frameLenSize:])
	defer d2.release()
	var hdr2 requestHeader
	if err := d2.decode(&hdr2); err != nil || hdr2 != hdr {
		t.Fatalf("header does not round-trip: %+v -> %+v (%v)", hdr, hdr2, err)
	}
	if err := d2.decode(args2); err != nil {
		t.Fatalf("re-encoded %s arguments do not decode: %v", hdr.Method, err)
	}
	buf2, err := c.encodeFrame(&hdr2, args2)
	if err != nil {
		t.Fatalf("re-decoded arguments do not encode: %v", err)
	}
	defer c.putBuf(buf2)
	if !bytes.Equal(frame1, buf2.Bytes()) {
		t.Fatalf("%s arguments not stable under decode/encode:\n%x\n%x\n%#v\n%#v", hdr.Method, frame1, buf2.Bytes(), args, args2)
	}
}
