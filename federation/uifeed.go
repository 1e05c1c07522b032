package federation

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"consulate/structs"
)

// Limits of the WAN member event log the UI's federation page shows.
const (
	// FeedMaxEvents bounds the event ring.
	FeedMaxEvents = 500
	// FeedEventAge is how long an event stays in answers.
	FeedEventAge = time.Hour
	// FeedRecheck is how often a blocking federation read re-reads the
	// datacenters' state (Unreachable and HasLeader change without a
	// gossip event).
	FeedRecheck = 2 * time.Second
)

// UIEvent is one WAN member event in /v1/internal/ui/federation.
type UIEvent struct {
	Time       string // RFC 3339
	Datacenter string
	Node       string
	Event      string // join, fail, leave, update or reap
	Address    string
	at         time.Time
}

// UIDatacenter is one datacenter's row in /v1/internal/ui/federation.
type UIDatacenter struct {
	Datacenter     string
	Local          bool
	Alive          int
	Suspect        int
	Failed         int
	Left           int
	HasLeader      bool
	Unreachable    bool
	MedianRTT      time.Duration // nanoseconds
	MedianRTTKnown bool
	LastReached    string // RFC 3339, "" when never
	Requests       uint64
	Errors         uint64
	LastError      string
	FlapsLastHour  int
	// Route, Gateways and RouteError: as in /v1/operator/wan.
	Route      string
	Gateways   []string `json:",omitempty"`
	RouteError string   `json:",omitempty"`
}

// UIFederation is the body of /v1/internal/ui/federation.
type UIFederation struct {
	Datacenters []UIDatacenter
	// RTT is the median WAN-coordinate distance, in milliseconds, between
	// the servers of each pair of datacenters: RTT[a][b].
	RTT    map[string]map[string]float64
	Events []UIEvent
}

// Feed keeps the WAN member events of the last hour (at most
// FeedMaxEvents, in a ring) and an index that moves on every event and
// on every change of a datacenter's state (Observe), with a wake-up for
// blocking readers. Safe for concurrent use.
type Feed struct {
	now func() time.Time

	mu      sync.Mutex
	ring    []UIEvent // FeedMaxEvents slots once full
	next    int       // slot the next event goes to
	index   uint64
	state   string
	changed chan struct{} // closed and replaced on every index move
}

// NewFeed builds an empty feed; now nil means time.Now.
func NewFeed(now func() time.Time) *Feed {
	if now == nil {
		now = time.Now
	}
	return &Feed{now: now, index: 1, changed: make(chan struct{})}
}

// eventName maps a gossip event type ("member-join") to the UI's name.
func eventName(typ string) string {
	switch typ {
	case "member-join":
		return "join"
	case "member-failed":
		return "fail"
	case "member-leave":
		return "leave"
	case "member-update":
		return "update"
	case "member-reap":
		return "reap"
	}
	return strings.TrimPrefix(typ, "member-")
}

// bumpLocked moves the index and wakes every waiter.
func (f *Feed) bumpLocked() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

// Record logs one WAN membership event (typ as gossip names it, e.g.
// "member-failed") for each member, moving the index once.
func (f *Feed) Record(typ string, members []structs.Member) {
	if len(members) == 0 {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range members {
		_, dc, _ := structs.SplitWANMemberName(m.Name)
		ev := UIEvent{Time: now.UTC().Format(time.RFC3339), Datacenter: dc, Node: m.Name,
			Event: eventName(typ), at: now}
		if m.Addr != "" {
			ev.Address = net.JoinHostPort(m.Addr, strconv.Itoa(int(m.Port)))
		}
		if len(f.ring) < FeedMaxEvents {
			f.ring = append(f.ring, ev)
		} else {
			f.ring[f.next] = ev
		}
		f.next = (f.next + 1) % FeedMaxEvents
	}
	f.bumpLocked()
}

// Events returns the events of the last FeedEventAge, newest first.
func (f *Feed) Events() []UIEvent {
	cutoff := f.now().Add(-FeedEventAge)
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]UIEvent, 0, len(f.ring))
	for i := 1; i <= len(f.ring); i++ {
		// Walk back from the newest slot.
		j := (f.next - i + 2*FeedMaxEvents) % FeedMaxEvents
		if j >= len(f.ring) {
			continue
		}
		ev := f.ring[j]
		if ev.at.Before(cutoff) {
			break
		}
		out = append(out, ev)
	}
	return out
}

// Observe records the datacenters' state (a signature such as
// StateSignature's) and returns the index, moved when it differs from the
// last one observed.
func (f *Feed) Observe(state string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != f.state {
		if f.state != "" {
			f.bumpLocked()
		}
		f.state = state
	}
	return f.index
}

// Index is the current index.
func (f *Feed) Index() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index
}

// Changed returns a channel closed at the next index move.
func (f *Feed) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// StateSignature is what moves the index among the datacenters' rows:
// Alive, Failed, Left, HasLeader, Unreachable and Route of each (not
// counters).
func StateSignature(dcs []UIDatacenter) string {
	var b strings.Builder
	for _, d := range dcs {
		fmt.Fprintf(&b, "%s:%d/%d/%d/%t/%t/%s;", d.Datacenter, d.Alive, d.Failed, d.Left, d.HasLeader, d.Unreachable, d.Route)
	}
	return b.String()
}

// Block answers a blocking read: it takes a snapshot, and while the index
// equals minIndex (0, or any other index: answer at once) it waits for an index move, a
// FeedRecheck tick (to see state changes that come without events) or the
// end of wait, and snapshots again. It returns the last snapshot and the
// index it belongs to.
func (f *Feed) Block(ctx context.Context, minIndex uint64, wait time.Duration,
	snapshot func(context.Context) UIFederation) (UIFederation, uint64) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch := f.Changed()
		snap := snapshot(ctx)
		if ctx.Err() != nil {
			// A reader that went away (or a draining agent) took its
			// snapshot with a cancelled context: its leader asks failed, so
			// its state is not news for the other readers.
			return snap, f.Index()
		}
		idx := f.Observe(StateSignature(snap.Datacenters))
		// An index below minIndex is another server's or an earlier run's:
		// answer at once so the reader starts over from this one.
		if minIndex == 0 || idx != minIndex || ctx.Err() != nil {
			return snap, idx
		}
		recheck := time.NewTimer(FeedRecheck)
		select {
		case <-ch:
		case <-recheck.C:
		case <-deadline.C:
			recheck.Stop()
			return snap, idx
		case <-ctx.Done():
			recheck.Stop()
			return snap, idx
		}
		recheck.Stop()
	}
}

// UIRows turns the router's WAN view into the UI's rows, same order.
func UIRows(rows []DCHealthWithLeader) []UIDatacenter {
	out := make([]UIDatacenter, 0, len(rows))
	for _, h := range rows {
		d := UIDatacenter{Datacenter: h.Datacenter, Local: h.Local, Alive: h.Alive, Suspect: h.Suspect,
			Failed: h.Failed, Left: h.Left, HasLeader: h.HasLeader, Unreachable: h.Unreachable,
			MedianRTT: h.MedianRTT, MedianRTTKnown: h.MedianRTTKnown, Requests: h.Requests,
			Errors: h.Errors, LastError: h.LastError, FlapsLastHour: h.Flaps,
			Route: h.Route, Gateways: h.Gateways, RouteError: h.RouteError}
		if !h.LastReached.IsZero() {
			d.LastReached = h.LastReached.UTC().Format(time.RFC3339)
		}
		out = append(out, d)
	}
	return out
}

// RTTMatrix is the median distance, in milliseconds, between every pair
// of servers of each two datacenters, from their WAN coordinates (as
// `consul rtt -wan` estimates one pair). Pairs without compatible
// coordinates are left out.
func RTTMatrix(maps []*structs.DatacenterMap) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, a := range maps {
		row := map[string]float64{}
		for _, b := range maps {
			var ds []float64
			for _, ca := range a.Coordinates {
				for _, cb := range b.Coordinates {
					if ca == nil || cb == nil || ca.Coord == nil || cb.Coord == nil ||
						!ca.Coord.IsCompatibleWith(cb.Coord) || (a == b && ca.Node == cb.Node) {
						continue
					}
					ds = append(ds, ca.Coord.DistanceTo(cb.Coord).Seconds()*1000)
				}
			}
			if len(ds) == 0 {
				if a == b {
					row[b.Datacenter] = 0
				}
				continue
			}
			sort.Float64s(ds)
			m := ds[len(ds)/2]
			if len(ds)%2 == 0 {
				m = (ds[len(ds)/2-1] + m) / 2
			}
			row[b.Datacenter] = m
		}
		out[a.Datacenter] = row
	}
	return out
}

// Feed is the router's WAN event log and UI index (LogMembersChanged
// records into it).
func (r *Router) Feed() *Feed { return r.feed }

// UIFederation answers /v1/internal/ui/federation on a server: the WAN
// view with leaders asked through rpc, the RTT matrix from coords (nil:
// empty) and the event log, blocking as Feed.Block does.
func (r *Router) UIFederation(ctx context.Context, rpc RPCFunc, coords func() []*structs.DatacenterMap,
	minIndex uint64, wait time.Duration) (UIFederation, uint64) {
	return r.feed.Block(ctx, minIndex, wait, func(ctx context.Context) UIFederation {
		out := UIFederation{Datacenters: UIRows(r.uiLeaders.get(ctx, r, rpc)), RTT: map[string]map[string]float64{}}
		if coords != nil {
			out.RTT = RTTMatrix(coords())
		}
		out.Events = r.feed.Events()
		return out
	})
}

// uiLeaderTTL is how long the UI's readers share one round of leader
// asks: every parked reader rechecks every FeedRecheck, and without
// sharing each would ask every datacenter over the WAN.
const uiLeaderTTL = time.Second

// leaderAsks shares HealthWithLeaders' answers among the UI's readers:
// one round at a time (readers arriving meanwhile wait for it), reused
// for uiLeaderTTL; counters and membership are always read fresh.
type leaderAsks struct {
	mu      sync.Mutex
	at      time.Time
	leaders map[string]bool
	routes  map[string]dcRoute // nil: not in gateway mode
}

func (l *leaderAsks) get(ctx context.Context, r *Router, rpc RPCFunc) []DCHealthWithLeader {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.leaders != nil && time.Since(l.at) < uiLeaderTTL {
		rows := r.Health()
		out := make([]DCHealthWithLeader, len(rows))
		for i, h := range rows {
			out[i] = DCHealthWithLeader{DCHealth: h, HasLeader: l.leaders[h.Datacenter]}
			out[i].setRoute(routeOf(l.routes, h.Datacenter, h.Local))
		}
		return out
	}
	out, routes := r.healthWithLeaders(ctx, rpc)
	if ctx.Err() == nil { // a cancelled round's "no leader" is not an answer
		l.at, l.leaders, l.routes = time.Now(), make(map[string]bool, len(out)), routes
		for _, h := range out {
			l.leaders[h.Datacenter] = h.HasLeader
		}
	}
	return out
}
