package gossip

import (
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// flapTimeout is serf's: a member that comes back this soon after it
// failed counts as a flap.
const flapTimeout = 60 * time.Second

// countMember increments serf's consul.serf.member.<what> counter,
// labelled like the pool's memberlist metrics (network=lan|wan).
func (p *Pool) countMember(what string) {
	gometrics.IncrCounterWithLabels([]string{"serf", "member", what}, 1, p.cfg.Memberlist.MetricLabels)
}

// sampleQueues records the depth of the broadcast queues under serf's
// names (consul.serf.queue.Intent, .Event, .Query).
func (p *Pool) sampleQueues() {
	l := p.cfg.Memberlist.MetricLabels
	gometrics.AddSampleWithLabels([]string{"serf", "queue", "Intent"}, float32(p.intents.NumQueued()), l)
	gometrics.AddSampleWithLabels([]string{"serf", "queue", "Event"}, float32(p.userBroadcasts.NumQueued()), l)
	gometrics.AddSampleWithLabels([]string{"serf", "queue", "Query"}, float32(p.q.broadcast.NumQueued()), l)
}
