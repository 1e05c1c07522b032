package server

import (
	"context"
	"errors"
	"fmt"

	"consulate/acl"
	"consulate/structs"
)

// The two endpoints answered from the gossip pools rather than the state
// store. The pools are the agent's; they reach the server as Deps.

// ErrNoEvents is returned by Internal.EventFire on a server built without
// Deps.Events.
var ErrNoEvents = errors.New("server: user events are not wired on this server")

// eventFire broadcasts a user event in this datacenter's LAN pool. The
// payload is already wrapped (see userevent); requests for another
// datacenter never get here (RPC forwards them).
func (s *Server) eventFire(_ context.Context, args *structs.EventFireRequest, _ *structs.EventFireResponse) error {
	if args.Name == "" {
		return badRequest("user event name is empty")
	}
	if n := len(args.Name) + len(args.Payload); n > s.cfg.UserEventSizeLimit {
		return &structs.BadRequestError{Reason: fmt.Sprintf("user event exceeds limit of %d bytes", s.cfg.UserEventSizeLimit)}
	}
	if err := s.checkToken(args.Token, acl.ResourceEvent, args.Name, acl.AccessWrite); err != nil {
		return err
	}
	if s.events == nil {
		return ErrNoEvents
	}
	return s.events.UserEvent(args.Name, args.Payload, false)
}

// coordinateListDatacenters lists the WAN coordinates of the servers of
// every known datacenter; empty without a WAN pool.
func (s *Server) coordinateListDatacenters(_ context.Context, _ *structs.DCSpecificRequest, reply *[]*structs.DatacenterMap) error {
	if s.wanCoords == nil {
		*reply = []*structs.DatacenterMap{}
		return nil
	}
	*reply = s.wanCoords()
	return nil
}
