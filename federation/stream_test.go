package federation

import (
	"context"
	"errors"
	"testing"
	"time"

	"consulate/structs"
)

// streamFrom runs a stream and returns the addresses its frames came from.
func streamFrom(ctx context.Context, run func(ctx context.Context, newFrame func() any, recv func(any) error) error) ([]string, error) {
	var got []string
	err := run(ctx, func() any { return new(string) }, func(f any) error {
		got = append(got, *f.(*string))
		return nil
	})
	return got, err
}

func TestLocalServersStreamMovesOnOnlyBeforeAFrame(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{}}
	l := NewLocalServers(fc, "dc1")
	req := &structs.SubscribeRequest{ServiceName: "web"}
	run := func(ctx context.Context, nf func() any, recv func(any) error) error {
		return l.Stream(ctx, structs.MethodSubscribeServiceHealth, req, nf, recv)
	}
	if _, err := streamFrom(context.Background(), run); !errors.Is(err, structs.ErrNoServers) {
		t.Fatalf("no servers: %v", err)
	}
	for _, n := range []string{"a", "b"} {
		l.Update(Server{Name: n, Datacenter: "dc1", Addr: structs.ServerAddr(n + ":8300"), Status: structs.StatusAlive})
	}
	first := string(l.Addrs()[0])
	fc.fail[first] = structs.ErrUnreachable
	got, err := streamFrom(context.Background(), run)
	if err != nil || len(got) != 1 || got[0] == first {
		t.Fatalf("got %v, %v: want one frame from the other server", got, err)
	}
	if string(l.Addrs()[0]) != got[0] {
		t.Fatal("preference did not move to the server that streamed")
	}
	// An answer (here: subscription closed) is returned, not retried.
	fc.fail = map[string]error{got[0]: structs.ToRemoteError(structs.ErrSubscriptionClosed)}
	fc.calls = nil
	if _, err := streamFrom(context.Background(), run); !errors.Is(err, structs.ErrSubscriptionClosed) {
		t.Fatalf("err = %v, want ErrSubscriptionClosed", err)
	}
	if len(fc.calls) != 1 {
		t.Fatalf("an answered stream went to %d servers", len(fc.calls))
	}
	// recv's error after a frame is returned as is, not retried.
	fc.fail = map[string]error{}
	fc.calls = nil
	errStop := errors.New("stop")
	err = l.Stream(context.Background(), structs.MethodSubscribeServiceHealth, req,
		func() any { return new(string) }, func(any) error { return errStop })
	if err != errStop || len(fc.calls) != 1 {
		t.Fatalf("err = %v after %d servers, want recv's error from one", err, len(fc.calls))
	}
}

func TestRouterStreamDCNearestFirst(t *testing.T) {
	rtts := map[string]time.Duration{"s1.dc2": 50 * time.Millisecond, "s2.dc2": 5 * time.Millisecond}
	fc := &fakeCaller{fail: map[string]error{}}
	r := newTestRouter(t, fc, rtts)
	addDC(r, "dc2", 2, structs.StatusAlive)
	run := func(ctx context.Context, nf func() any, recv func(any) error) error {
		return r.StreamDC(ctx, "dc2", structs.MethodSubscribeServiceHealth, &structs.SubscribeRequest{Datacenter: "dc2"}, nf, recv)
	}
	got, err := streamFrom(context.Background(), run)
	if err != nil || len(got) != 1 || got[0] != "dc2-2:8300" {
		t.Fatalf("got %v, %v: want the nearest server", got, err)
	}
	fc.fail["dc2-2:8300"] = structs.ErrUnreachable
	got, err = streamFrom(context.Background(), run)
	if err != nil || len(got) != 1 || got[0] != "dc2-1:8300" {
		t.Fatalf("got %v, %v: want the next server", got, err)
	}
	fc.fail["dc2-1:8300"] = structs.ErrUnreachable
	if _, err := streamFrom(context.Background(), run); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("err = %v, want ErrNoDCPath", err)
	}
	var unknown *structs.ErrUnknownDC
	_, err = streamFrom(context.Background(), func(ctx context.Context, nf func() any, recv func(any) error) error {
		return r.StreamDC(ctx, "dc9", structs.MethodSubscribeServiceHealth, &structs.SubscribeRequest{}, nf, recv)
	})
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want ErrUnknownDC", err)
	}
}
