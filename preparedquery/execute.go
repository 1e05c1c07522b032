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
}

// Execute runs q here and, if it finds no healthy instance, in the
// failover datacenters one at a time, each at most once. Failovers counts
// the datacenters tried beyond the local one up to the one that answered.
func (e *Executor) Execute(ctx context.Context, q *structs.PreparedQuery, limit int) (*structs.PreparedQueryExecuteResponse, error) {
	resp, err := e.ExecuteLocal(ctx, q, limit)
	if err != nil {
		return nil, err
	}
	if len(resp.Nodes) > 0 || e.Remote == nil || e.Order == nil {
		return resp, nil
	}
	var lastErr error
	tried := 0
	for _, dc := range e.Order(q.Service.Failover.NearestN, q.Service.Failover.Datacenters) {
		if dc == e.LocalDC {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		tried++
		remote, err := e.Remote(ctx, dc, q, limit)
		if err != nil {
			// An unreachable or unknown datacenter is skipped, as Consul
			// does; the next one may answer.
			lastErr = err
			continue
		}
		if len(remote.Nodes) == 0 {
			continue
		}
		remote.Failovers = tried
		remote.Datacenter = dc
		remote.Service = q.Service.Service
		remote.DNS = q.DNS
		return remote, nil
	}
	resp.Failovers = tried
	if lastErr != nil && tried > 0 && errors.Is(lastErr, context.Canceled) {
		return nil, lastErr
	}
	return resp, nil
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
