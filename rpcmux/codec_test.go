package rpcmux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/structs"
)

func TestRPCTypeString(t *testing.T) {
	cases := map[RPCType]string{RPCPlain: "rpc", RPCRaft: "raft", RPCMultiplex: "multiplex", RPCTLS: "tls", RPCTLSInsecure: "tls-insecure", 9: "unknown(9)"}
	for typ, want := range cases {
		if got := typ.String(); got != want {
			t.Errorf("RPCType(%d).String() = %q, want %q", byte(typ), got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if err := DefaultPoolConfig().Validate(); err != nil {
		t.Fatalf("default pool config invalid: %v", err)
	}
	bad := DefaultConfig()
	bad.MaxMessageSize = 0
	bad.HandshakeTimeout = -1
	if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero MaxMessageSize: got %v, want ErrInvalidConfig", err)
	}
	if m, err := New(bad, newTestHandler(), nil); !errors.Is(err, ErrInvalidConfig) || m != nil {
		t.Fatalf("New with an invalid config: got %v, want ErrInvalidConfig", err)
	}
	for name, mutate := range map[string]func(*Config){
		"negative MaxConnsPerClient": func(c *Config) { c.MaxConnsPerClient = -1 },
		"zero MaxStreamsPerSession":  func(c *Config) { c.MaxStreamsPerSession = 0 },
		"zero PlainIdleTimeout":      func(c *Config) { c.PlainIdleTimeout = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if c := DefaultConfig(); c.MaxConnsPerClient != 100 || c.HandshakeTimeout != 5*time.Second {
		t.Errorf("defaults differ from Consul's (100 conns per client, 5s handshake): %+v", c)
	}
	badPool := DefaultPoolConfig()
	badPool.MaxCallsPerSession = 0
	if err := badPool.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("zero MaxCallsPerSession: got %v, want ErrInvalidConfig", err)
	}
	if p, err := NewPool(badPool, nil); !errors.Is(err, ErrInvalidConfig) || p != nil {
		t.Fatalf("NewPool with an invalid config: got %v, want ErrInvalidConfig", err)
	}
	badPool = DefaultPoolConfig()
	badPool.MaxIdleStreams = -1
	if err := badPool.Validate(); err == nil {
		t.Fatal("negative MaxIdleStreams accepted")
	}
	if def, pool := DefaultConfig(), DefaultPoolConfig(); pool.MaxCallsPerSession+pool.MaxIdleStreams >= def.MaxStreamsPerSession {
		t.Errorf("pool default %d calls + %d idle per session would hit the server's cap %d",
			pool.MaxCallsPerSession, pool.MaxIdleStreams, def.MaxStreamsPerSession)
	}
}

func TestCodecFrameRoundTrip(t *testing.T) {
	c := newWireCodec(1 << 20)
	n := 42
	in := echoArgs{
		S: "héllo", D: 1500 * time.Millisecond,
		T: time.Date(2024, 2, 29, 13, 14, 15, 123456789, time.FixedZone("x", 3600)),
		B: []byte{0, 1, 2, 255}, M: map[string]string{"a": "b"}, L: []string{"x", "y"}, Ptr: &n,
	}
	var buf bytes.Buffer
	if err := c.writeFrame(&buf, &requestHeader{Method: "Test.Echo", Seq: 7, Timeout: 99}, &in); err != nil {
		t.Fatal(err)
	}
	payload, err := c.readFrame(&buf)
	if err != nil {
		t.Fatal(err)
	}
	dec := c.decoder(payload)
	defer dec.release()
	var hdr requestHeader
	var out echoArgs
	if err := dec.decode(&hdr); err != nil {
		t.Fatal(err)
	}
	if err := dec.decode(&out); err != nil {
		t.Fatal(err)
	}
	if hdr != (requestHeader{Method: "Test.Echo", Seq: 7, Timeout: 99}) {
		t.Errorf("header = %+v", hdr)
	}
	if !out.T.Equal(in.T) {
		t.Errorf("time = %v, want %v", out.T, in.T)
	}
	out.T, in.T = time.Time{}, time.Time{}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("body = %+v, want %+v", out, in)
	}
}

func TestCodecRejectsOversizedAndEmptyFrames(t *testing.T) {
	c := newWireCodec(100)
	if _, err := c.encodeFrame(&requestHeader{}, make([]byte, 200)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("encode oversize: %v, want ErrMessageTooLarge", err)
	}
	// A length claiming 4 GiB must be refused before anything is read.
	var lenBuf [4]byte
	binary.BigEndian.PutUint32(lenBuf[:], 0xFFFFFFFF)
	if _, err := c.readFrame(bytes.NewReader(lenBuf[:])); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("read oversize: %v, want ErrMessageTooLarge", err)
	}
	if _, err := c.readFrame(bytes.NewReader(make([]byte, 4))); !errors.Is(err, ErrProtocol) {
		t.Fatalf("read empty frame: %v, want ErrProtocol", err)
	}
	binary.BigEndian.PutUint32(lenBuf[:], 10)
	if _, err := c.readFrame(bytes.NewReader(append(lenBuf[:], 1, 2))); !errors.Is(err, errUnexpectedEOF) {
		t.Fatalf("read truncated frame: %v, want unexpected EOF", err)
	}
}

func TestPipeEchoAndErrors(t *testing.T) {
	h := newTestHandler()
	m := newPipeMux(t, testConfig(), h)
	p := pipePool(t, m, testPoolConfig())
	ctx := ctxTimeout(t, 10*time.Second)

	n := 5
	in := echoArgs{S: "x", D: time.Minute, T: time.Unix(1700000000, 5).UTC(), B: []byte("kv"), M: map[string]string{"k": "v"}, Ptr: &n}
	var out echoArgs
	if err := p.Call(ctx, "dc1", "pipe", "Test.Echo", &in, &out); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("echo = %+v, want %+v", out, in)
	}

	t.Run("unknown method", func(t *testing.T) {
		err := p.Call(ctx, "dc1", "pipe", "Nope.Nothing", &struct{}{}, nil)
		var re *structs.RemoteError
		if !errors.Is(err, structs.ErrUnknownMethod) || !errors.As(err, &re) || re.Code != structs.CodeUnknownMethod {
			t.Fatalf("err = %#v, want remote CodeUnknownMethod", err)
		}
	})

	t.Run("error codes", func(t *testing.T) {
		err := p.Call(ctx, "dc1", "pipe", "Test.Error", &errArgs{Kind: "noleader"}, nil)
		if !errors.Is(err, structs.ErrNoLeader) {
			t.Errorf("noleader: %v", err)
		}
		if _, ok := err.(*structs.RemoteError); !ok {
			t.Errorf("noleader came back as %T, want *structs.RemoteError", err)
		}
		err = p.Call(ctx, "dc1", "pipe", "Test.Error", &errArgs{Kind: "unknowndc"}, nil)
		var udc *structs.ErrUnknownDC
		if !errors.As(err, &udc) || udc.DC != "dc9" || !reflect.DeepEqual(udc.Known, []string{"dc1", "dc2"}) {
			t.Errorf("unknowndc: %v (%+v)", err, udc)
		}
		err = p.Call(ctx, "dc1", "pipe", "Test.Error", &errArgs{Kind: "bad"}, nil)
		var bad *structs.BadRequestError
		if !errors.As(err, &bad) || bad.Reason != "missing node name" {
			t.Errorf("bad request: %v", err)
		}
		if err := p.Call(ctx, "dc1", "pipe", "Test.Error", &errArgs{Kind: "notfound"}, nil); !errors.Is(err, structs.ErrNotFound) {
			t.Errorf("notfound: %v", err)
		}
		err = p.Call(ctx, "dc1", "pipe", "Test.Error", &errArgs{Kind: "plain"}, nil)
		var re *structs.RemoteError
		if !errors.As(err, &re) || re.Msg != "plain failure" || re.Code != "" {
			t.Errorf("plain: %#v", err)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		// A string where the handler expects a struct.
		err := p.Call(ctx, "dc1", "pipe", "Test.Echo", "not a struct", nil)
		var bad *structs.BadRequestError
		if !errors.As(err, &bad) {
			t.Fatalf("err = %v, want BadRequestError", err)
		}
	})

	t.Run("panic is recovered", func(t *testing.T) {
		err := p.Call(ctx, "dc1", "pipe", "Test.Panic", &struct{}{}, nil)
		if !errors.Is(err, ErrHandlerPanic) {
			t.Fatalf("err = %v, want ErrHandlerPanic", err)
		}
		var re *structs.RemoteError
		if !errors.As(err, &re) {
			t.Fatalf("panic error %T is not a RemoteError", err)
		}
		// The session and server survive.
		if err := p.Call(ctx, "dc1", "pipe", "Test.Echo", &echoArgs{S: "after"}, &out); err != nil || out.S != "after" {
			t.Fatalf("call after panic: %v %q", err, out.S)
		}
	})

	// Every call above ran on one session, reusing streams.
	if st := p.Stats(); st.Sessions != 1 || st.Streams > 1 {
		t.Errorf("stats = %+v, want 1 session and at most 1 stream", st)
	}
}

func TestPipeOversizedMessages(t *testing.T) {
	h := newTestHandler()
	scfg := testConfig()
	scfg.MaxMessageSize = 64 << 10
	m := newPipeMux(t, scfg, h)
	pcfg := testPoolConfig()
	pcfg.MaxMessageSize = 1 << 20
	p := pipePool(t, m, pcfg)
	ctx := ctxTimeout(t, 10*time.Second)

	// The client allows it, the server does not.
	err := p.Call(ctx, "dc1", "pipe", "Test.Echo", &echoArgs{B: make([]byte, 100<<10)}, nil)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("server-side oversize: %v, want ErrMessageTooLarge", err)
	}
	var re *structs.RemoteError
	if !errors.As(err, &re) || re.Code != structs.CodeTooLarge {
		t.Fatalf("server-side oversize should be remote CodeTooLarge, got %#v", err)
	}

	// The client refuses before sending.
	before := h.calls.Load()
	err = p.Call(ctx, "dc1", "pipe", "Test.Echo", &echoArgs{B: make([]byte, 2<<20)}, nil)
	if !errors.Is(err, ErrMessageTooLarge) || errors.As(err, &re) {
		t.Fatalf("client-side oversize: %v, want local ErrMessageTooLarge", err)
	}

	// A reply too large for the server to send comes back as an error.
	err = p.Call(ctx, "dc1", "pipe", "Test.Big", &sizeArgs{N: 100 << 10}, nil)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("oversized reply: %v", err)
	}
	if got := h.calls.Load() - before; got != 1 {
		t.Fatalf("handler ran %d times, want 1 (only Test.Big)", got)
	}

	// The session still works.
	if err := p.Call(ctx, "dc1", "pipe", "Test.Echo", &echoArgs{S: "ok"}, nil); err != nil {
		t.Fatalf("call after oversize: %v", err)
	}
}

func TestPipeClientRefusesOversizedReply(t *testing.T) {
	h := newTestHandler()
	m := newPipeMux(t, testConfig(), h)
	pcfg := testPoolConfig()
	pcfg.MaxMessageSize = 4 << 10
	p := pipePool(t, m, pcfg)
	ctx := ctxTimeout(t, 10*time.Second)
	var out []byte
	err := p.Call(ctx, "dc1", "pipe", "Test.Big", &sizeArgs{N: 64 << 10}, &out)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("err = %v, want ErrMessageTooLarge", err)
	}
	if err := p.Call(ctx, "dc1", "pipe", "Test.Big", &sizeArgs{N: 10}, &out); err != nil || len(out) != 10 {
		t.Fatalf("small call after refused reply: %v len=%d", err, len(out))
	}
}

// A raw stream that declares a huge frame gets an answer and is closed,
// without the server allocating for it.
func TestPipeRawHugeLength(t *testing.T) {
	h := newTestHandler()
	m := newPipeMux(t, testConfig(), h)
	cli, srv := net.Pipe()
	if !m.track(srv) {
		t.Fatal("mux shut down")
	}
	m.wg.Go(func() { m.serveSession(&preambleConn{Conn: srv}, "pipe") })
	ys, err := yamux.Client(cli, yamuxConfig(time.Second, time.Second, 16))
	if err != nil {
		t.Fatal(err)
	}
	defer ys.Close()
	st, err := ys.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write([]byte{0xFF, 0xFF, 0xFF, 0xF0}); err != nil {
		t.Fatal(err)
	}
	c := newWireCodec(1 << 20)
	payload, err := c.readFrame(st)
	if err != nil {
		t.Fatalf("reading refusal: %v", err)
	}
	dec := c.decoder(payload)
	var rh responseHeader
	if err := dec.decode(&rh); err != nil {
		t.Fatal(err)
	}
	if rh.Error == nil || rh.Error.Code != structs.CodeTooLarge {
		t.Fatalf("response = %+v, want CodeTooLarge", rh)
	}
	// The server closes its side.
	if _, err := st.Read(make([]byte, 1)); err == nil {
		t.Fatal("stream still open after refusal")
	}
}
