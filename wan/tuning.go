package wan

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// TuneServer sets the failure-detection timers a server's WAN pool uses on
// top of memberlist's WAN base and gossip_wan, so that a dead remote server
// is marked failed within about 15 s (memberlist's WAN defaults take
// minutes). The agent and the scale bench (bench/scale) both call it.
func TuneServer(ml *memberlist.Config) {
	// Suspicion lasts 4 s with confirmations from other servers, 8 s
	// without (with gossip_wan's probe timers).
	ml.SuspicionMaxTimeoutMult = 2
	// Lifeguard stretches probe intervals when this server itself looks
	// unhealthy, which is exactly when a remote datacenter dies (half the
	// pool stops answering); cap the stretch so detection stays prompt.
	ml.AwarenessMaxMultiplier = 2
	// Full state exchange every few seconds: WAN pools hold only servers,
	// so it is cheap, and it repairs the alive broadcasts memberlist's
	// queue can lose when several same-sized messages are queued at once.
	ml.PushPullInterval = 5 * time.Second
}
