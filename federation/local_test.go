package federation

import (
	"context"
	"errors"
	"testing"

	"consulate/structs"
)

func TestLocalServersFailover(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{}}
	l := NewLocalServers(fc, "dc1")
	if err := l.Call(context.Background(), "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoServers) {
		t.Fatalf("no servers: %v", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		l.Update(Server{Name: n, Datacenter: "dc1", Addr: structs.ServerAddr(n + ":8300"), Status: structs.StatusAlive})
	}
	l.Update(Server{Name: "c", Datacenter: "dc1", Addr: "c:8300", Status: structs.StatusFailed})
	first := string(l.Addrs()[0])
	fc.fail[first] = errors.New("connection refused")
	var got string
	if err := l.Call(context.Background(), "m", &structs.EmptyRequest{}, &got); err != nil {
		t.Fatal(err)
	}
	if got == first || got == "c:8300" {
		t.Fatalf("answered by %s", got)
	}
	if string(l.Addrs()[0]) != got {
		t.Fatalf("preferred not moved to the server that answered")
	}
	for a := range map[string]bool{"a:8300": true, "b:8300": true} {
		fc.fail[a] = errors.New("down")
	}
	if err := l.Call(context.Background(), "m", &structs.EmptyRequest{}, &got); !errors.Is(err, structs.ErrNoServers) {
		t.Fatalf("all down: %v", err)
	}
}

// A write that got no answer is not sent again, but the server that did
// not answer stops being the first asked: the next call goes elsewhere
// instead of hanging on the same cut-off or paused server.
func TestLocalServersDemoteSilentServer(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{}}
	l := NewLocalServers(fc, "dc1")
	for _, n := range []string{"a", "b", "c"} {
		l.Update(Server{Name: n, Datacenter: "dc1", Addr: structs.ServerAddr(n + ":8300"), Status: structs.StatusAlive})
	}
	first := string(l.Addrs()[0])
	fc.fail[first] = context.DeadlineExceeded
	write := &structs.RegisterRequest{Datacenter: "dc1", Node: "n"}
	if err := l.Call(context.Background(), "m", write, new(string)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a write without an answer: %v", err)
	}
	if n := len(fc.calls); n != 1 {
		t.Fatalf("the write went to %d servers: %v", n, fc.calls)
	}
	if string(l.Addrs()[0]) == first {
		t.Fatalf("%s did not answer but is still asked first", first)
	}
	// A server that answered with an error stays preferred.
	second := string(l.Addrs()[0])
	fc.fail[second] = &structs.RemoteError{Msg: "boom"}
	l.Call(context.Background(), "m", write, new(string))
	if string(l.Addrs()[0]) != second {
		t.Fatalf("a server that answered lost the preference")
	}
}

// A server over its rate limit did not run the call, so the next server
// gets it, write or not; every call names the local datacenter.
func TestLocalServersRateLimitedMovesOn(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{}}
	l := NewLocalServers(fc, "dc7")
	for _, n := range []string{"a", "b"} {
		l.Update(Server{Name: n, Datacenter: "dc7", Addr: structs.ServerAddr(n + ":8300"), Status: structs.StatusAlive})
	}
	first := string(l.Addrs()[0])
	fc.fail[first] = &structs.RemoteError{Code: structs.CodeRateLimited, Msg: "rate limit exceeded"}
	var got string
	write := &structs.RegisterRequest{Datacenter: "dc7", Node: "n"}
	if err := l.Call(context.Background(), "m", write, &got); err != nil {
		t.Fatal(err)
	}
	if got == first || len(fc.calls) != 2 {
		t.Fatalf("answered by %s after %v", got, fc.calls)
	}
	for _, dc := range fc.dcs {
		if dc != "dc7" {
			t.Fatalf("calls addressed to %v, want dc7", fc.dcs)
		}
	}
	// Every server limited: the caller sees the rate limit, not "no servers".
	for a := range map[string]bool{"a:8300": true, "b:8300": true} {
		fc.fail[a] = fc.fail[first]
	}
	if err := l.Call(context.Background(), "m", write, &got); !errors.Is(err, structs.ErrRateLimited) {
		t.Fatalf("all limited: %v", err)
	}
}
