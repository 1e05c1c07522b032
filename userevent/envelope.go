package userevent

import (
	"encoding/json"
	"errors"

	"github.com/hashicorp/go-uuid"

	"consulate/structs"
)

// SizeLimit bounds a user event's name plus its envelope, in bytes. The
// agent gives it to the LAN pool and to the server (which checks it before
// firing).
const SizeLimit = 1024

// ErrBadEnvelope is returned by Unwrap for a gossip payload that is not an
// envelope (not JSON, or without an ID).
var ErrBadEnvelope = errors.New("userevent: bad envelope")

// envelope carries Consul's event fields inside a gossip user event.
type envelope struct {
	ID            string
	Payload       []byte `json:",omitempty"`
	NodeFilter    string `json:",omitempty"`
	ServiceFilter string `json:",omitempty"`
	TagFilter     string `json:",omitempty"`
	Version       int
}

// Wrap encodes ev's ID, payload and filters as the payload of a gossip
// user event named ev.Name (version 1).
func Wrap(ev *structs.UserEvent) ([]byte, error) {
	return json.Marshal(envelope{ID: ev.ID, Payload: ev.Payload, NodeFilter: ev.NodeFilter,
		ServiceFilter: ev.ServiceFilter, TagFilter: ev.TagFilter, Version: 1})
}

// Unwrap decodes a received gossip user event (u.Payload an envelope)
// into the event it carries, with u's name and Lamport time. It returns
// ErrBadEnvelope when u carries no valid envelope.
func Unwrap(u *structs.UserEvent) (*structs.UserEvent, error) {
	var env envelope
	if err := json.Unmarshal(u.Payload, &env); err != nil {
		return nil, errors.Join(ErrBadEnvelope, err)
	}
	if env.ID == "" {
		return nil, ErrBadEnvelope
	}
	return &structs.UserEvent{ID: env.ID, Name: u.Name, Payload: env.Payload, NodeFilter: env.NodeFilter,
		ServiceFilter: env.ServiceFilter, TagFilter: env.TagFilter, Version: env.Version, LTime: u.LTime}, nil
}

// FireRequest builds the Internal.EventFire request that fires ev in dc
// ("" = the local datacenter): ev gets an ID when it has none, and its
// fields travel wrapped in the envelope.
func FireRequest(ev *structs.UserEvent, dc string) (*structs.EventFireRequest, error) {
	if ev.ID == "" {
		id, err := uuid.GenerateUUID()
		if err != nil {
			return nil, err
		}
		ev.ID = id
	}
	b, err := Wrap(ev)
	if err != nil {
		return nil, err
	}
	return &structs.EventFireRequest{Datacenter: dc, Name: ev.Name, Payload: b}, nil
}
