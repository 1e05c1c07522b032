package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/coordinate"

	"consulate/acl"
	"consulate/catalog"
	"consulate/structs"
)

// buildEndpoints maps every method name to its handler.
func (s *Server) buildEndpoints() map[structs.Method]endpoint {
	return map[structs.Method]endpoint{
		structs.MethodStatusLeader: ep(routeLocal, s.statusLeader),
		structs.MethodStatusPeers:  ep(routeLocal, s.statusPeers),
		structs.MethodStatusPing:   ep(routeLocal, s.statusPing),

		structs.MethodCatalogRegister:     ep(routeLeader, s.catalogRegister),
		structs.MethodCatalogDeregister:   ep(routeLeader, s.catalogDeregister),
		structs.MethodCatalogDatacenters:  ep(routeLocal, s.catalogDatacenters),
		structs.MethodCatalogListNodes:    ep(routeDefault, s.catalogListNodes),
		structs.MethodCatalogListServices: ep(routeDefault, s.catalogListServices),
		structs.MethodCatalogServiceNodes: ep(routeDefault, s.catalogServiceNodes),
		structs.MethodCatalogNodeServices: ep(routeDefault, s.catalogNodeServices),

		structs.MethodHealthNodeChecks:    ep(routeDefault, s.healthNodeChecks),
		structs.MethodHealthServiceChecks: ep(routeDefault, s.healthServiceChecks),
		structs.MethodHealthServiceNodes:  ep(routeDefault, s.healthServiceNodes),
		structs.MethodHealthChecksInState: ep(routeDefault, s.healthChecksInState),

		structs.MethodInternalServiceSummary: ep(routeDefault, s.internalServiceSummary),

		// Streams (subscribe.go): served by Stream, never by RPC.
		structs.MethodSubscribeServiceHealth: streamEp[structs.SubscribeRequest, structs.ServiceHealthEvent](s.subscribeServiceHealth),

		structs.MethodKVSApply:    ep(routeLeader, s.kvsApply),
		structs.MethodKVSGet:      ep(routeDefault, s.kvsGet),
		structs.MethodKVSList:     ep(routeDefault, s.kvsList),
		structs.MethodKVSListKeys: ep(routeDefault, s.kvsListKeys),

		structs.MethodSessionApply:    ep(routeLeader, s.sessionApply),
		structs.MethodSessionGet:      ep(routeDefault, s.sessionGet),
		structs.MethodSessionList:     ep(routeDefault, s.sessionList),
		structs.MethodSessionNodeList: ep(routeDefault, s.sessionNodeSessions),
		structs.MethodSessionRenew:    ep(routeLeader, s.sessionRenew),

		structs.MethodTxnApply: ep(routeLeader, s.txnApply),
		structs.MethodTxnRead:  ep(routeDefault, s.txnRead),

		structs.MethodCoordinateUpdate:          ep(routeLeader, s.coordinateUpdate),
		structs.MethodCoordinateListNodes:       ep(routeDefault, s.coordinateListNodes),
		structs.MethodCoordinateListDatacenters: ep(routeLocal, s.coordinateListDatacenters),

		structs.MethodEventFire:        ep(routeLocal, s.eventFire),
		structs.MethodKeyringOperation: ep(routeLocal, s.keyringOperation),
		structs.MethodAutoEncryptSign:  ep(routeLocal, s.autoEncryptSign),

		structs.MethodOperatorRaftConfiguration: ep(routeDefault, s.operatorRaftConfiguration),
		structs.MethodOperatorRaftRemovePeer:    ep(routeLeader, s.operatorRaftRemovePeer),

		// Autopilot and the newer operator methods (autopilot.go).
		structs.MethodStatusRaftStats:                   ep(routeLocal, s.statusRaftStats),
		structs.MethodOperatorAutopilotGetConfiguration: ep(routeDefault, s.autopilotGetConfiguration),
		structs.MethodOperatorAutopilotSetConfiguration: ep(routeLeader, s.autopilotSetConfiguration),
		structs.MethodOperatorServerHealth:              ep(routeLeader, s.autopilotServerHealth),
		structs.MethodOperatorAutopilotState:            ep(routeLeader, s.autopilotState),
		structs.MethodOperatorRaftTransferLeader:        ep(routeLeader, s.operatorRaftTransferLeader),
		structs.MethodOperatorWANHealth:                 ep(routeLocal, s.operatorWANHealth),
		structs.MethodInternalUIFederation:              ep(routeLocal, s.internalUIFederation),

		structs.MethodSnapshotSave:    ep(routeLeader, s.snapshotSave),
		structs.MethodSnapshotRestore: ep(routeLeader, s.snapshotRestore),

		structs.MethodPreparedQueryApply:         ep(routeLeader, s.preparedQueryApply),
		structs.MethodPreparedQueryGet:           ep(routeDefault, s.preparedQueryGet),
		structs.MethodPreparedQueryList:          ep(routeDefault, s.preparedQueryList),
		structs.MethodPreparedQueryExecute:       ep(routeDefault, s.preparedQueryExecute),
		structs.MethodPreparedQueryExecuteRemote: ep(routeDefault, s.preparedQueryExecuteRemote),
		structs.MethodPreparedQueryExplain:       ep(routeDefault, s.preparedQueryExplain),

		// ACL writes route themselves (aclWrite): to the primary or the
		// local leader.
		structs.MethodACLBootstrap:         ep(routeLocal, s.aclBootstrap),
		structs.MethodACLTokenSet:          ep(routeLocal, s.aclTokenSet),
		structs.MethodACLTokenDelete:       ep(routeLocal, s.aclTokenDelete),
		structs.MethodACLPolicySet:         ep(routeLocal, s.aclPolicySet),
		structs.MethodACLPolicyDelete:      ep(routeLocal, s.aclPolicyDelete),
		structs.MethodACLRoleSet:           ep(routeLocal, s.aclRoleSet),
		structs.MethodACLRoleDelete:        ep(routeLocal, s.aclRoleDelete),
		structs.MethodACLTokenRead:         ep(routeDefault, s.aclTokenRead),
		structs.MethodACLTokenList:         ep(routeDefault, s.aclTokenList),
		structs.MethodACLPolicyRead:        ep(routeDefault, s.aclPolicyRead),
		structs.MethodACLPolicyList:        ep(routeDefault, s.aclPolicyList),
		structs.MethodACLRoleRead:          ep(routeDefault, s.aclRoleRead),
		structs.MethodACLRoleList:          ep(routeDefault, s.aclRoleList),
		structs.MethodACLResolve:           ep(routeDefault, s.aclResolve),
		structs.MethodACLReplicationStatus: ep(routeLeader, s.aclReplicationStatus),

		// ACL replication (acl_replication.go): the leader of a secondary
		// runs it and keeps the status above.
		structs.MethodACLTokenListReplication: ep(routeDefault, s.aclTokenListReplication),
	}
}

// --- Status ---

func (s *Server) statusLeader(_ context.Context, _ *structs.EmptyRequest, reply *string) error {
	*reply = string(s.Leader())
	return nil
}

func (s *Server) statusPeers(_ context.Context, _ *structs.EmptyRequest, reply *[]string) error {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	out := []string{}
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			out = append(out, string(srv.Address))
		}
	}
	*reply = out
	return nil
}

func (s *Server) statusPing(_ context.Context, _ *structs.EmptyRequest, _ *struct{}) error {
	return nil
}

// --- Catalog ---

func (s *Server) catalogRegister(_ context.Context, args *structs.RegisterRequest, reply *struct{}) error {
	defer gometrics.MeasureSince([]string{"catalog", "register"}, time.Now())
	if args.Node == "" {
		return badRequest("Must provide node")
	}
	if args.Address == "" && !args.SkipNodeUpdate {
		return badRequest("Must provide address")
	}
	if args.Service != nil {
		if args.Service.Service == "" {
			return badRequest("Must provide service name")
		}
		if args.Service.ID == "" {
			args.Service.ID = args.Service.Service
		}
	}
	checks := append(structs.HealthChecks{}, args.Checks...)
	if args.Check != nil {
		checks = append(checks, args.Check)
	}
	for _, c := range checks {
		if c == nil {
			return badRequest("Check must not be null")
		}
		if c.CheckID == "" && c.Name != "" {
			c.CheckID = c.Name
		}
		if c.CheckID == "" {
			return badRequest("Must provide check ID")
		}
		if c.Node != "" && c.Node != args.Node {
			return badRequest("Check %q node %q does not match registration node %q", c.CheckID, c.Node, args.Node)
		}
		if c.Status == "" {
			c.Status = structs.HealthCritical
		}
		switch c.Status {
		case structs.HealthPassing, structs.HealthWarning, structs.HealthCritical, structs.HealthMaint:
		default:
			return badRequest("Check %q has invalid status %q", c.CheckID, c.Status)
		}
	}
	if args.Datacenter == "" {
		args.Datacenter = s.cfg.Datacenter
	}
	if err := s.vetRegister(args, checks); err != nil {
		return err
	}
	_, err := s.raftApply(catalog.RegisterRequestType, args)
	return err
}

func (s *Server) catalogDeregister(_ context.Context, args *structs.DeregisterRequest, reply *struct{}) error {
	defer gometrics.MeasureSince([]string{"catalog", "deregister"}, time.Now())
	if args.Node == "" {
		return badRequest("Must provide node")
	}
	if err := s.vetDeregister(args); err != nil {
		return err
	}
	if _, err := s.raftApply(catalog.DeregisterRequestType, args); err != nil {
		return err
	}
	// Sessions destroyed with the node or check lose their TTL timers.
	s.sessions.prune()
	return nil
}

func (s *Server) catalogDatacenters(_ context.Context, _ *structs.EmptyRequest, reply *structs.DatacentersReply) error {
	reply.Datacenters = s.knownDatacenters()
	return nil
}

func (s *Server) catalogListNodes(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedNodes) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, nodes, err := st.Nodes(ws)
		if err != nil {
			return err
		}
		out := structs.Nodes{}
		for _, n := range nodes {
			if structs.MatchesNodeMeta(n.Meta, args.NodeMetaFilters) {
				out = append(out, n)
			}
		}
		out, reply.ResultsFilteredByACLs = z.filterNodes(out)
		sortByDistance(st, args.Source, s.cfg.Datacenter, out, func(n *structs.Node) string { return n.Node })
		reply.Index, reply.Nodes = idx, out
		return nil
	})
}

func (s *Server) catalogListServices(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedServices) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		if len(args.NodeMetaFilters) == 0 {
			idx, svcs, err := st.Services(ws)
			reply.Index = idx
			reply.Services, reply.ResultsFilteredByACLs = z.filterServices(svcs)
			return err
		}
		// With node filters, build the union from matching nodes only.
		idx, nodes, err := st.Nodes(ws)
		if err != nil {
			return err
		}
		tags := map[string]map[string]bool{}
		for _, n := range nodes {
			if !structs.MatchesNodeMeta(n.Meta, args.NodeMetaFilters) {
				continue
			}
			if !z.nodeRead(n.Node) {
				reply.ResultsFilteredByACLs = true
				continue
			}
			sidx, ns, err := st.NodeServices(ws, n.Node)
			if err != nil {
				return err
			}
			idx = max(idx, sidx)
			if ns == nil {
				continue
			}
			for _, svc := range ns.Services {
				if tags[svc.Service] == nil {
					tags[svc.Service] = map[string]bool{}
				}
				for _, t := range svc.Tags {
					tags[svc.Service][t] = true
				}
			}
		}
		out := map[string][]string{}
		for name, set := range tags {
			list := []string{}
			for t := range set {
				list = append(list, t)
			}
			sort.Strings(list)
			out[name] = list
		}
		reply.Index = idx
		var filtered bool
		reply.Services, filtered = z.filterServices(out)
		reply.ResultsFilteredByACLs = reply.ResultsFilteredByACLs || filtered
		return nil
	})
}

func (s *Server) catalogServiceNodes(ctx context.Context, args *structs.ServiceSpecificRequest, reply *structs.IndexedServiceNodes) (err error) {
	if args.ServiceName == "" && args.ServiceAddress == "" {
		return badRequest("Must provide service name")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	var tags []string
	if args.TagFilter {
		tags = args.ServiceTags
	}
	defer func() { serviceQueried("catalog", args, len(reply.ServiceNodes) > 0, err) }()
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		var idx uint64
		var sn structs.ServiceNodes
		if args.ServiceName == "" {
			// By address alone (reverse DNS), across every service.
			idx, sn, err = st.ServiceAddressNodes(ws, args.ServiceAddress)
		} else {
			idx, sn, err = st.ServiceNodes(ws, args.ServiceName, tags)
		}
		if err != nil {
			return err
		}
		out := structs.ServiceNodes{}
		for _, n := range sn {
			if !structs.MatchesNodeMeta(n.NodeMeta, args.NodeMetaFilters) {
				continue
			}
			if args.ServiceAddress != "" && n.ServiceAddress != args.ServiceAddress {
				continue
			}
			out = append(out, n)
		}
		out, reply.ResultsFilteredByACLs = z.filterServiceNodes(out)
		sortByDistance(st, args.Source, s.cfg.Datacenter, out, func(n *structs.ServiceNode) string { return n.Node })
		reply.Index, reply.ServiceNodes = idx, out
		return nil
	})
}

func (s *Server) catalogNodeServices(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedNodeServices) error {
	if args.Node == "" {
		return badRequest("Must provide node")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, ns, err := st.NodeServices(ws, args.Node)
		reply.Index = idx
		reply.NodeServices, reply.ResultsFilteredByACLs = z.filterNodeServices(ns)
		return err
	})
}

// --- Health ---

func (s *Server) healthNodeChecks(ctx context.Context, args *structs.NodeSpecificRequest, reply *structs.IndexedHealthChecks) error {
	if args.Node == "" {
		return badRequest("Must provide node")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, checks, err := st.NodeChecks(ws, args.Node)
		reply.Index = idx
		reply.HealthChecks, reply.ResultsFilteredByACLs = z.filterChecks(checks)
		return err
	})
}

// filterChecksByNodeMeta keeps checks whose node matches the filters.
func filterChecksByNodeMeta(ws memdb.WatchSet, st *catalog.Store, checks structs.HealthChecks, filters map[string]string) (structs.HealthChecks, error) {
	if len(filters) == 0 {
		return checks, nil
	}
	out := structs.HealthChecks{}
	cache := map[string]bool{}
	for _, c := range checks {
		ok, seen := cache[c.Node]
		if !seen {
			_, n, err := st.GetNode(ws, c.Node)
			if err != nil {
				return nil, err
			}
			ok = n != nil && structs.MatchesNodeMeta(n.Meta, filters)
			cache[c.Node] = ok
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Server) healthServiceChecks(ctx context.Context, args *structs.ServiceSpecificRequest, reply *structs.IndexedHealthChecks) error {
	if args.ServiceName == "" {
		return badRequest("Must provide service name")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, checks, err := st.ServiceChecks(ws, args.ServiceName)
		if err != nil {
			return err
		}
		checks, err = filterChecksByNodeMeta(ws, st, checks, args.NodeMetaFilters)
		reply.Index = idx
		reply.HealthChecks, reply.ResultsFilteredByACLs = z.filterChecks(checks)
		return err
	})
}

func (s *Server) healthServiceNodes(ctx context.Context, args *structs.ServiceSpecificRequest, reply *structs.IndexedCheckServiceNodes) (err error) {
	if args.ServiceName == "" {
		return badRequest("Must provide service name")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	var tags []string
	if args.TagFilter {
		tags = args.ServiceTags
	}
	defer func() { serviceQueried("health", args, len(reply.Nodes) > 0, err) }()
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, out, filtered, err := s.readServiceHealth(ws, st, args.Token, args.ServiceName, tags, args.NodeMetaFilters)
		if err != nil {
			return err
		}
		reply.ResultsFilteredByACLs = filtered
		sortByDistance(st, args.Source, s.cfg.Datacenter, out, func(n structs.CheckServiceNode) string { return n.Node.Node })
		reply.Index, reply.Nodes = idx, out
		return nil
	})
}

// readServiceHealth is the read of Health.ServiceNodes (and of
// Subscribe.ServiceHealth, which must see exactly what it sees): the
// instances of service with tags (nil: all), whose node meta matches
// nodeMeta, that the token may read; filtered says the token hid some.
// The token is resolved on every call: one deleted or narrowed while a
// query waits counts at once.
func (s *Server) readServiceHealth(ws memdb.WatchSet, st *catalog.Store, token, service string, tags []string,
	nodeMeta map[string]string) (idx uint64, out structs.CheckServiceNodes, filtered bool, err error) {
	z, err := s.authorizer(token)
	if err != nil {
		return 0, nil, false, err
	}
	idx, csn, err := st.CheckServiceNodes(ws, service, tags)
	if err != nil {
		return 0, nil, false, err
	}
	out = structs.CheckServiceNodes{}
	for _, n := range csn {
		if structs.MatchesNodeMeta(n.Node.Meta, nodeMeta) {
			out = append(out, n)
		}
	}
	out, filtered = z.filterCheckServiceNodes(out)
	return idx, out, filtered, nil
}

func (s *Server) healthChecksInState(ctx context.Context, args *structs.ChecksInStateRequest, reply *structs.IndexedHealthChecks) error {
	switch args.State {
	case structs.HealthAny, structs.HealthPassing, structs.HealthWarning, structs.HealthCritical, structs.HealthMaint:
	default:
		return badRequest("Invalid check state %q", args.State)
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, checks, err := st.ChecksInState(ws, args.State)
		if err != nil {
			return err
		}
		checks, err = filterChecksByNodeMeta(ws, st, checks, args.NodeMetaFilters)
		reply.Index = idx
		reply.HealthChecks, reply.ResultsFilteredByACLs = z.filterChecks(checks)
		return err
	})
}

// internalServiceSummary answers the UI's services list: one summary per
// service the token may read, counting node-level checks only on nodes
// it may read.
func (s *Server) internalServiceSummary(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedServiceSummaries) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, out, filtered, err := st.ServiceSummaries(ws, z.serviceRead, z.nodeRead)
		if err != nil {
			return err
		}
		for _, sum := range out {
			sum.Datacenter = s.cfg.Datacenter
		}
		reply.Index = idx
		reply.Services = out
		reply.ResultsFilteredByACLs = filtered
		return nil
	})
}

// --- KVS ---

func (s *Server) kvsApply(_ context.Context, args *structs.KVSRequest, reply *bool) error {
	defer gometrics.MeasureSince([]string{"kvs", "apply"}, time.Now())
	switch args.Op {
	case structs.KVSet, structs.KVCAS, structs.KVDelete, structs.KVDeleteCAS, structs.KVLock, structs.KVUnlock:
		if args.DirEnt.Key == "" {
			return badRequest("Must provide key")
		}
	case structs.KVDeleteTree:
	default:
		return badRequest("Invalid KV operation %q", args.Op)
	}
	if len(args.DirEnt.Value) > structs.MaxKVValueSize {
		return badRequest("Value exceeds %d byte limit", structs.MaxKVValueSize)
	}
	if (args.Op == structs.KVLock || args.Op == structs.KVUnlock) && args.DirEnt.Session == "" {
		return badRequest("%s requires a session", args.Op)
	}
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	if err := z.kvPreApply(args.Op, args.DirEnt.Key); err != nil {
		return err
	}
	if args.Op == structs.KVLock && time.Now().Before(s.State().KVLockDelay(args.DirEnt.Key)) {
		// A session holding this key was invalidated moments ago: its
		// lock delay keeps the key from changing hands at once.
		*reply = false
		return nil
	}
	resp, err := s.raftApply(catalog.KVSRequestType, args)
	if err != nil {
		return err
	}
	if ok, isBool := resp.(bool); isBool {
		*reply = ok
	} else {
		*reply = true
	}
	return nil
}

func (s *Server) kvsGet(ctx context.Context, args *structs.KeyRequest, reply *structs.IndexedDirEntries) error {
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Checked on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		if err := z.check(acl.ResourceKey, args.Key, acl.AccessRead); err != nil {
			return err
		}
		idx, e, err := st.KVGet(ws, args.Key)
		if err != nil {
			return err
		}
		reply.Index, reply.Entries = idx, nil
		if e != nil {
			reply.Entries = structs.DirEntries{e}
		}
		return nil
	})
}

func (s *Server) kvsList(ctx context.Context, args *structs.KeyRequest, reply *structs.IndexedDirEntries) error {
	z, err := s.kvListAuthz(args.Token, args.Key)
	if err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, list, err := st.KVList(ws, args.Key)
		reply.Index = idx
		reply.Entries, reply.ResultsFilteredByACLs = z.filterDirEntries(args.Key, list)
		return err
	})
}

func (s *Server) kvsListKeys(ctx context.Context, args *structs.KeyListRequest, reply *structs.IndexedKeyList) error {
	z, err := s.kvListAuthz(args.Token, args.Prefix)
	if err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, keys, err := st.KVListKeys(ws, args.Prefix, args.Seperator)
		reply.Index = idx
		reply.Keys, reply.ResultsFilteredByACLs = z.filterKeys(args.Prefix, keys)
		return err
	})
}

// --- Txn ---

func (s *Server) validateTxn(ops []*structs.TxnOp) error {
	if len(ops) == 0 {
		return badRequest("Transaction has no operations")
	}
	for i, op := range ops {
		if op.Parts() != 1 {
			return badRequest("Operation %d must have exactly one of KV, Node, Service, Check or Session", i)
		}
		if op.KV != nil && len(op.KV.DirEnt.Value) > structs.MaxKVValueSize {
			return badRequest("Operation %d: value exceeds %d byte limit", i, structs.MaxKVValueSize)
		}
	}
	return nil
}

func (s *Server) txnApply(_ context.Context, args *structs.TxnRequest, reply *structs.TxnResponse) error {
	defer gometrics.MeasureSince([]string{"txn", "apply"}, time.Now())
	if err := s.validateTxn(args.Ops); err != nil {
		return err
	}
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	if denied := z.txnPreCheck(s.State(), args.Ops); len(denied) > 0 {
		*reply = structs.TxnResponse{Errors: denied}
		return nil
	}
	// Lock delay holds for locks inside transactions too.
	now := time.Now()
	var delayed []*structs.TxnError
	for i, op := range args.Ops {
		if op.KV != nil && op.KV.Verb == structs.KVLock && now.Before(s.State().KVLockDelay(op.KV.DirEnt.Key)) {
			delayed = append(delayed, &structs.TxnError{OpIndex: i,
				What: fmt.Sprintf("failed to lock key %q due to lock delay", op.KV.DirEnt.Key)})
		}
	}
	if len(delayed) > 0 {
		*reply = structs.TxnResponse{Errors: delayed}
		return nil
	}
	resp, err := s.raftApply(catalog.TxnRequestType, args)
	if err != nil {
		return err
	}
	tr, ok := resp.(*structs.TxnResponse)
	if !ok {
		return fmt.Errorf("server: txn returned %T", resp)
	}
	if len(tr.Errors) == 0 {
		// Sessions deleted by the transaction lose their TTL timers,
		// also those destroyed with a deleted node or check.
		catalogDelete := false
		for _, op := range args.Ops {
			switch {
			case op.Session != nil:
				s.sessions.clear(op.Session.Session.ID)
			case op.Node != nil && (op.Node.Verb == structs.TxnDelete || op.Node.Verb == structs.TxnDeleteCAS),
				op.Check != nil && (op.Check.Verb == structs.TxnDelete || op.Check.Verb == structs.TxnDeleteCAS),
				op.Service != nil && (op.Service.Verb == structs.TxnDelete || op.Service.Verb == structs.TxnDeleteCAS):
				catalogDelete = true
			}
		}
		if catalogDelete {
			s.sessions.prune()
		}
	}
	*reply = *tr
	z.filterTxnResults(reply)
	return nil
}

func (s *Server) txnRead(ctx context.Context, args *structs.TxnReadRequest, reply *structs.TxnReadResponse) error {
	if err := s.validateTxn(args.Ops); err != nil {
		return err
	}
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	// As Consul, a read transaction does not block.
	opts := args.QueryOptions
	opts.MinQueryIndex = 0
	return s.blockingQuery(ctx, &opts, &reply.QueryMeta, func(_ memdb.WatchSet, st *catalog.Store) error {
		if denied := z.txnPreCheck(st, args.Ops); len(denied) > 0 {
			reply.Results, reply.Errors = nil, denied
			return nil
		}
		resp := st.TxnRead(args.Ops)
		z.filterTxnResults(resp)
		reply.Results, reply.Errors, reply.Index = resp.Results, resp.Errors, resp.Index
		return nil
	})
}

// --- Coordinates ---

// ownCoordShape has the shape of this server's network coordinate.
var ownCoordShape = coordinate.NewCoordinate(coordinate.DefaultConfig())

// errIncompatibleCoordinate refuses a coordinate of another
// dimensionality, with Consul's text.
var errIncompatibleCoordinate = errors.New("incompatible coordinate")

func (s *Server) coordinateUpdate(ctx context.Context, args *structs.CoordinateUpdateRequest, reply *struct{}) error {
	if args.Node == "" || args.Coord == nil {
		return badRequest("Must provide node and coordinate")
	}
	if !args.Coord.IsValid() {
		return badRequest("Invalid coordinate")
	}
	// As Consul, a coordinate from elsewhere must be compatible with the
	// server's own (the gossip pool's Vivaldi client uses the default
	// configuration: same dimensionality); a plain error, as Consul's.
	if !ownCoordShape.IsCompatibleWith(args.Coord) {
		return errIncompatibleCoordinate
	}
	if err := s.checkToken(args.Token, acl.ResourceNode, args.Node, acl.AccessWrite); err != nil {
		return err
	}
	return s.queueCoordinate(ctx, &structs.Coordinate{Node: args.Node, Coord: args.Coord})
}

func (s *Server) coordinateListNodes(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedCoordinates) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, list, err := st.Coordinates(ws)
		reply.Index = idx
		reply.Coordinates, reply.ResultsFilteredByACLs = z.filterCoordinates(list)
		return err
	})
}

// --- Operator ---

func (s *Server) operatorRaftConfiguration(_ context.Context, args *structs.DCSpecificRequest, reply *structs.RaftConfigurationResponse) error {
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	leader := s.Leader()
	// Raft knows servers by node ID; show their node names.
	names := map[string]string{}
	if _, nodes, err := s.State().Nodes(nil); err == nil {
		for _, n := range nodes {
			if n.ID != "" {
				names[strings.ToLower(n.ID)] = n.Node
			}
		}
	}
	out := []*structs.RaftServer{}
	for _, srv := range f.Configuration().Servers {
		node := names[strings.ToLower(string(srv.ID))]
		if node == "" {
			node = string(srv.ID)
		}
		out = append(out, &structs.RaftServer{
			ID: string(srv.ID), Node: node, Address: string(srv.Address),
			Leader: srv.Address == leader, Voter: srv.Suffrage == raft.Voter, ProtocolVersion: "3",
		})
	}
	reply.Servers, reply.Index = out, f.Index()
	return nil
}

// ErrUnknownPeer is returned when a peer to remove is not in the Raft
// configuration.
var ErrUnknownPeer = errors.New("server: peer not in raft configuration")

func (s *Server) operatorRaftRemovePeer(_ context.Context, args *structs.RaftRemovePeerRequest, _ *struct{}) error {
	if args.ID == "" && args.Address == "" {
		return badRequest("Must provide peer ID or address")
	}
	if err := s.checkToken(args.Token, acl.ResourceOperator, "", acl.AccessWrite); err != nil {
		return err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, srv := range f.Configuration().Servers {
		if (args.ID != "" && string(srv.ID) == args.ID) || (args.ID == "" && string(srv.Address) == args.Address) {
			return s.RemoveServer(srv.ID)
		}
	}
	return &requestError{bad: &structs.BadRequestError{Reason: ErrUnknownPeer.Error()}, cause: ErrUnknownPeer}
}
