package rpcmux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// streamHandler serves structs.MethodSubscribeServiceHealth for the
// tests, its behaviour picked by the request's ServiceName:
// "count:N" sends N frames and ends cleanly; "closed:N" sends N then ends
// with structs.ErrSubscriptionClosed; "hold" sends one frame and waits
// for ctx (its ctx goes to ctxCh); "big:N" sends a frame with an N-byte
// node name.
type streamHandler struct {
	*testHandler
	ctxCh chan context.Context
}

func newStreamHandler() *streamHandler {
	return &streamHandler{testHandler: newTestHandler(), ctxCh: make(chan context.Context, 16)}
}

func (h *streamHandler) NewCall(method structs.Method) (any, any, bool) {
	if method == structs.MethodSubscribeServiceHealth {
		return &structs.SubscribeRequest{}, nil, true
	}
	return h.testHandler.NewCall(method)
}

func (h *streamHandler) Stream(ctx context.Context, _ structs.Method, args any, send func(any) error) error {
	name := args.(*structs.SubscribeRequest).ServiceName
	kind, arg, _ := strings.Cut(name, ":")
	n, _ := strconv.Atoi(arg)
	switch kind {
	case "count", "closed":
		for i := range n {
			if err := send(&structs.ServiceHealthEvent{Index: uint64(i + 1), Snapshot: i == 0}); err != nil {
				return err
			}
		}
		if kind == "closed" {
			return fmt.Errorf("leader changed: %w", structs.ErrSubscriptionClosed)
		}
		return nil
	case "hold":
		if err := send(&structs.ServiceHealthEvent{Index: 1, Snapshot: true}); err != nil {
			return err
		}
		h.ctxCh <- ctx
		<-ctx.Done()
		return ctx.Err()
	case "big":
		ev := &structs.ServiceHealthEvent{Index: 1, Deleted: []structs.ServiceInstanceID{{Node: strings.Repeat("x", n)}}}
		return send(ev)
	}
	return errors.New("unknown test stream")
}

func startStreamServer(t *testing.T, cfg Config, h Handler) structs.ServerAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := mustMux(t, cfg, h)
	done := make(chan struct{})
	go func() { _ = m.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("mux shutdown: %v", err)
		}
		<-done
	})
	return structs.ServerAddr(ln.Addr().String())
}

func subscribe(ctx context.Context, p *Pool, addr structs.ServerAddr, name string, got *[]uint64) error {
	return p.Stream(ctx, "dc1", addr, structs.MethodSubscribeServiceHealth, &structs.SubscribeRequest{ServiceName: name},
		func() any { return new(structs.ServiceHealthEvent) },
		func(f any) error {
			*got = append(*got, f.(*structs.ServiceHealthEvent).Index)
			return nil
		})
}

func TestStreamManyFrames(t *testing.T) {
	addr := startStreamServer(t, testConfig(), newStreamHandler())
	p := newTestPool(t, testPoolConfig())
	var got []uint64
	if err := subscribe(ctxTimeout(t, 10*time.Second), p, addr, "count:500", &got); err != nil {
		t.Fatalf("Stream: %v", err)
	}
	if len(got) != 500 || got[0] != 1 || got[499] != 500 {
		t.Fatalf("got %d frames (first %v)", len(got), got[:min(3, len(got))])
	}
	// The session is still good for calls, and streams never park idle.
	if err := p.Call(ctxTimeout(t, 5*time.Second), "dc1", addr, "Test.Echo", &echoArgs{S: "x"}, &echoArgs{}); err != nil {
		t.Fatal(err)
	}
	// yamux drops a closed stream once the other side's close arrives,
	// so wait for it rather than read it at once.
	testutil.WaitFor(t, 5*time.Second, "the stream's yamux stream closed, not parked", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, st := range p.addrs {
			if st.sess != nil && st.sess.key.lane == laneBlocking && st.sess.ys.NumStreams() != 0 {
				return false
			}
		}
		return true
	})
}

func TestStreamServerError(t *testing.T) {
	addr := startStreamServer(t, testConfig(), newStreamHandler())
	p := newTestPool(t, testPoolConfig())
	var got []uint64
	err := subscribe(ctxTimeout(t, 10*time.Second), p, addr, "closed:3", &got)
	if !errors.Is(err, structs.ErrSubscriptionClosed) {
		t.Fatalf("err = %v, want ErrSubscriptionClosed", err)
	}
	var re *structs.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("err %T is not a RemoteError", err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d frames before the error, want 3", len(got))
	}
	// A handler that does not serve streams answers ErrUnknownMethod.
	plain := startStreamServer(t, testConfig(), newTestHandler())
	err = subscribe(ctxTimeout(t, 10*time.Second), p, plain, "count:1", &got)
	if !errors.Is(err, structs.ErrUnknownMethod) {
		t.Fatalf("err = %v, want ErrUnknownMethod", err)
	}
}

func TestStreamClientCancelReachesServer(t *testing.T) {
	h := newStreamHandler()
	addr := startStreamServer(t, testConfig(), h)
	p := newTestPool(t, testPoolConfig())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errCh := make(chan error, 1)
	var got []uint64
	go func() { errCh <- subscribe(ctx, p, addr, "hold", &got) }()
	var hctx context.Context
	select {
	case hctx = <-h.ctxCh:
	case <-time.After(5 * time.Second):
		t.Fatal("stream handler never ran")
	}
	cancel()
	select {
	case err := <-errCh:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelled stream did not return")
	}
	testutil.WaitFor(t, time.Second, "server ctx cancelled", func() bool { return hctx.Err() != nil })

	// recv's error also ends it, and reaches the server the same way.
	errRecv := errors.New("enough")
	go func() {
		errCh <- p.Stream(context.Background(), "dc1", addr, structs.MethodSubscribeServiceHealth,
			&structs.SubscribeRequest{ServiceName: "hold"},
			func() any { return new(structs.ServiceHealthEvent) },
			func(any) error {
				hctx = <-h.ctxCh
				return errRecv
			})
	}()
	select {
	case err := <-errCh:
		if err != errRecv {
			t.Fatalf("err = %v, want recv's error as is", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not end on recv's error")
	}
	testutil.WaitFor(t, time.Second, "server ctx cancelled", func() bool { return hctx.Err() != nil })
}

func TestStreamDeadline(t *testing.T) {
	h := newStreamHandler()
	addr := startStreamServer(t, testConfig(), h)
	p := newTestPool(t, testPoolConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var got []uint64
	err := subscribe(ctx, p, addr, "hold", &got)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	hctx := <-h.ctxCh
	if _, ok := hctx.Deadline(); !ok {
		t.Fatal("the caller's deadline did not reach the server")
	}
	testutil.WaitFor(t, time.Second, "server ctx ended", func() bool { return hctx.Err() != nil })
}

func TestStreamServerShutdownEndsClient(t *testing.T) {
	h := newStreamHandler()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := mustMux(t, testConfig(), h)
	go func() { _ = m.Serve(ln) }()
	p := newTestPool(t, testPoolConfig())
	errCh := make(chan error, 1)
	var got []uint64
	go func() {
		errCh <- subscribe(context.Background(), p, structs.ServerAddr(ln.Addr().String()), "hold", &got)
	}()
	select {
	case <-h.ctxCh:
	case <-time.After(5 * time.Second):
		t.Fatal("stream handler never ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	select {
	case err := <-errCh:
		if err == nil {
			t.Fatal("stream ended without error on server shutdown")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server shutdown did not end the client's stream")
	}
}

func TestStreamOversizedFrame(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 4096
	addr := startStreamServer(t, cfg, newStreamHandler())
	p := newTestPool(t, testPoolConfig())
	var got []uint64
	err := subscribe(ctxTimeout(t, 5*time.Second), p, addr, "big:10000", &got)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("server side: err = %v, want ErrMessageTooLarge", err)
	}

	// The client's own limit holds too.
	addr = startStreamServer(t, testConfig(), newStreamHandler())
	pcfg := testPoolConfig()
	pcfg.MaxMessageSize = 4096
	small := newTestPool(t, pcfg)
	err = subscribe(ctxTimeout(t, 5*time.Second), small, addr, "big:10000", &got)
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("client side: err = %v, want ErrMessageTooLarge", err)
	}
}

func TestStreamsAndCallsShareSession(t *testing.T) {
	h := newStreamHandler()
	addr := startStreamServer(t, testConfig(), h)
	p := newTestPool(t, testPoolConfig())
	ctx := ctxTimeout(t, 20*time.Second)
	// Warm up both lanes' sessions, whose goroutines stay.
	var warm []uint64
	if err := subscribe(ctx, p, addr, "count:1", &warm); err != nil {
		t.Fatal(err)
	}
	if err := p.Call(ctx, "dc1", addr, "Test.Echo", &echoArgs{}, &echoArgs{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			var got []uint64
			if err := subscribe(ctx, p, addr, "count:50", &got); err != nil {
				errs <- err
				return
			}
			if len(got) != 50 {
				errs <- fmt.Errorf("stream %d: %d frames", i, len(got))
			}
		})
		wg.Go(func() {
			var out echoArgs
			if err := p.Call(ctx, "dc1", addr, "Test.Echo", &echoArgs{S: strconv.Itoa(i)}, &out); err != nil {
				errs <- err
			} else if out.S != strconv.Itoa(i) {
				errs <- fmt.Errorf("echo %d got %q", i, out.S)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := p.Stats(); st.Calls != 0 {
		t.Fatalf("%d calls still hold sessions", st.Calls)
	}
	// Nothing a stream started outlives it: no goroutine is left in the
	// stream code on either side, and the blocking lane holds no stream.
	// (Idle short-lane streams keep their server goroutines by design.)
	testutil.WaitForErr(t, 3*time.Second, "stream goroutines gone", func() error {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, fn := range []string{"rpcmux.(*Mux).serveStream", "rpcmux.(*Pool).streamOn", "streamHandler).Stream"} {
			if strings.Contains(stacks, fn) {
				return fmt.Errorf("a goroutine is still in %s", fn)
			}
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, st := range p.addrs {
			if st.sess != nil && st.sess.key.lane == laneBlocking && st.sess.ys.NumStreams() != 0 {
				return fmt.Errorf("blocking session holds %d streams", st.sess.ys.NumStreams())
			}
		}
		return nil
	})
}

func TestStreamRefusedOverSessionCap(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStreamsPerSession = 2
	h := newStreamHandler()
	addr := startStreamServer(t, cfg, h)
	pcfg := testPoolConfig()
	p := newTestPool(t, pcfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errCh := make(chan error, 4)
	for range 3 {
		go func() {
			var got []uint64
			errCh <- subscribe(ctx, p, addr, "hold", &got)
		}()
	}
	// All three run: the third was refused on the first session and moved
	// to another one.
	for i := range 3 {
		select {
		case <-h.ctxCh:
		case err := <-errCh:
			t.Fatalf("stream %d ended: %v", i, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d streams started", i)
		}
	}
	cancel()
	for range 3 {
		<-errCh
	}
}

// A plain (byte 0) connection serves a stream too: its frames, then the
// last one, then the connection is closed (it serves nothing after).
func TestStreamOnPlainConnection(t *testing.T) {
	addr := startStreamServer(t, testConfig(), newStreamHandler())
	conn, err := net.Dial("tcp", string(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte{byte(RPCPlain)}); err != nil {
		t.Fatal(err)
	}
	c := newWireCodec(DefaultMaxMessageSize)
	if err := c.writeFrame(conn, &requestHeader{Method: structs.MethodSubscribeServiceHealth, Seq: 7},
		&structs.SubscribeRequest{ServiceName: "closed:2"}); err != nil {
		t.Fatal(err)
	}
	var frames []uint64
	for {
		payload, err := c.readFrame(conn)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(frames), err)
		}
		dec := c.decoder(payload)
		var rh responseHeader
		if err := dec.decode(&rh); err != nil {
			t.Fatal(err)
		}
		if rh.Seq != 7 {
			t.Fatalf("seq %d", rh.Seq)
		}
		if !rh.More {
			if rh.Error == nil || rh.Error.Code != structs.CodeSubscriptionClosed {
				t.Fatalf("last frame error %+v", rh.Error)
			}
			break
		}
		var ev structs.ServiceHealthEvent
		if err := dec.decode(&ev); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, ev.Index)
	}
	if len(frames) != 2 {
		t.Fatalf("frames %v", frames)
	}
	if _, err := c.readFrame(conn); err == nil {
		t.Fatal("the connection served on after a stream")
	}
}

func TestStreamUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.3.2:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := structs.ServerAddr(ln.Addr().String())
	ln.Close() // nothing listens there now
	p := newTestPool(t, testPoolConfig())
	var got []uint64
	if err := subscribe(ctxTimeout(t, 5*time.Second), p, addr, "count:1", &got); !errors.Is(err, structs.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}
