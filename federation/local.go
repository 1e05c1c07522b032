package federation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	"consulate/structs"
)

// LocalServers is a client agent's view of its own datacenter's servers,
// fed by LAN membership. Calls go to one preferred server; on a transport
// failure the next one is tried and becomes preferred. Rebalance shuffles
// the preference so clients spread over servers. Calls the leader must
// run (writes, reads that are not ?stale) go first to the leader the
// caller's hints name (LeaderHinter) when it is an alive server here,
// saving the hop through a follower; the preference is left alone.
type LocalServers struct {
	caller Caller
	hints  LeaderHinter // caller, when it gives leader hints; else nil
	dc     structs.Datacenter

	// mu guards servers, preferred and the skipped hint.
	mu        sync.Mutex
	servers   map[string]Server
	preferred structs.ServerAddr
	// skipHint is a hinted leader that did not answer; it is not tried
	// first again until skipUntil, or until the hint names another server.
	skipHint  structs.ServerAddr
	skipUntil time.Time
}

// hintSkip is how long a hinted leader that did not answer is not tried
// first (the hint usually moves on sooner: the next server's answer
// names the new leader once one is elected).
const hintSkip = 5 * time.Second

// NewLocalServers builds an empty LocalServers for the servers of
// datacenter dc.
func NewLocalServers(caller Caller, dc structs.Datacenter) *LocalServers {
	hints, _ := caller.(LeaderHinter)
	return &LocalServers{caller: caller, hints: hints, dc: dc, servers: make(map[string]Server)}
}

// Update records a LAN server's state; left servers are forgotten.
func (l *LocalServers) Update(s Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.Status == structs.StatusLeft || s.Status == structs.StatusNone {
		delete(l.servers, s.Name)
		return
	}
	l.servers[s.Name] = s
}

// Rebalance picks a new random preferred server among the alive ones.
func (l *LocalServers) Rebalance() {
	l.mu.Lock()
	defer l.mu.Unlock()
	alive := l.aliveLocked()
	if len(alive) > 0 {
		l.preferred = alive[rand.IntN(len(alive))]
	}
}

func (l *LocalServers) aliveLocked() []structs.ServerAddr {
	var out []structs.ServerAddr
	for _, s := range l.servers {
		if s.Status == structs.StatusAlive {
			out = append(out, s.Addr)
		}
	}
	slices.Sort(out)
	return out
}

// Addrs returns the alive servers' addresses, the preferred one first.
func (l *LocalServers) Addrs() []structs.ServerAddr {
	l.mu.Lock()
	defer l.mu.Unlock()
	alive := l.aliveLocked()
	for i, a := range alive {
		if a == l.preferred {
			alive[0], alive[i] = alive[i], alive[0]
			return alive
		}
	}
	if len(alive) > 0 {
		rand.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
		l.preferred = alive[0]
	}
	return alive
}

// Call sends a call to a server of the local datacenter, moving on to the
// next one when a server cannot be reached.
func (l *LocalServers) Call(ctx context.Context, method structs.Method, args, reply any) error {
	gometrics.IncrCounter([]string{"client", "rpc"}, 1)
	addrs := l.Addrs()
	if len(addrs) == 0 {
		gometrics.IncrCounter([]string{"client", "rpc", "failed"}, 1)
		return structs.ErrNoServers
	}
	toLeader := false
	// Only for this datacenter: a call for another one is relayed by
	// whichever local server takes it, and the local leader should not
	// carry every such relay.
	if l.hints != nil && len(addrs) > 1 && wantsLeader(args) && l.forLocalDC(args) {
		if hint := l.hints.LeaderHint(l.dc); hint != "" && l.hintUsable(hint) {
			toLeader = leaderFirst(addrs, hint)
		}
	}
	var lastErr error
	for i, addr := range addrs {
		err := l.caller.Call(ctx, l.dc, addr, method, args, reply)
		if err != nil && !answered(err) {
			// As Consul's NotifyFailedServer: a server that did not
			// answer (cut off, paused, dead) is not asked first next
			// time, even when this call cannot be retried.
			gometrics.IncrCounterWithLabels([]string{"client", "rpc", "failed"}, 1, []gometrics.Label{{Name: "server", Value: string(addr)}})
			l.demote(addr)
			if toLeader && i == 0 {
				l.mu.Lock()
				l.skipHint, l.skipUntil = addr, time.Now().Add(hintSkip)
				l.mu.Unlock()
			}
		}
		if err == nil || !retryable(args, err) || ctx.Err() != nil {
			if err == nil && !(toLeader && i == 0) {
				l.mu.Lock()
				l.preferred = addr
				l.mu.Unlock()
			}
			return err
		}
		lastErr = err
	}
	if errors.Is(lastErr, structs.ErrNoLeader) || errors.Is(lastErr, structs.ErrRateLimited) {
		return lastErr
	}
	return fmt.Errorf("%w: every server failed, last: %v", structs.ErrNoServers, lastErr)
}

// hintUsable tells whether hint may be tried first: it is not a hinted
// leader that lately did not answer.
func (l *LocalServers) hintUsable(hint structs.ServerAddr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return hint != l.skipHint || time.Now().After(l.skipUntil)
}

// answered reports whether a failed call got an answer from its server.
func answered(err error) bool {
	var re *structs.RemoteError
	return errors.As(err, &re)
}

// demote moves the preference off addr to another alive server.
func (l *LocalServers) demote(addr structs.ServerAddr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.preferred != addr {
		return
	}
	var others []structs.ServerAddr
	for _, a := range l.aliveLocked() {
		if a != addr {
			others = append(others, a)
		}
	}
	if len(others) > 0 {
		l.preferred = others[rand.IntN(len(others))]
	}
}

// forLocalDC reports whether args are for this datacenter.
func (l *LocalServers) forLocalDC(args any) bool {
	info, ok := args.(structs.RPCInfo)
	if !ok {
		return true
	}
	dc := info.RequestDatacenter()
	return dc == "" || structs.Datacenter(dc) == l.dc
}
