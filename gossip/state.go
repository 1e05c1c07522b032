package gossip

import (
	"math"
	"net"
	"strconv"

	"consulate/structs"
)

// localState is our half of a push/pull: member intents' times, who left,
// and the recent user events.
func (p *Pool) localState() []byte {
	pp := messagePushPullState{StatusLTimes: map[string]LamportTime{}}
	p.memberLock.RLock()
	pp.LTime = p.clock.Time()
	for name, ms := range p.members {
		pp.StatusLTimes[name] = ms.statusLTime
		if ms.member.Status == structs.StatusLeft {
			pp.LeftMembers = append(pp.LeftMembers, name)
		}
	}
	p.memberLock.RUnlock()

	p.eventLock.Lock()
	pp.EventLTime = p.eventClock.Time()
	for _, slot := range p.eventBuffer {
		if slot != nil {
			pp.Events = append(pp.Events, *slot)
		}
	}
	p.eventLock.Unlock()

	buf, err := encodeMessage(messagePushPull, &pp)
	if err != nil {
		p.logger.Error("could not encode push/pull state", "error", err)
		return nil
	}
	return buf
}

// mergeRemoteState applies the other side's push/pull state as intents.
func (p *Pool) mergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 || messageType(buf[0]) != messagePushPull {
		p.logger.Warn("remote state is not a push/pull message")
		return
	}
	var pp messagePushPullState
	if err := decodeMessage(buf[1:], &pp); err != nil {
		p.logger.Warn("bad push/pull state", "error", err)
		return
	}
	if pp.LTime > 0 {
		p.clock.Witness(pp.LTime - 1)
	}
	left := make(map[string]bool, len(pp.LeftMembers))
	for _, name := range pp.LeftMembers {
		left[name] = true
	}
	// Leaves first, one tick later than the status time they carry (as
	// serf does), so a member we hold as failed at that same time still
	// moves to left.
	for name, lt := range pp.StatusLTimes {
		if left[name] && lt < LamportTime(math.MaxUint64) {
			p.handleNodeLeaveIntent(&messageLeaveIntent{LTime: lt + 1, Node: name})
		}
	}
	for name, lt := range pp.StatusLTimes {
		if !left[name] {
			p.handleNodeJoinIntent(&messageJoinIntent{LTime: lt, Node: name})
		}
	}
	if pp.EventLTime > 0 {
		p.eventClock.Witness(pp.EventLTime - 1)
	}
	if join && p.ignoreOld.Load() {
		p.eventLock.Lock()
		if pp.EventLTime+1 > p.eventMinTime {
			p.eventMinTime = pp.EventLTime + 1
		}
		p.eventLock.Unlock()
	}
	for _, slot := range pp.Events {
		for _, e := range slot.Events {
			p.handleUserEvent(&messageUserEvt{LTime: slot.LTime, Name: e.Name, Payload: e.Payload, CC: e.CC})
		}
	}
}

// JoinAddr is a Join address in memberlist's "name/host:port" form: the
// join reaches addr and expects the node there to be called name (and the
// gateway transport routes it by that name).
func JoinAddr(name, addr string) string { return name + "/" + addr }

func joinHostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}
