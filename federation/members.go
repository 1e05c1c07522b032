package federation

import "consulate/structs"

// serverOf is the router's record of a gossip member, if it is a server.
func serverOf(m structs.Member) (Server, bool) {
	si, ok := structs.ParseServer(m)
	if !ok {
		return Server{}, false
	}
	return Server{Name: m.Name, Datacenter: si.Datacenter, Addr: structs.ServerAddr(si.Addr), Status: m.Status}, true
}

// SyncMembers refreshes the router's view of every datacenter from the
// WAN pool's members: each server is updated, and a server the router
// knows that is no longer among them is forgotten, except localName (this
// server, which the router knows from the start).
func (r *Router) SyncMembers(members []structs.Member, localName string) {
	seen := map[string]bool{}
	for _, m := range members {
		s, ok := serverOf(m)
		if !ok {
			continue
		}
		seen[m.Name] = true
		r.UpdateServer(s)
	}
	for _, h := range r.Health() {
		for _, s := range h.Servers {
			if !seen[s.Name] && s.Name != localName {
				r.RemoveServer(h.Datacenter, s.Name)
			}
		}
	}
}

// LogMembersChanged logs one line per WAN member in a membership event
// (event is its type, e.g. "member-join"), with the member's datacenter
// taken from its NODE.DC name, and records them in the router's Feed.
func (r *Router) LogMembersChanged(event string, changed []structs.Member) {
	r.feed.Record(event, changed)
	for _, m := range changed {
		if _, dc, ok := structs.SplitWANMemberName(m.Name); ok {
			r.logger.Info("WAN membership change", "event", event, "member", m.Name,
				"datacenter", dc, "status", m.Status.String())
		}
	}
}

// SyncMembers refreshes the list from the LAN pool's members: every
// server of datacenter dc is updated (left ones forgotten); other members
// are ignored.
func (l *LocalServers) SyncMembers(members []structs.Member, dc string) {
	for _, m := range members {
		s, ok := serverOf(m)
		if !ok || s.Datacenter != dc {
			continue
		}
		l.Update(s)
	}
}
