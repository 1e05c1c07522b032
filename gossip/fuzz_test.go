package gossip

import (
	"context"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// FuzzGossipMessage feeds arbitrary bytes to every way a peer's bytes
// reach this package: user messages (intents, user events), push/pull
// state, ping payloads (coordinates) and node metadata (tags). The pool
// is real but alone, on 127.0.0.1 with a port the system picks.
// Invariants: no panic; the pool's own state still encodes and decodes
// afterwards; tags that decode re-encode to the same tags.
func FuzzGossipMessage(f *testing.F) {
	add := func(t messageType, v any) {
		b, err := encodeMessage(t, v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	add(messageJoin, &messageJoinIntent{LTime: 5, Node: "n2"})
	add(messageLeave, &messageLeaveIntent{LTime: 6, Node: "n2", Prune: true})
	add(messageUserEvent, &messageUserEvt{LTime: 2, Name: "deploy", Payload: []byte("v1"), CC: true})
	add(messagePushPull, &messagePushPullState{LTime: 9, StatusLTimes: map[string]LamportTime{"n2": 3, "n3": 4},
		LeftMembers: []string{"n3"}, EventLTime: 4,
		Events: []userEventsAt{{LTime: 3, Events: []userEventRecord{{Name: "e", Payload: []byte("p")}}}}})
	tags, _ := encodeTags(map[string]string{"role": "consul", "dc": "dc1"})
	f.Add(tags)
	f.Add([]byte{coordinateVersion, 0x80})
	f.Add([]byte{byte(messageUserEvent), 0xdb, 0xff, 0xff, 0xff, 0xff})

	cfg := DefaultConfig()
	cfg.NodeName = "fuzz"
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Memberlist = memberlist.DefaultLocalConfig()
	cfg.Logger = testLogger()
	p, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	d := &delegate{p: p}
	peer := &memberlist.Node{Name: "peer", Addr: net.ParseIP("127.0.0.1"), Port: 1}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d.NotifyMsg(msg)
		d.MergeRemoteState(msg, false)
		d.MergeRemoteState(msg, true)
		if len(msg) > 0 {
			// The same body under each message type.
			for _, mt := range []messageType{messageJoin, messageLeave, messageUserEvent, messagePushPull} {
				d.NotifyMsg(append([]byte{byte(mt)}, msg[1:]...))
			}
		}
		p.pingComplete(peer, time.Millisecond, msg)
		p.pingComplete(peer, time.Millisecond, append([]byte{coordinateVersion}, msg...))

		if got, err := decodeTags(msg); err == nil {
			enc, err := encodeTags(got)
			if err == nil {
				again, err := decodeTags(enc)
				if err != nil || !reflect.DeepEqual(got, again) {
					t.Fatalf("tags %v do not round-trip: %v %v", got, again, err)
				}
			}
		}
		state := d.LocalState(false)
		if len(state) == 0 || messageType(state[0]) != messagePushPull {
			t.Fatal("local state no longer encodes")
		}
		var pp messagePushPullState
		if err := decodeMessage(state[1:], &pp); err != nil {
			t.Fatalf("local state does not decode: %v", err)
		}
	})
}
