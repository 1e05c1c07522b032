package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate gives memberlist our metadata, messages and push/pull state.
type delegate struct{ p *Pool }

// eventDelegate turns memberlist's node notifications into member changes.
type eventDelegate struct{ p *Pool }

// conflictDelegate logs two nodes claiming the same name.
type conflictDelegate struct{ p *Pool }

// mergeDelegate refuses merges with conflicting node IDs.
type mergeDelegate struct{ p *Pool }

// aliveDelegate applies the merge checks to every alive message, since
// clusters can also merge passively, without a push/pull join.
type aliveDelegate struct{ p *Pool }

// pingDelegate exchanges Vivaldi coordinates on pings.
type pingDelegate struct{ p *Pool }

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*eventDelegate)(nil)
	_ memberlist.ConflictDelegate = (*conflictDelegate)(nil)
	_ memberlist.MergeDelegate    = (*mergeDelegate)(nil)
	_ memberlist.PingDelegate     = (*pingDelegate)(nil)
	_ memberlist.AliveDelegate    = (*aliveDelegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	d.p.tagLock.RLock()
	defer d.p.tagLock.RUnlock()
	if len(d.p.meta) > limit {
		// Validated in New and UpdateTags; only a smaller limit gets here.
		d.p.logger.Error("encoded tags exceed metadata limit", "size", len(d.p.meta), "limit", limit)
		return nil
	}
	return d.p.meta
}

func (d *delegate) NotifyMsg(buf []byte) {
	if len(buf) == 0 {
		return
	}
	// memberlist may reuse buf after we return; we may keep it to rebroadcast.
	msg := append([]byte(nil), buf...)
	d.p.handleMessage(msg)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	msgs := d.p.intents.GetBroadcasts(overhead, limit)
	used := 0
	for _, m := range msgs {
		used += len(m) + overhead
	}
	if limit-used > overhead {
		user := d.p.userBroadcasts.GetBroadcasts(overhead, limit-used)
		for _, m := range user {
			used += len(m) + overhead
		}
		msgs = append(msgs, user...)
	}
	if limit-used > overhead {
		msgs = append(msgs, d.p.q.broadcast.GetBroadcasts(overhead, limit-used)...)
	}
	return msgs
}

func (d *delegate) LocalState(join bool) []byte { return d.p.localState() }

func (d *delegate) MergeRemoteState(buf []byte, join bool) { d.p.mergeRemoteState(buf, join) }

func (e *eventDelegate) NotifyJoin(n *memberlist.Node)   { e.p.handleNodeJoin(n) }
func (e *eventDelegate) NotifyLeave(n *memberlist.Node)  { e.p.handleNodeLeave(n) }
func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) { e.p.handleNodeUpdate(n) }

func (c *conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	c.p.logger.Error("name conflict: two nodes claim the same name",
		"node", existing.Name, "existing_addr", existing.Address(), "other_addr", other.Address())
}

func (m *mergeDelegate) NotifyMerge(peers []*memberlist.Node) error {
	return m.p.checkMerge(peers)
}

func (a *aliveDelegate) NotifyAlive(peer *memberlist.Node) error {
	if peer.Name == a.p.cfg.NodeName || a.p.admitted(peer) {
		return nil
	}
	return a.p.checkMergeMembers([]*memberlist.Node{peer})
}

func (pd *pingDelegate) AckPayload() []byte { return pd.p.coordinatePayload() }

func (pd *pingDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	pd.p.pingComplete(other, rtt, payload)
}
