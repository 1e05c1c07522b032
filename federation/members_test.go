package federation

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/metrics"
	"consulate/structs"
)

func member(name, addr, dc string, server bool, status structs.MemberStatus) structs.Member {
	tags := structs.MemberTags{Datacenter: dc, Server: server, ServerPort: 8300}.Tags(nil)
	return structs.Member{Name: name, Addr: addr, Port: 8302, Tags: tags, Status: status}
}

func routerView(r *Router) map[string][]string {
	out := map[string][]string{}
	for _, h := range r.Health() {
		for _, s := range h.Servers {
			out[h.Datacenter] = append(out[h.Datacenter], s.Name+"@"+string(s.Addr))
		}
		slices.Sort(out[h.Datacenter])
	}
	return out
}

func TestRouterSyncMembers(t *testing.T) {
	r := newTestRouter(t, &fakeCaller{}, nil)
	// This server, known to the router from the start.
	r.UpdateServer(Server{Name: "me.dc1", Datacenter: "dc1", Addr: "10.0.0.1:8300", Status: structs.StatusAlive})
	r.SyncMembers([]structs.Member{
		member("a.dc2", "10.0.2.1", "dc2", true, structs.StatusAlive),
		member("b.dc2", "10.0.2.2", "dc2", true, structs.StatusFailed),
		member("c.dc3", "10.0.3.1", "dc3", true, structs.StatusAlive),
		member("client", "10.0.9.9", "dc2", false, structs.StatusAlive), // not a server
	}, "me.dc1")
	want := map[string][]string{
		"dc1": {"me.dc1@10.0.0.1:8300"},
		"dc2": {"a.dc2@10.0.2.1:8300", "b.dc2@10.0.2.2:8300"},
		"dc3": {"c.dc3@10.0.3.1:8300"},
	}
	if got := routerView(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("after first sync: %v", got)
	}
	// b left, dc3 vanished from the pool (reaped): both forgotten, and
	// this server is kept though the pool does not list it.
	r.SyncMembers([]structs.Member{
		member("a.dc2", "10.0.2.1", "dc2", true, structs.StatusAlive),
		member("b.dc2", "10.0.2.2", "dc2", true, structs.StatusLeft),
	}, "me.dc1")
	want = map[string][]string{"dc1": {"me.dc1@10.0.0.1:8300"}, "dc2": {"a.dc2@10.0.2.1:8300"}}
	if got := routerView(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("after second sync: %v", got)
	}
	if got := r.KnownDatacenters(); !reflect.DeepEqual(got, []string{"dc1", "dc2"}) {
		t.Fatalf("known datacenters %v", got)
	}
}

func TestRouterLogMembersChanged(t *testing.T) {
	var buf bytes.Buffer
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	r, err := New(cfg, &fakeCaller{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.LogMembersChanged("member-failed", []structs.Member{
		member("a.dc2", "10.0.2.1", "dc2", true, structs.StatusFailed),
		member("nodot", "10.0.2.2", "dc2", true, structs.StatusFailed), // not NODE.DC: skipped
	})
	out := buf.String()
	for _, want := range []string{`msg="WAN membership change"`, "event=member-failed", "member=a.dc2", "datacenter=dc2", "status=failed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "WAN membership change") != 1 {
		t.Fatalf("want one line:\n%s", out)
	}
}

func TestLocalServersSyncMembers(t *testing.T) {
	l := NewLocalServers(&fakeCaller{}, "dc1")
	l.SyncMembers([]structs.Member{
		member("s1", "10.0.0.1", "dc1", true, structs.StatusAlive),
		member("s2", "10.0.0.2", "dc1", true, structs.StatusAlive),
		member("s3", "10.0.0.3", "dc1", true, structs.StatusFailed),
		member("other", "10.0.2.1", "dc2", true, structs.StatusAlive),
		member("client", "10.0.0.9", "dc1", false, structs.StatusAlive),
	}, "dc1")
	got := l.Addrs()
	slices.Sort(got)
	if want := []structs.ServerAddr{"10.0.0.1:8300", "10.0.0.2:8300"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("addrs %v", got)
	}
	l.SyncMembers([]structs.Member{
		member("s1", "10.0.0.1", "dc1", true, structs.StatusLeft),
		member("s3", "10.0.0.3", "dc1", true, structs.StatusAlive),
	}, "dc1")
	got = l.Addrs()
	slices.Sort(got)
	if want := []structs.ServerAddr{"10.0.0.2:8300", "10.0.0.3:8300"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("addrs after change %v", got)
	}
}

func TestHealthWithLeaders(t *testing.T) {
	r := newTestRouter(t, &fakeCaller{}, nil)
	addDC(r, "dc1", 1, structs.StatusAlive)
	addDC(r, "dc2", 2, structs.StatusAlive)
	addDC(r, "dc3", 1, structs.StatusFailed)
	addDC(r, "dc4", 1, structs.StatusAlive)
	var mu sync.Mutex
	asked := map[string]bool{}
	rpc := func(ctx context.Context, method structs.Method, args, reply any) error {
		if method != structs.MethodStatusLeader {
			t.Errorf("method %s", method)
		}
		dc := args.(*structs.EmptyRequest).Datacenter
		mu.Lock()
		asked[dc] = true
		mu.Unlock()
		switch dc {
		case "dc1", "dc2":
			*reply.(*string) = "10.0.0.1:8300"
			return nil
		case "dc3":
			return errors.New("unreachable")
		default: // dc4 hangs: the deadline ends the ask
			<-ctx.Done()
			return ctx.Err()
		}
	}
	start := time.Now()
	rows := r.HealthWithLeaders(context.Background(), rpc)
	if took := time.Since(start); took > LeaderAskTimeout+time.Second {
		t.Fatalf("took %v", took)
	}
	got := map[string]bool{}
	for _, row := range rows {
		got[row.Datacenter] = row.HasLeader
	}
	if want := map[string]bool{"dc1": true, "dc2": true, "dc3": false, "dc4": false}; !reflect.DeepEqual(got, want) {
		t.Fatalf("HasLeader %v", got)
	}
	if len(asked) != 4 {
		t.Fatalf("asked %v", asked)
	}
	if len(rows) != len(r.Health()) || rows[0].DCHealth.Datacenter != r.Health()[0].Datacenter {
		t.Fatal("rows not in the router's order")
	}
}

func TestRouterCollect(t *testing.T) {
	r := newTestRouter(t, &fakeCaller{}, nil)
	addDC(r, "dc2", 2, structs.StatusAlive)
	r.UpdateServer(Server{Name: "s2.dc2", Datacenter: "dc2", Addr: "dc2-2:8300", Status: structs.StatusFailed})
	got := map[string]float64{}
	r.Collect(func(name string, l metrics.Labels, v float64) {
		got[name+"/"+l["network"]+"/"+l["datacenter"]] = v
	})
	for k, want := range map[string]float64{
		"consul.wan.servers.alive//dc2":  1,
		"consul.wan.servers.failed//dc2": 1,
		"consul.wan.servers.flaps//dc2":  0,
		"consul.wan.rpc.requests//dc2":   0,
		"consul.wan.rpc.errors//dc2":     0,
	} {
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (set %v), want %v", k, v, ok, want)
		}
	}
}
