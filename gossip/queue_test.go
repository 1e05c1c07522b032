package gossip

import "testing"

// After a transmit, invalidating the only queued message and queueing two of
// the same length must keep both (memberlist v0.7.0's bare queue keeps one).
func TestBroadcastQueueKeepsSameLengthMessages(t *testing.T) {
	q := newBroadcastQueue(func() int { return 2 }, 4)
	q.QueueBroadcast(&broadcast{node: "n", ltime: 4, msg: []byte("old")})
	q.GetBroadcasts(3, 1400)                                              // sent once: the queue is briefly empty inside
	q.QueueBroadcast(&broadcast{node: "n", ltime: 6, msg: []byte("new")}) // invalidates old
	q.QueueBroadcast(&broadcast{node: "n", ltime: 4, msg: []byte("late")[:3]})
	if n := q.NumQueued(); n != 2 {
		t.Fatalf("NumQueued = %d, want 2", n)
	}
	got := map[string]bool{}
	for i := 0; i < 10 && len(got) < 2; i++ {
		for _, m := range q.GetBroadcasts(3, 1400) {
			got[string(m)] = true
		}
	}
	if !got["new"] || !got["lat"] {
		t.Fatalf("sent %v, want both messages", got)
	}
}
