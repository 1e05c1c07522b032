// Package userevent is Consul's user events on top of gossip: the
// envelope that carries an event's ID, payload and filters inside a
// gossip user event (whose own fields are only a name and a payload), the
// filters that decide whether an agent keeps an event (node name, and
// service and tag regular expressions against the agent's services), and
// the ring of recent events that /v1/event/list reads, with duplicates
// (the same ID seen twice through gossip) dropped.
//
// It does not send or receive anything: the agent hands received gossip
// events to an Inbox and wraps outgoing ones with Wrap before the
// Internal.EventFire RPC.
package userevent
