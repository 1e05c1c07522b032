package preparedquery

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"consulate/structs"
)

// LocalFunc reads a service's instances with their checks in the local
// datacenter.
type LocalFunc func(ctx context.Context, service string) (structs.CheckServiceNodes, error)

// RemoteFunc runs an already resolved query in another datacenter.
type RemoteFunc func(ctx context.Context, dc string, q *structs.PreparedQuery, limit int) (*structs.PreparedQueryExecuteResponse, error)

// OrderFunc lists the failover datacenters for nearestN and listed, in the
// order they are to be tried (see federation.Router.FailoverOrder).
type OrderFunc func(nearestN int, listed []string) []string

// NearFunc orders instances nearest first from the named node, in place;
// it reports false when it could not (no coordinates), and the instances
// are then shuffled.
type NearFunc func(node string, nodes structs.CheckServiceNodes) bool

// Executor runs prepared queries.
type Executor struct {
	LocalDC string
	Local   LocalFunc
	Remote  RemoteFunc
	Order   OrderFunc
	// Near, if set, serves the query's Near option; AgentNode is what
	// "_agent" stands for.
	Near      NearFunc
	AgentNode string

	// beforeWait, for tests, runs before each wait for a failover
	// answer; pending tells how many answers are in and not yet read.
	beforeWait func(pending func() int)
}

// MaxFailoverConcurrency bounds how many failover datacenters Execute asks
// at the same time.
const MaxFailoverConcurrency = 32

// Execute runs q here and, if it finds no healthy instance, in the
// failover datacenters, each asked at most once. The answer is the one of
// the first datacenter in failover order with healthy instances, as when
// asking them one at a time; Failovers counts the datacenters up to and
// including that one (all of them when none answers), as Consul reports.
//
// The failover datacenters are asked at once (at most
// MaxFailoverConcurrency in flight, started in order), so the latency is
// that of the slowest datacenter needed, not the sum of all of them. The
// price: a datacenter later in order is asked even when an earlier one
// answers, at most one RPC each, and cancelled as soon as the answer is
// known. A datacenter that fails counts as one without instances, as
// Consul does.
//
// The cost, against Consul: whenever no local instance is healthy, one
// query RPC goes to every failover datacenter at once (up to
// MaxFailoverConcurrency, 32, in flight), where Consul asks them one at a
// time and stops at the first with instances. A query failing over to N
// datacenters thus costs up to N remote RPCs per execution even when the
// first answers; the ones still running are cancelled then.
func (e *Executor) Execute(ctx context.Context, q *structs.PreparedQuery, limit int) (*structs.PreparedQueryExecuteResponse, error) {
	resp, err := e.ExecuteLocal(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	if len(resp.Nodes) > 0 || e.Remote == nil || e.Order == nil {
		return resp, nil
	}
	dcs := e.failoverDCs(q)
	if len(dcs) == 0 {
		return resp, nil
	}
	i, remote, started, err := e.firstAnswer(ctx, dcs, q, limit)
	if err != nil {
		return nil, err
	}
	if remote == nil {
		resp.Failovers = started
		return resp, nil
	}
	remote.Failovers = i + 1
	remote.Datacenter = dcs[i]
	remote.Service = q.Service.Service
	remote.DNS = q.DNS
	return remote, nil
}

// failoverDCs is the failover order without the local datacenter and
// without repeats (each datacenter is asked once).
func (e *Executor) failoverDCs(q *structs.PreparedQuery) []string {
	order := e.Order(q.Service.Failover.NearestN, q.Service.Failover.Datacenters)
	seen := make(map[string]bool, len(order))
	out := make([]string, 0, len(order))
	for _, dc := range order {
		if dc == e.LocalDC || seen[dc] {
			continue
		}
		seen[dc] = true
		out = append(out, dc)
	}
	return out
}

type remoteResult struct {
	i    int
	resp *structs.PreparedQueryExecuteResponse
	err  error
}

// firstAnswer asks the datacenters concurrently and returns the index and
// answer of the first one in order with instances, or a nil answer when
// none has any; started is how many were asked. The calls still running
// when it returns are cancelled. It fails only when ctx is cancelled
// before the answer is known (a deadline ends the failover like a
// sequential one would: no answer). Answers already in when ctx ends are
// still read and decide.
func (e *Executor) firstAnswer(ctx context.Context, dcs []string, q *structs.PreparedQuery, limit int) (int, *structs.PreparedQueryExecuteResponse, int, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Buffered for every call so that none blocks once we stopped reading.
	done := make(chan remoteResult, len(dcs))
	results := make([]*remoteResult, len(dcs))
	started, inflight, next := 0, 0, 0
	start := func() {
		i := started
		started++
		inflight++
		go func() {
			r, err := e.Remote(cctx, dcs[i], q, limit)
			done <- remoteResult{i: i, resp: r, err: err}
		}()
	}
	for started < len(dcs) && inflight < MaxFailoverConcurrency {
		start()
	}
	// decide records r and reports the answer of the earliest datacenters
	// in order that answered, if one has instances.
	decide := func(r remoteResult) (int, *structs.PreparedQueryExecuteResponse) {
		inflight--
		results[r.i] = &r
		for next < len(dcs) && results[next] != nil {
			if res := results[next]; res.err == nil && res.resp != nil && len(res.resp.Nodes) > 0 {
				return next, res.resp
			}
			next++
		}
		return 0, nil
	}
	for inflight > 0 {
		if e.beforeWait != nil {
			e.beforeWait(func() int { return len(done) })
		}
		select {
		case r := <-done:
			if i, resp := decide(r); resp != nil {
				return i, resp, started, nil
			}
			if started < len(dcs) && ctx.Err() == nil {
				start()
			}
		case <-ctx.Done():
			// select picks at random among ready cases: answers already
			// in count before giving up, so that an answer that made the
			// deadline is not thrown away.
			for drained := false; !drained; {
				select {
				case r := <-done:
					if i, resp := decide(r); resp != nil {
						return i, resp, started, nil
					}
				default:
					drained = true
				}
			}
			return 0, nil, started, endErr(ctx)
		}
	}
	return 0, nil, started, endErr(ctx)
}

// endErr is firstAnswer's error once no datacenter answered: the caller's
// cancellation (the calls failed because the caller went away, not
// because their datacenters have nothing), or nil for a deadline, which
// ends the failover as a sequential one would: no answer.
func endErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return nil
}

// ExecuteLocal runs q against the local datacenter only.
func (e *Executor) ExecuteLocal(ctx context.Context, q *structs.PreparedQuery, limit int) (*structs.PreparedQueryExecuteResponse, error) {
	nodes, err := e.Local(ctx, q.Service.Service)
	if err != nil {
		return nil, err
	}
	nodes = Filter(q, nodes)
	near := q.Service.Near
	if near == "_agent" {
		near = e.AgentNode
	}
	if near == "" || e.Near == nil || !e.Near(near, nodes) {
		rand.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	}
	if limit > 0 && len(nodes) > limit {
		nodes = nodes[:limit]
	}
	return &structs.PreparedQueryExecuteResponse{
		Service: q.Service.Service, Nodes: nodes, DNS: q.DNS, Datacenter: e.LocalDC,
	}, nil
}

// Filter keeps the instances q accepts: none with a critical check (or,
// with OnlyPassing, a warning), except checks q ignores; all of q's tags
// present and none of its "!tag"s; node and service meta matching.
func Filter(q *structs.PreparedQuery, in structs.CheckServiceNodes) structs.CheckServiceNodes {
	ignore := make(map[string]bool, len(q.Service.IgnoreCheckIDs))
	for _, id := range q.Service.IgnoreCheckIDs {
		ignore[id] = true
	}
	out := make(structs.CheckServiceNodes, 0, len(in))
outer:
	for _, n := range in {
		for _, c := range n.Checks {
			if ignore[c.CheckID] {
				continue
			}
			switch c.Status {
			case structs.HealthCritical, structs.HealthMaint:
				continue outer
			case structs.HealthWarning:
				if q.Service.OnlyPassing {
					continue outer
				}
			}
		}
		if n.Service == nil || !tagsMatch(q.Service.Tags, n.Service.Tags) {
			continue
		}
		if n.Node != nil && !metaMatch(q.Service.NodeMeta, n.Node.Meta) {
			continue
		}
		if !metaMatch(q.Service.ServiceMeta, n.Service.Meta) {
			continue
		}
		out = append(out, n)
	}
	return out
}

func tagsMatch(want, have []string) bool {
	for _, w := range want {
		neg := strings.HasPrefix(w, "!")
		w = strings.ToLower(strings.TrimPrefix(w, "!"))
		found := false
		for _, h := range have {
			if strings.ToLower(h) == w {
				found = true
				break
			}
		}
		if found == neg {
			return false
		}
	}
	return true
}

func metaMatch(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func parseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errors.New("negative TTL")
	}
	return d, nil
}
