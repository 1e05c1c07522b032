package federation

import (
	"sort"
	"time"

	"consulate/structs"
)

// ServerHealth is one server's state in a DCHealth.
type ServerHealth struct {
	Name   string
	Addr   structs.ServerAddr
	Status string
	// Flaps counts failed→alive transitions within the flap window.
	Flaps       int
	LastSuccess time.Time `json:",omitempty"`
	LastFailure time.Time `json:",omitempty"`
}

// DCHealth is what `operator wan` shows for one datacenter.
type DCHealth struct {
	Datacenter string
	Local      bool
	Servers    []ServerHealth
	Alive      int
	Suspect    int
	Failed     int
	Left       int
	HasLeader  bool
	// Unreachable says the router knows none of the datacenter's servers
	// answers now (calls for it fail at once).
	Unreachable    bool `json:",omitempty"`
	MedianRTT      time.Duration
	MedianRTTKnown bool
	LastReached    time.Time `json:",omitempty"`
	Requests       uint64
	Errors         uint64
	LastError      string `json:",omitempty"`
	Flaps          int
}

// Health returns the per-datacenter view, nearest first. HasLeader is
// left for the caller, who can ask each datacenter.
func (r *Router) Health() []DCHealth {
	order := r.Datacenters()
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	out := make([]DCHealth, 0, len(order))
	for _, name := range order {
		h := DCHealth{Datacenter: name, Local: name == r.cfg.LocalDC}
		med := r.medianRTTLocked(name)
		if med != unknownRTT {
			h.MedianRTT, h.MedianRTTKnown = med, true
		}
		dc := r.dcs[name]
		if dc != nil {
			h.Requests, h.Errors, h.LastReached, h.LastError = dc.requests, dc.errors, dc.lastReach, dc.lastError
			h.Unreachable = !h.Local && len(dc.servers) > 0
			for _, s := range dc.servers {
				s.flaps = pruneBefore(s.flaps, now.Add(-r.cfg.FlapWindow))
				sh := ServerHealth{Name: s.Name, Addr: s.Addr, Status: s.Status.String(), Flaps: len(s.flaps),
					LastSuccess: s.lastSuccess, LastFailure: s.lastFailure}
				switch s.Status {
				case structs.StatusAlive:
					h.Alive++
				case structs.StatusFailed:
					h.Failed++
				case structs.StatusLeft, structs.StatusLeaving:
					h.Left++
				}
				h.Flaps += sh.Flaps
				h.Unreachable = h.Unreachable && s.down(now, r.cfg.Quarantine)
				h.Servers = append(h.Servers, sh)
			}
			sort.Slice(h.Servers, func(i, j int) bool { return h.Servers[i].Name < h.Servers[j].Name })
		}
		out = append(out, h)
	}
	return out
}

// FailoverOrder lists the datacenters a prepared query fails over to: the
// nearestN nearest other datacenters by RTT, then the listed ones, each at
// most once and never the local one. A listed datacenter the router does
// not know is skipped (not asked, not counted in Failovers), as Consul
// does.
func (r *Router) FailoverOrder(nearestN int, listed []string) []string {
	return failoverOrder(r.cfg.LocalDC, r.Datacenters(), nearestN, listed)
}

func failoverOrder(local string, byRTT []string, nearestN int, listed []string) []string {
	seen := map[string]bool{local: true}
	var out []string
	for _, dc := range byRTT {
		if nearestN <= 0 {
			break
		}
		if seen[dc] {
			continue
		}
		seen[dc] = true
		out = append(out, dc)
		nearestN--
	}
	known := make(map[string]bool, len(byRTT))
	for _, dc := range byRTT {
		known[dc] = true
	}
	for _, dc := range listed {
		if seen[dc] || !known[dc] {
			continue
		}
		seen[dc] = true
		out = append(out, dc)
	}
	return out
}
