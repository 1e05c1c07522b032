package gossip

import (
	"bytes"
	"fmt"

	"consulate/structs"
)

// UserEvent gossips a user event to every member; each member (this one
// included) delivers it once on Events(). With coalesce, a consumer that is
// behind sees only the newest pending event of that name.
func (p *Pool) UserEvent(name string, payload []byte, coalesce bool) error {
	if name == "" {
		return fmt.Errorf("gossip: user event name is empty")
	}
	if size := len(name) + len(payload); size > p.cfg.UserEventSizeLimit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrUserEventLarge, size, p.cfg.UserEventSizeLimit)
	}
	if poolState(p.state.Load()) == stateShutdown {
		return ErrShutdown
	}
	msg := &messageUserEvt{LTime: p.eventClock.Increment(), Name: name, Payload: payload, CC: coalesce}
	raw, err := encodeMessage(messageUserEvent, msg)
	if err != nil {
		return err
	}
	if len(raw) > userEventSizeHardLimit {
		return fmt.Errorf("%w: encoded %d bytes", ErrUserEventLarge, len(raw))
	}
	p.handleUserEvent(msg)
	p.userBroadcasts.QueueBroadcast(&broadcast{msg: raw})
	return nil
}

// handleUserEvent records and delivers a user event unless it was seen
// already or is too old; true means rebroadcast it.
// maxEventsPerLTime bounds the events kept for one Lamport time.
const maxEventsPerLTime = 64

func (p *Pool) handleUserEvent(msg *messageUserEvt) bool {
	// Events from peers are held to the same size as our own, and a slot
	// (one Lamport time) holds a bounded number of them.
	if len(msg.Name)+len(msg.Payload) > p.cfg.UserEventSizeLimit {
		p.logger.Warn("dropping oversized user event", "name", msg.Name, "size", len(msg.Name)+len(msg.Payload))
		return false
	}
	p.eventClock.Witness(msg.LTime)
	p.eventLock.Lock()
	if msg.LTime < p.eventMinTime {
		p.eventLock.Unlock()
		return false
	}
	cur := p.eventClock.Time()
	n := LamportTime(len(p.eventBuffer))
	if cur > n && msg.LTime < cur-n {
		p.eventLock.Unlock()
		p.logger.Warn("user event too old to deliver", "name", msg.Name, "ltime", msg.LTime, "clock", cur)
		return false
	}
	idx := msg.LTime % n
	slot := p.eventBuffer[idx]
	if slot != nil && slot.LTime == msg.LTime {
		for _, e := range slot.Events {
			if e.Name == msg.Name && bytes.Equal(e.Payload, msg.Payload) {
				p.eventLock.Unlock()
				return false
			}
		}
	} else {
		slot = &userEventsAt{LTime: msg.LTime}
		p.eventBuffer[idx] = slot
	}
	if len(slot.Events) >= maxEventsPerLTime {
		p.eventLock.Unlock()
		p.logger.Warn("dropping user event: too many at one Lamport time", "name", msg.Name, "ltime", msg.LTime)
		return false
	}
	slot.Events = append(slot.Events, userEventRecord{Name: msg.Name, Payload: msg.Payload, CC: msg.CC})
	p.eventLock.Unlock()

	ev := &structs.UserEvent{Name: msg.Name, Payload: msg.Payload, LTime: uint64(msg.LTime)}
	p.logger.Debug("user event", "name", msg.Name, "ltime", msg.LTime)
	p.memberLock.Lock()
	p.emitLocked(Event{Type: User, User: ev, Coalesce: msg.CC})
	p.memberLock.Unlock()
	return true
}
