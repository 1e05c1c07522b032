package views

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"consulate/structs"
)

// errNoSnapshot ends a stream whose first frame is not a snapshot.
var errNoSnapshot = errors.New("views: stream delta before its snapshot")

// errStale ends a stream that delivered nothing for Config.StaleAfter.
var errStale = errors.New("views: stream silent too long")

// viewState is one published state of a view; immutable once published.
type viewState struct {
	// ready is false while the view may not be served.
	ready bool
	// gen identifies the state among all views' states (Probe.Gen).
	gen      uint64
	index    uint64
	nodes    structs.CheckServiceNodes // in the catalog's order
	filtered bool
	// changed is closed when the next state replaces this one.
	changed chan struct{}
}

// view is one service's health in one datacenter as one token sees it.
type view struct {
	key    viewKey
	req    *structs.SubscribeRequest
	cancel context.CancelFunc

	state atomic.Pointer[viewState]
	// served is the highest index any read was answered with: a new
	// snapshot below it is not served (the index never goes backwards).
	served atomic.Uint64
	// used is when the view was last read (unix nanoseconds).
	used atomic.Int64
	// confirmed is the store's write epoch as of the latest read through
	// observed for this view.
	confirmed atomic.Uint64

	// Owned by the subscription goroutine: the instances, and the last
	// published list with its lower-cased node names (the sort keys).
	instances      map[structs.ServiceInstanceID]structs.CheckServiceNode
	sorted         structs.CheckServiceNodes
	keys           []string
	streamSnapshot bool
	// lastIndex and lastFiltered are what the stream's latest frame
	// left; a heartbeat repeating them changes nothing.
	lastIndex    uint64
	lastFiltered bool
}

func newView(key viewKey, req *structs.SubscribeRequest) *view {
	v := &view{key: key, req: req}
	v.state.Store(&viewState{changed: make(chan struct{})})
	v.touch()
	return v
}

// touch records a read; coarse, so concurrent readers rarely write.
func (v *view) touch() {
	now := time.Now().UnixNano()
	if now-v.used.Load() > int64(100*time.Millisecond) {
		v.used.Store(now)
	}
}

func (v *view) lastUsed() time.Time { return time.Unix(0, v.used.Load()) }

// publish replaces the state and wakes the readers waiting on the old one.
func (v *view) publish(st *viewState) {
	st.changed = make(chan struct{})
	st.gen = stateGen.Add(1)
	old := v.state.Swap(st)
	close(old.changed)
}

// apply moves the view by one frame of its stream.
func (v *view) apply(ev *structs.ServiceHealthEvent) error {
	if ev.Snapshot {
		v.instances = make(map[structs.ServiceInstanceID]structs.CheckServiceNode, len(ev.Nodes))
		v.streamSnapshot = true
	} else if !v.streamSnapshot {
		return errNoSnapshot
	} else if len(ev.Nodes) == 0 && len(ev.Deleted) == 0 &&
		ev.Index == v.lastIndex && ev.ResultsFilteredByACLs == v.lastFiltered {
		// A heartbeat: the stream is alive (the caller noted it) and
		// nothing moved, so the blocked readers sleep on.
		return nil
	}
	v.lastIndex, v.lastFiltered = ev.Index, ev.ResultsFilteredByACLs
	for _, id := range ev.Deleted {
		delete(v.instances, id)
	}
	// The usual change (checks of instances already known) keeps the
	// order: patch a copy of the list instead of sorting again.
	patch := !ev.Snapshot && len(ev.Deleted) == 0 && v.sorted != nil
	for _, n := range ev.Nodes {
		if n.Node == nil || n.Service == nil {
			continue
		}
		id := structs.ServiceInstanceID{Node: n.Node.Node, ServiceID: n.Service.ID}
		if _, ok := v.instances[id]; !ok {
			patch = false
		}
		v.instances[id] = n
	}
	var nodes structs.CheckServiceNodes
	if patch {
		nodes = v.patched(ev.Nodes)
	}
	if nodes == nil {
		nodes = make(structs.CheckServiceNodes, 0, len(v.instances))
		for _, n := range v.instances {
			nodes = append(nodes, n)
		}
		v.keys = sortCatalogOrder(nodes)
	}
	v.sorted = nodes
	// Served only when it cannot move a reader's index backwards (a
	// snapshot from a server behind the one that fed the last stream).
	v.publish(&viewState{ready: ev.Index >= v.served.Load(), index: ev.Index, nodes: nodes,
		filtered: ev.ResultsFilteredByACLs})
	return nil
}

// patched returns a copy of the published list with changed replacing
// the instances of the same IDs, or nil when one is not found.
func (v *view) patched(changed structs.CheckServiceNodes) structs.CheckServiceNodes {
	out := slices.Clone(v.sorted)
	for _, n := range changed {
		if n.Node == nil || n.Service == nil {
			continue
		}
		key := strings.ToLower(n.Node.Node)
		i := sort.Search(len(out), func(i int) bool {
			return v.keys[i] > key || (v.keys[i] == key && out[i].Service.ID >= n.Service.ID)
		})
		if i == len(out) || v.keys[i] != key || out[i].Service.ID != n.Service.ID {
			return nil
		}
		out[i] = n
	}
	return out
}

// sortCatalogOrder orders instances as the catalog lists them: by node
// name without case, then service ID (its services table's id index),
// and returns the lower-cased node names in that order.
func sortCatalogOrder(nodes structs.CheckServiceNodes) []string {
	// Lower-cased once, not per comparison.
	keys := make([]string, len(nodes))
	for i, n := range nodes {
		keys[i] = strings.ToLower(n.Node.Node)
	}
	sort.Sort(byCatalogOrder{nodes, keys})
	return keys
}

type byCatalogOrder struct {
	nodes structs.CheckServiceNodes
	keys  []string
}

func (b byCatalogOrder) Len() int { return len(b.nodes) }
func (b byCatalogOrder) Less(i, j int) bool {
	if b.keys[i] != b.keys[j] {
		return b.keys[i] < b.keys[j]
	}
	return b.nodes[i].Service.ID < b.nodes[j].Service.ID
}
func (b byCatalogOrder) Swap(i, j int) {
	b.nodes[i], b.nodes[j] = b.nodes[j], b.nodes[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

// await returns the state to answer from: at once unless minIndex asks to
// block and the view has not passed it, then at the first change past it
// or when wait is up. ok is false when the view may not be served (the
// read goes to the servers); err is ctx's when it ends first.
func (v *view) await(ctx context.Context, minIndex uint64, wait time.Duration) (st *viewState, ok bool, err error) {
	st = v.state.Load()
	if !st.ready {
		return nil, false, nil
	}
	if minIndex > 0 && st.index <= minIndex {
		t := time.NewTimer(wait)
		defer t.Stop()
	wait:
		for st.ready && st.index <= minIndex {
			select {
			case <-st.changed:
				st = v.state.Load()
			case <-t.C:
				break wait
			case <-ctx.Done():
				return nil, true, ctx.Err()
			}
		}
		if !st.ready {
			return nil, false, nil
		}
	}
	// Record the index before answering with it, then check the view did
	// not change under us: a subscription restarting in between compares
	// its new snapshot with served, so it either sees this index or this
	// read sees the change and goes to the servers.
	// Bounded: each retry needs a concurrent change; past a few, go direct.
	for range 8 {
		if st.index < v.served.Load() {
			// Behind an answer already given (a read through observed
			// since, or a reader of a newer state): the newer state if
			// there is one, else the servers.
			if now := v.state.Load(); now != st && now.ready {
				st = now
				continue
			}
			return nil, false, nil
		}
		idx := st.index
		for cur := v.served.Load(); cur < idx && !v.served.CompareAndSwap(cur, idx); cur = v.served.Load() {
		}
		now := v.state.Load()
		if now == st {
			return st, true, nil
		}
		if !now.ready {
			return nil, false, nil
		}
		if now.index < st.index {
			return nil, false, nil
		}
		st = now
	}
	return nil, false, nil
}

// filter applies the read's tag and node-meta parameters (what the
// servers apply) into a new slice the caller owns.
func (st *viewState) filter(a *structs.ServiceSpecificRequest) structs.CheckServiceNodes {
	var tags []string
	if a.TagFilter {
		tags = a.ServiceTags
	}
	out := make(structs.CheckServiceNodes, 0, len(st.nodes))
	for _, n := range st.nodes {
		if structs.HasTags(n.Service.Tags, tags) && structs.MatchesNodeMeta(n.Node.Meta, a.NodeMetaFilters) {
			out = append(out, n)
		}
	}
	return out
}
