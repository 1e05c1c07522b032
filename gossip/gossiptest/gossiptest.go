// Package gossiptest holds helpers for tests of gossip pools: memberlist
// timers shrunk for loopback and a condition poller. Never import it from
// production code.
package gossiptest

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/internal/testutil"
)

// MemberlistConfig returns memberlist's LAN config with timers shrunk so
// failure detection takes a fraction of a second on loopback.
func MemberlistConfig() *memberlist.Config {
	c := memberlist.DefaultLANConfig()
	c.ProbeInterval = 50 * time.Millisecond
	c.ProbeTimeout = 25 * time.Millisecond
	c.GossipInterval = 10 * time.Millisecond
	c.SuspicionMult = 2
	c.SuspicionMaxTimeoutMult = 2
	c.PushPullInterval = 200 * time.Millisecond
	c.TCPTimeout = 200 * time.Millisecond
	c.GossipToTheDeadTime = time.Second
	c.DeadNodeReclaimTime = 100 * time.Millisecond
	c.IndirectChecks = 1
	return c
}

// WaitFor polls cond until it returns true or timeout passes; on timeout
// it fails the test with the last reason cond gave. It is
// testutil.WaitForErr for conditions that explain themselves as a string.
func WaitFor(t testing.TB, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	testutil.WaitForErr(t, timeout, "gossip condition", func() error {
		if ok, why := cond(); !ok {
			return errors.New(why)
		}
		return nil
	})
}
