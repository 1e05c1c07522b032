package userevent

import (
	"testing"

	"consulate/structs"
)

func TestInboxDeliversNewMatchingEventsOnce(t *testing.T) {
	var got []string
	in := NewInbox(InboxConfig{NodeName: "node-a", Deliver: func(ev *structs.UserEvent) { got = append(got, ev.ID) }})
	fire := func(ev structs.UserEvent) {
		b, err := Wrap(&ev)
		if err != nil {
			t.Fatal(err)
		}
		in.Handle(&structs.UserEvent{Name: ev.Name, Payload: b})
	}
	fire(structs.UserEvent{ID: "1", Name: "_rexec"})
	fire(structs.UserEvent{ID: "1", Name: "_rexec"})                         // duplicate
	fire(structs.UserEvent{ID: "2", Name: "_rexec", NodeFilter: "^node-b$"}) // not for us
	fire(structs.UserEvent{ID: "3", Name: "deploy"})
	if len(got) != 2 || got[0] != "1" || got[1] != "3" {
		t.Fatalf("delivered %v, want [1 3]", got)
	}
}
