package userevent

import (
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"

	"consulate/structs"
)

func TestWrapUnwrapRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		ev   structs.UserEvent
	}{
		{"bare", structs.UserEvent{ID: "id-1", Name: "deploy"}},
		{"payload", structs.UserEvent{ID: "id-2", Name: "deploy", Payload: []byte("v1.2\x00bin")}},
		{"filters", structs.UserEvent{ID: "id-3", Name: "restart", NodeFilter: "^web", ServiceFilter: "api", TagFilter: "v2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Wrap(&tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unwrap(&structs.UserEvent{Name: tc.ev.Name, Payload: b, LTime: 42})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.ev
			want.Version = 1
			want.LTime = 42
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("got %+v, want %+v", *got, want)
			}
		})
	}
}

func TestUnwrapBadEnvelope(t *testing.T) {
	for name, payload := range map[string]string{
		"empty":    "",
		"not json": "deploy now",
		"no id":    `{"Payload":"eA==","Version":1}`,
		"array":    `["id"]`,
		"bad type": `{"ID":7}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Unwrap(&structs.UserEvent{Name: "x", Payload: []byte(payload)}); !errors.Is(err, ErrBadEnvelope) {
				t.Fatalf("got %v, want ErrBadEnvelope", err)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	services := map[string]*structs.NodeService{
		"web1": {ID: "web1", Service: "web", Tags: []string{"v1", "primary"}},
		"db":   {ID: "db", Service: "db"},
	}
	cases := []struct {
		name               string
		node, service, tag string
		want               bool
	}{
		{"no filters", "", "", "", true},
		{"node matches", "^node-a$", "", "", true},
		{"node differs", "^node-b$", "", "", false},
		{"node bad regexp", "(", "", "", false},
		{"service matches", "", "^web$", "", true},
		{"service partial regexp", "", "we", "", true},
		{"service absent", "", "^cache$", "", false},
		{"service bad regexp", "", "[", "", false},
		{"tag matches", "", "web", "^primary$", true},
		{"tag on other service", "", "db", "primary", false},
		{"tag absent", "", "web", "^v2$", false},
		{"tag bad regexp", "", "web", "(", false},
		{"tag without service ignored", "", "", "nomatch", true},
		{"node and service", "node", "db", "", true},
		{"node fails, service matches", "other", "db", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := &structs.UserEvent{NodeFilter: tc.node, ServiceFilter: tc.service, TagFilter: tc.tag}
			if got := Matches(ev, "node-a", services); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	if Matches(&structs.UserEvent{ServiceFilter: "web"}, "node-a", nil) {
		t.Fatal("service filter matched an agent without services")
	}
}

func ids(evs []*structs.UserEvent) []string {
	out := []string{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestRing(t *testing.T) {
	cases := []struct {
		name string
		max  int
		add  []string
		want []string
	}{
		{"empty", 3, nil, []string{}},
		{"order kept", 3, []string{"a", "b"}, []string{"a", "b"}},
		{"bounded, oldest dropped", 3, []string{"a", "b", "c", "d", "e"}, []string{"c", "d", "e"}},
		{"duplicate dropped", 3, []string{"a", "b", "a"}, []string{"a", "b"}},
		{"duplicate of a dropped one comes back", 2, []string{"a", "b", "c", "a"}, []string{"c", "a"}},
		{"max below one keeps one", 0, []string{"a", "b"}, []string{"b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(tc.max)
			for _, id := range tc.add {
				r.Add(&structs.UserEvent{ID: id})
			}
			if got := ids(r.List()); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRingListIsACopy(t *testing.T) {
	r := NewRing(2)
	r.Add(&structs.UserEvent{ID: "a"})
	l := r.List()
	l[0] = &structs.UserEvent{ID: "z"}
	if r.Add(&structs.UserEvent{ID: "a"}) {
		t.Fatal("duplicate added after the caller changed its copy")
	}
	if got := ids(r.List()); !reflect.DeepEqual(got, []string{"a"}) {
		t.Fatalf("got %v", got)
	}
}

func TestInbox(t *testing.T) {
	var woken atomic.Int32
	in := NewInbox(InboxConfig{
		NodeName: "node-a", Size: 2, OnEvent: func() { woken.Add(1) },
		Services: func() map[string]*structs.NodeService {
			return map[string]*structs.NodeService{"web": {ID: "web", Service: "web"}}
		},
	})
	fire := func(ev structs.UserEvent) {
		b, err := Wrap(&ev)
		if err != nil {
			t.Fatal(err)
		}
		in.Handle(&structs.UserEvent{Name: ev.Name, Payload: b})
	}
	in.Handle(nil)
	in.Handle(&structs.UserEvent{Name: "junk", Payload: []byte("junk")})
	fire(structs.UserEvent{ID: "1", Name: "a"})
	fire(structs.UserEvent{ID: "2", Name: "b", ServiceFilter: "db"}) // filtered out
	fire(structs.UserEvent{ID: "3", Name: "c", ServiceFilter: "web"})
	fire(structs.UserEvent{ID: "3", Name: "c", ServiceFilter: "web"}) // duplicate
	if got := ids(in.List()); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("kept %v", got)
	}
	if n := woken.Load(); n != 3 {
		t.Fatalf("OnEvent called %d times, want 3 (duplicates wake too)", n)
	}
}

func TestFireRequest(t *testing.T) {
	ev := &structs.UserEvent{Name: "deploy", Payload: []byte("v2"), NodeFilter: "web-.*"}
	req, err := FireRequest(ev, "dc2")
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID == "" || req.Datacenter != "dc2" || req.Name != "deploy" {
		t.Fatalf("ev %+v req %+v", ev, req)
	}
	got, err := Unwrap(&structs.UserEvent{Name: req.Name, Payload: req.Payload})
	if err != nil || got.ID != ev.ID || string(got.Payload) != "v2" || got.NodeFilter != "web-.*" {
		t.Fatalf("unwrapped %+v %v", got, err)
	}
	keep := &structs.UserEvent{ID: "fixed", Name: "x"}
	if _, err := FireRequest(keep, ""); err != nil || keep.ID != "fixed" {
		t.Fatalf("ID replaced: %+v %v", keep, err)
	}
}
