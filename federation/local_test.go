package federation

import (
	"context"
	"errors"
	"testing"

	"consulate/structs"
)

func TestLocalServersFailover(t *testing.T) {
	fc := &fakeCaller{fail: map[string]error{}}
	l := NewLocalServers(fc)
	if err := l.Call(context.Background(), "m", &structs.EmptyRequest{}, new(string)); !errors.Is(err, structs.ErrNoServers) {
		t.Fatalf("no servers: %v", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		l.Update(Server{Name: n, Datacenter: "dc1", Addr: n + ":8300", Status: structs.StatusAlive})
	}
	l.Update(Server{Name: "c", Datacenter: "dc1", Addr: "c:8300", Status: structs.StatusFailed})
	first := l.Addrs()[0]
	fc.fail[first] = errors.New("connection refused")
	var got string
	if err := l.Call(context.Background(), "m", &structs.EmptyRequest{}, &got); err != nil {
		t.Fatal(err)
	}
	if got == first || got == "c:8300" {
		t.Fatalf("answered by %s", got)
	}
	if l.Addrs()[0] != got {
		t.Fatalf("preferred not moved to the server that answered")
	}
	for a := range map[string]bool{"a:8300": true, "b:8300": true} {
		fc.fail[a] = errors.New("down")
	}
	if err := l.Call(context.Background(), "m", &structs.EmptyRequest{}, &got); !errors.Is(err, structs.ErrNoServers) {
		t.Fatalf("all down: %v", err)
	}
}
