package gossip

import (
	"math/rand/v2"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/structs"
)

func (p *Pool) nodeToMember(n *memberlist.Node, status structs.MemberStatus) structs.Member {
	tags, err := decodeTags(n.Meta)
	if err != nil {
		p.logger.Warn("member has unreadable tags", "node", n.Name, "error", err)
	}
	return structs.Member{
		Name:        n.Name,
		Addr:        n.Addr.String(),
		Port:        n.Port,
		Tags:        tags,
		Status:      status,
		ProtocolMin: n.PMin,
		ProtocolMax: n.PMax,
		ProtocolCur: n.PCur,
		DelegateMin: n.DMin,
		DelegateMax: n.DMax,
		DelegateCur: n.DCur,
	}
}

// emitLocked hands an event to the observer and the queue. Callers hold
// memberLock so that events leave in the order the changes were made.
func (p *Pool) emitLocked(e Event) {
	if p.cfg.Observer != nil {
		p.cfg.Observer(e)
	}
	p.events.push(e)
}

// handleNodeJoin: memberlist says the node is alive (new, or back).
func (p *Pool) handleNodeJoin(n *memberlist.Node) {
	p.memberLock.Lock()
	defer p.memberLock.Unlock()
	ms, ok := p.members[n.Name]
	old := structs.StatusNone
	if !ok {
		ms = &memberState{member: p.nodeToMember(n, structs.StatusAlive), meta: string(n.Meta)}
		// An intent may have arrived before memberlist told us of the node.
		if in, ok := p.recentIntents[n.Name]; ok {
			ms.statusLTime = in.ltime
			if in.typ == messageLeave {
				ms.member.Status = structs.StatusLeaving
			}
			delete(p.recentIntents, n.Name)
		}
		p.members[n.Name] = ms
	} else {
		old = ms.member.Status
		if old == structs.StatusFailed && !ms.leaveTime.IsZero() && p.now().Sub(ms.leaveTime) < flapTimeout {
			p.countMember("flap")
		}
		ms.member, ms.meta = p.nodeToMember(n, structs.StatusAlive), string(n.Meta)
		ms.leaveTime = time.Time{}
	}
	m := copyMember(ms.member)
	p.logger.Info("member joined", "node", m.Name, "addr", m.Addr, "port", m.Port, "previous_status", old.String())
	p.countMember("join")
	p.emitLocked(Event{Type: MemberJoin, Members: []structs.Member{m}})
	p.snapshotChanged()
}

// handleNodeLeave: memberlist says the node is dead or has left.
func (p *Pool) handleNodeLeave(n *memberlist.Node) {
	p.memberLock.Lock()
	defer p.memberLock.Unlock()
	ms, ok := p.members[n.Name]
	if !ok {
		return
	}
	var typ EventType
	switch ms.member.Status {
	case structs.StatusLeaving:
		ms.member.Status = structs.StatusLeft
		typ = MemberLeave
	case structs.StatusLeft, structs.StatusFailed:
		return
	default:
		if n.State == memberlist.StateLeft {
			ms.member.Status = structs.StatusLeft
			typ = MemberLeave
		} else {
			ms.member.Status = structs.StatusFailed
			typ = MemberFailed
		}
	}
	ms.leaveTime = p.now()
	m := copyMember(ms.member)
	if typ == MemberFailed {
		p.logger.Info("member failed", "node", m.Name, "addr", m.Addr)
		p.countMember("failed")
	} else {
		p.logger.Info("member left", "node", m.Name, "addr", m.Addr)
		p.countMember("left")
	}
	p.emitLocked(Event{Type: typ, Members: []structs.Member{m}})
	p.snapshotChanged()
}

// handleNodeUpdate: the node's metadata or address changed.
func (p *Pool) handleNodeUpdate(n *memberlist.Node) {
	p.memberLock.Lock()
	defer p.memberLock.Unlock()
	ms, ok := p.members[n.Name]
	if !ok {
		return
	}
	ms.member, ms.meta = p.nodeToMember(n, ms.member.Status), string(n.Meta)
	m := copyMember(ms.member)
	p.logger.Info("member updated", "node", m.Name, "addr", m.Addr)
	p.countMember("update")
	p.emitLocked(Event{Type: MemberUpdate, Members: []structs.Member{m}})
	p.snapshotChanged()
}

// recordIntentLocked remembers an intent about a node we do not know yet;
// it returns true when the intent is new (and so worth rebroadcasting).
func (p *Pool) recordIntentLocked(node string, typ messageType, ltime LamportTime) bool {
	if in, ok := p.recentIntents[node]; ok && ltime <= in.ltime {
		return false
	}
	if _, ok := p.recentIntents[node]; !ok && len(p.recentIntents) >= recentIntentMax {
		// Bounded: forget the oldest.
		var oldest string
		var oldestTime time.Time
		for name, in := range p.recentIntents {
			if oldest == "" || in.wallTime.Before(oldestTime) {
				oldest, oldestTime = name, in.wallTime
			}
		}
		delete(p.recentIntents, oldest)
	}
	p.recentIntents[node] = nodeIntent{typ: typ, ltime: ltime, wallTime: p.now()}
	return true
}

// handleNodeJoinIntent applies a join intent; true means rebroadcast it.
// An intent older than the member's last applied intent is ignored, so a
// late join cannot undo a later leave.
func (p *Pool) handleNodeJoinIntent(msg *messageJoinIntent) bool {
	p.clock.Witness(msg.LTime)
	p.memberLock.Lock()
	defer p.memberLock.Unlock()
	ms, ok := p.members[msg.Node]
	if !ok {
		return p.recordIntentLocked(msg.Node, messageJoin, msg.LTime)
	}
	if msg.LTime <= ms.statusLTime {
		return false
	}
	ms.statusLTime = msg.LTime
	// A newer join refutes a leave in progress; it never revives a member
	// that has left or failed (memberlist's own alive message does that).
	if ms.member.Status == structs.StatusLeaving {
		ms.member.Status = structs.StatusAlive
	}
	return true
}

// handleNodeLeaveIntent applies a leave intent; true means rebroadcast it.
func (p *Pool) handleNodeLeaveIntent(msg *messageLeaveIntent) bool {
	p.clock.Witness(msg.LTime)
	refute := false
	defer func() {
		// Someone says we are leaving and we are not: say we are here,
		// at a later time. Done after unlocking (queueing reads NumMembers).
		if refute {
			p.logger.Warn("refuting a leave intent about this node", "ltime", msg.LTime)
			p.broadcastJoin(p.clock.Increment())
		}
	}()
	p.memberLock.Lock()
	defer p.memberLock.Unlock()
	ms, ok := p.members[msg.Node]
	if !ok {
		return p.recordIntentLocked(msg.Node, messageLeave, msg.LTime)
	}
	if msg.LTime <= ms.statusLTime {
		p.logger.Debug("ignoring stale leave intent", "node", msg.Node, "ltime", msg.LTime, "status_ltime", ms.statusLTime)
		return false
	}
	if msg.Node == p.cfg.NodeName && poolState(p.state.Load()) == stateAlive {
		refute = true
		return false
	}
	ms.statusLTime = msg.LTime
	switch ms.member.Status {
	case structs.StatusAlive:
		ms.member.Status = structs.StatusLeaving
		if msg.Prune {
			p.logger.Info("prune requested for a live member; it stays until it leaves", "node", msg.Node)
		}
		return true
	case structs.StatusFailed:
		ms.member.Status = structs.StatusLeft
		m := copyMember(ms.member)
		p.logger.Info("member left (forced)", "node", m.Name, "addr", m.Addr)
		p.emitLocked(Event{Type: MemberLeave, Members: []structs.Member{m}})
		if msg.Prune {
			p.eraseLocked(msg.Node)
		}
		p.snapshotChanged()
		return true
	case structs.StatusLeft:
		if msg.Prune {
			p.eraseLocked(msg.Node)
			p.snapshotChanged()
		}
		return true
	default: // leaving
		return true
	}
}

// eraseLocked removes a member for good and announces the reap.
func (p *Pool) eraseLocked(name string) {
	ms, ok := p.members[name]
	if !ok {
		return
	}
	delete(p.members, name)
	p.coordLock.Lock()
	delete(p.coordCache, name)
	p.coordLock.Unlock()
	if p.coordClient != nil {
		p.coordClient.ForgetNode(name)
	}
	m := copyMember(ms.member)
	p.logger.Info("member reaped", "node", m.Name, "status", m.Status.String())
	p.emitLocked(Event{Type: MemberReap, Members: []structs.Member{m}})
}

// handleMessage decodes one gossiped message and rebroadcasts it when new.
func (p *Pool) handleMessage(buf []byte) {
	switch messageType(buf[0]) {
	case messageJoin:
		var msg messageJoinIntent
		if err := decodeMessage(buf[1:], &msg); err != nil {
			p.logger.Warn("bad join intent", "error", err)
			return
		}
		if p.handleNodeJoinIntent(&msg) {
			p.intents.QueueBroadcast(&broadcast{node: msg.Node, ltime: msg.LTime, msg: buf})
		}
	case messageLeave:
		var msg messageLeaveIntent
		if err := decodeMessage(buf[1:], &msg); err != nil {
			p.logger.Warn("bad leave intent", "error", err)
			return
		}
		p.logger.Debug("received leave intent", "node", msg.Node, "ltime", msg.LTime, "prune", msg.Prune)
		if p.handleNodeLeaveIntent(&msg) {
			p.intents.QueueBroadcast(&broadcast{node: msg.Node, ltime: msg.LTime, msg: buf})
		}
	case messageUserEvent:
		var msg messageUserEvt
		if err := decodeMessage(buf[1:], &msg); err != nil {
			p.logger.Warn("bad user event", "error", err)
			return
		}
		if p.handleUserEvent(&msg) {
			p.userBroadcasts.QueueBroadcast(&broadcast{msg: buf})
		}
	case messageQuery:
		var msg messageQueryReq
		if err := decodeMessage(buf[1:], &msg); err != nil {
			p.logger.Warn("bad query", "error", err)
			return
		}
		if p.handleQuery(&msg) {
			p.q.broadcast.QueueBroadcast(&broadcast{msg: buf})
		}
	case messageQueryResponse:
		var msg messageQueryResp
		if err := decodeMessage(buf[1:], &msg); err != nil {
			p.logger.Warn("bad query response", "error", err)
			return
		}
		p.handleQueryResponse(&msg)
	default:
		p.logger.Warn("unknown gossip message type", "type", buf[0])
	}
}

// checkMerge refuses a merge where a live peer carries the node ID of a
// live member with another name, or that MergeCheck refuses.
func (p *Pool) checkMerge(peers []*memberlist.Node) error {
	err := p.checkMergeMembers(peers)
	if err != nil {
		p.logger.Warn("refusing to merge with cluster", "error", err)
		if p.joining.Load() {
			p.mergeErrLock.Lock()
			p.joinMergeErr = err
			p.mergeErrLock.Unlock()
		}
	}
	return err
}

// admitted reports whether n is already an alive member here with the
// same address, port and metadata: it passed the merge checks when it became
// one, so an alive message that repeats it needs no new check. memberlist
// asks for every alive message it handles, under its node lock, and a pool
// of N members gossips each member's alive message some 4·log(N) times to
// every member, while checkMergeMembers walks all N members: without this,
// joining 300 members at once saturated two cores for minutes
// (bench/scale).
func (p *Pool) admitted(n *memberlist.Node) bool {
	p.memberLock.RLock()
	defer p.memberLock.RUnlock()
	ms, ok := p.members[n.Name]
	return ok && ms.member.Status == structs.StatusAlive && ms.member.Port == n.Port &&
		ms.meta == string(n.Meta) && ms.member.Addr == n.Addr.String()
}

// checkMergeMembers refuses peers whose node ID is this agent's or that
// of a live member with another name, or that MergeCheck refuses. It
// builds no index of the members: memberlist calls it (through
// NotifyAlive) for every alive message about a member not yet admitted,
// one peer at a time, so in a pool of N joining members it runs some N²
// times; a walk comparing IDs costs no allocation, where a map of all N
// IDs per call did (bench/scale profile, issue 15).
func (p *Pool) checkMergeMembers(peers []*memberlist.Node) error {
	p.tagLock.RLock()
	selfID := p.tags[structs.TagID]
	p.tagLock.RUnlock()
	members := make([]structs.Member, 0, len(peers))
	for _, n := range peers {
		m := p.nodeToMember(n, structs.StatusAlive)
		if n.State == memberlist.StateDead || n.State == memberlist.StateLeft {
			m.Status = structs.StatusFailed
			if n.State == memberlist.StateLeft {
				m.Status = structs.StatusLeft
			}
		}
		members = append(members, m)
	}
	p.memberLock.RLock()
	err := p.idConflictLocked(members, peers, selfID)
	p.memberLock.RUnlock()
	if err != nil {
		return err
	}
	if p.cfg.MergeCheck != nil {
		if err := p.cfg.MergeCheck(members); err != nil {
			return err
		}
	}
	return nil
}

// idConflictLocked reports the first alive peer (in order) whose node ID is
// selfID or belongs to a live member (alive or leaving) with another name.
// members[i] is peers[i] decoded. Callers hold memberLock for reading.
func (p *Pool) idConflictLocked(members []structs.Member, peers []*memberlist.Node, selfID string) error {
	owner := p.liveOwnerLocked
	if len(peers) > 1 {
		// A push/pull brings every member of the other side: one index of
		// the live members' IDs, not a walk per peer.
		owners := p.liveOwnersLocked()
		owner = func(id, name string) (string, bool) {
			for _, o := range owners[id] {
				if o != name {
					return o, true
				}
			}
			return "", false
		}
	}
	for i, m := range members {
		if m.Status != structs.StatusAlive {
			continue
		}
		id := m.Tags[structs.TagID]
		if id == "" {
			continue
		}
		n := peers[i]
		if id == selfID && n.Name != p.cfg.NodeName {
			return &NodeIDConflictError{Member: n.Name, ID: id}
		}
		if owner, ok := owner(id, n.Name); ok {
			return &NodeIDConflictError{Member: n.Name, ID: id, Other: owner}
		}
	}
	return nil
}

// liveOwnersLocked maps every node ID to the live members (alive or
// leaving, this agent not included) that carry it. Callers hold memberLock
// for reading.
func (p *Pool) liveOwnersLocked() map[string][]string {
	owners := make(map[string][]string, len(p.members))
	for name, ms := range p.members {
		if name == p.cfg.NodeName {
			continue
		}
		if ms.member.Status != structs.StatusAlive && ms.member.Status != structs.StatusLeaving {
			continue
		}
		if id := ms.member.Tags[structs.TagID]; id != "" {
			owners[id] = append(owners[id], name)
		}
	}
	return owners
}

// liveOwnerLocked finds a live member other than this agent and other than
// name that carries node ID id. Callers hold memberLock for reading.
func (p *Pool) liveOwnerLocked(id, name string) (string, bool) {
	for other, ms := range p.members {
		if other == name || other == p.cfg.NodeName {
			continue
		}
		if ms.member.Status != structs.StatusAlive && ms.member.Status != structs.StatusLeaving {
			continue
		}
		if ms.member.Tags[structs.TagID] == id {
			return other, true
		}
	}
	return "", false
}

// reconnectLoop retries one random failed member every ReconnectInterval.
func (p *Pool) reconnectLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.ReconnectInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.shutdownCh:
			return
		}
		if poolState(p.state.Load()) != stateAlive {
			continue
		}
		var failed []string
		p.memberLock.RLock()
		for _, ms := range p.members {
			if ms.member.Status == structs.StatusFailed {
				failed = append(failed, JoinAddr(ms.member.Name, joinHostPort(ms.member.Addr, ms.member.Port)))
			}
		}
		p.memberLock.RUnlock()
		if len(failed) == 0 {
			continue
		}
		addr := failed[rand.IntN(len(failed))]
		if _, err := p.ml.Join([]string{addr}); err != nil {
			p.logger.Debug("reconnect to failed member did not succeed", "member", addr, "error", err)
		} else {
			p.logger.Info("reconnected to failed member", "member", addr)
		}
	}
}

// reapLoop removes failed members after ReconnectTimeout, left members
// after TombstoneTimeout, and stale intents.
func (p *Pool) reapLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.shutdownCh:
			return
		}
		p.reap()
		p.sampleQueues()
	}
}

func (p *Pool) reap() {
	now := p.now()
	p.memberLock.Lock()
	defer p.memberLock.Unlock()
	changed := false
	for name, ms := range p.members {
		if name == p.cfg.NodeName || ms.leaveTime.IsZero() {
			continue
		}
		age := now.Sub(ms.leaveTime)
		if (ms.member.Status == structs.StatusFailed && age > p.cfg.ReconnectTimeout) ||
			(ms.member.Status == structs.StatusLeft && age > p.cfg.TombstoneTimeout) {
			p.eraseLocked(name)
			changed = true
		}
	}
	for name, in := range p.recentIntents {
		if now.Sub(in.wallTime) > recentIntentTimeout {
			delete(p.recentIntents, name)
		}
	}
	if changed {
		p.snapshotChanged()
	}
}
