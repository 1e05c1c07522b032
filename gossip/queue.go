package gossip

import "github.com/hashicorp/memberlist"

// broadcastQueue wraps memberlist's TransmitLimitedQueue to work around a
// flaw in memberlist v0.7.0: the queue resets its id generator whenever it
// becomes empty (also in the middle of an invalidation or a transmit), and
// its btree treats two entries with the same transmit count, length and id
// as one, so a later message of the same length can silently replace a
// queued one (we saw a force-leave vanish this way). An anchor entry that
// is larger than any packet keeps the queue from ever being empty and is
// never selected for sending.
type broadcastQueue struct {
	q *memberlist.TransmitLimitedQueue
}

// queueAnchor never leaves the queue: too large for any packet, and it
// neither invalidates nor is invalidated by our broadcasts.
type queueAnchor struct{ msg []byte }

func (a *queueAnchor) Invalidates(memberlist.Broadcast) bool { return false }
func (a *queueAnchor) Message() []byte                       { return a.msg }
func (a *queueAnchor) Finished()                             {}

func newBroadcastQueue(numNodes func() int, retransmitMult int) *broadcastQueue {
	q := &memberlist.TransmitLimitedQueue{NumNodes: numNodes, RetransmitMult: retransmitMult}
	q.QueueBroadcast(&queueAnchor{msg: make([]byte, 64*1024)})
	return &broadcastQueue{q: q}
}

// maxQueueDepth bounds a queue, as serf does: past it the messages sent
// most often go first (Prune keeps the anchor, which has been sent least).
const maxQueueDepth = 4096

// QueueBroadcast queues b for gossip.
func (b *broadcastQueue) QueueBroadcast(m memberlist.Broadcast) {
	b.q.QueueBroadcast(m)
	if b.q.NumQueued() > maxQueueDepth+1 {
		b.q.Prune(maxQueueDepth + 1)
	}
}

// GetBroadcasts returns messages to piggyback, within limit bytes.
func (b *broadcastQueue) GetBroadcasts(overhead, limit int) [][]byte {
	return b.q.GetBroadcasts(overhead, limit)
}

// NumQueued is the number of messages waiting (the anchor not counted).
func (b *broadcastQueue) NumQueued() int { return b.q.NumQueued() - 1 }
