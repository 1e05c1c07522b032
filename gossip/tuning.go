package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Tuning is a gossip_lan / gossip_wan block: the memberlist timers the
// agent sets over a pool's base configuration. Its fields match
// config.GossipRuntime one for one, so the agent (and the scale bench)
// convert one into the other rather than copying field by field.
type Tuning struct {
	GossipNodes    int
	GossipInterval time.Duration
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	RetransmitMult int
}

// Apply sets the non-zero fields of t on ml; zero fields keep ml's value.
func (t Tuning) Apply(ml *memberlist.Config) {
	if t.GossipNodes > 0 {
		ml.GossipNodes = t.GossipNodes
	}
	if t.GossipInterval > 0 {
		ml.GossipInterval = t.GossipInterval
	}
	if t.ProbeInterval > 0 {
		ml.ProbeInterval = t.ProbeInterval
	}
	if t.ProbeTimeout > 0 {
		ml.ProbeTimeout = t.ProbeTimeout
	}
	if t.SuspicionMult > 0 {
		ml.SuspicionMult = t.SuspicionMult
	}
	if t.RetransmitMult > 0 {
		ml.RetransmitMult = t.RetransmitMult
	}
}
