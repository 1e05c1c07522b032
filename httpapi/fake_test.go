package httpapi

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"consulate/acl"
	"consulate/structs"
)

// fakeAgent is an in-memory Agent: local state, a KV store with sessions
// and simple blocking, and a fixed set of catalog rows.
type fakeAgent struct {
	mu       sync.Mutex
	services map[string]*structs.NodeService
	checks   map[string]*structs.HealthCheck
	kv       map[string]*structs.DirEntry
	sessions map[string]*structs.Session
	events   []*structs.UserEvent
	nodes    structs.CheckServiceNodes
	index    uint64
	changed  chan struct{} // closed and replaced on every write
	local    chan struct{}
	errs     map[structs.Method]error // forced RPC errors by method
	last     map[structs.Method]any   // last args by method
	nodeMain bool
	// syncs counts SyncChanges calls; synced is what the last one saw
	// (the "catalog"); syncErr is what they return.
	syncs   int
	synced  map[string]string // check or service ID → status ("svc" for services)
	syncErr error
	// acls, when set, resolves tokens by secret (ACLs on); nil is ACLs
	// off. See Authorize in acl_enforce_test.go.
	acls map[string]acl.Authorizer
	// waiting counts blocking reads waiting in block.
	waiting atomic.Int32
}

func newFakeAgent() *fakeAgent {
	return &fakeAgent{
		services: map[string]*structs.NodeService{}, checks: map[string]*structs.HealthCheck{},
		kv: map[string]*structs.DirEntry{}, sessions: map[string]*structs.Session{},
		changed: make(chan struct{}), local: make(chan struct{}),
		errs: map[structs.Method]error{}, last: map[structs.Method]any{}, index: 1,
	}
}

// bumpLocked advances the index and wakes blocked readers; f.mu held.
func (f *fakeAgent) bumpLocked() uint64 {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
	return f.index
}

func (f *fakeAgent) localChangedLocked() {
	close(f.local)
	f.local = make(chan struct{})
}

func (f *fakeAgent) Self() Self {
	return Self{NodeName: "node1", NodeID: "11111111-2222-3333-4444-555555555555", Datacenter: "dc1", Server: true,
		Version: "1.0.0", Member: structs.Member{Name: "node1", Addr: "127.0.0.11", Port: 8301, Status: structs.StatusAlive}}
}

func (f *fakeAgent) Members(wan bool) []structs.Member {
	if wan {
		return []structs.Member{{Name: "node1.dc1", Addr: "127.0.0.11", Port: 8302, Status: structs.StatusAlive}}
	}
	return []structs.Member{{Name: "node1", Addr: "127.0.0.11", Port: 8301, Status: structs.StatusAlive, Tags: map[string]string{"role": "consul"}}}
}

func (f *fakeAgent) Join(ctx context.Context, addrs []string, wan bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["join"] = fmt.Sprint(addrs, wan)
	return len(addrs), nil
}
func (f *fakeAgent) Leave(ctx context.Context) error  { return nil }
func (f *fakeAgent) Reload(ctx context.Context) error { return nil }
func (f *fakeAgent) ForceLeave(ctx context.Context, node string, prune, wan bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["force-leave"] = fmt.Sprintf("%s %v %v", node, prune, wan)
	return nil
}

func (f *fakeAgent) AddService(def *structs.ServiceDefinition, replace bool, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["service-token"] = token
	ns := def.NodeService()
	f.services[ns.ID] = ns
	for _, ct := range def.CheckTypes() {
		f.checks[ct.CheckID] = &structs.HealthCheck{Node: "node1", CheckID: ct.CheckID, Name: ct.Name,
			Status: structs.HealthCritical, ServiceID: ns.ID, ServiceName: ns.Service, Type: ct.Kind()}
	}
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) RemoveService(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, id)
	for cid, c := range f.checks {
		if c.ServiceID == id {
			delete(f.checks, cid)
		}
	}
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) Services() map[string]*structs.NodeService {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*structs.NodeService{}
	for k, v := range f.services {
		c := *v
		out[k] = &c
	}
	return out
}

func (f *fakeAgent) Checks() map[string]*structs.HealthCheck {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*structs.HealthCheck{}
	for k, v := range f.checks {
		c := *v
		out[k] = &c
	}
	return out
}

func (f *fakeAgent) AddCheck(ct *structs.CheckType, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["check-token"] = token
	f.checks[ct.CheckID] = &structs.HealthCheck{Node: "node1", CheckID: ct.CheckID, Name: ct.Name,
		Status: structs.HealthCritical, ServiceID: ct.ServiceID, Type: ct.Kind()}
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) RemoveCheck(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.checks, id)
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) UpdateTTLCheck(id, status, output string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.checks[id]
	if !ok {
		return fmt.Errorf("check %q: %w", id, structs.ErrNotFound)
	}
	c.Status, c.Output = status, output
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) ServiceMaintenance(id string, enable bool, reason, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["maint-token"] = token
	cid := structs.ServiceMaintPrefix + id
	if enable {
		f.checks[cid] = &structs.HealthCheck{Node: "node1", CheckID: cid, Status: structs.HealthCritical, Notes: reason, ServiceID: id}
	} else {
		delete(f.checks, cid)
	}
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) NodeMaintenance(enable bool, reason, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["maint-token"] = token
	f.nodeMain = enable
	return nil
}

func (f *fakeAgent) FireEvent(ctx context.Context, ev *structs.UserEvent, dc, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev.LTime = uint64(len(f.events) + 1)
	f.events = append(f.events, ev)
	f.localChangedLocked()
	return nil
}

func (f *fakeAgent) UserEvents() []*structs.UserEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*structs.UserEvent(nil), f.events...)
}

func (f *fakeAgent) SyncChanges(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if f.syncErr != nil {
		return f.syncErr
	}
	f.synced = map[string]string{}
	for id := range f.services {
		f.synced[id] = "svc"
	}
	for id, c := range f.checks {
		f.synced[id] = c.Status
	}
	if f.nodeMain {
		f.synced[structs.NodeMaintCheckID] = structs.HealthCritical
	}
	return nil
}

// syncState returns the SyncChanges count and what the last one saw.
func (f *fakeAgent) syncState() (int, map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs, f.synced
}

func (f *fakeAgent) LocalChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.local
}

func checkDC(args any) error {
	if ri, ok := args.(structs.RPCInfo); ok {
		switch dc := ri.RequestDatacenter(); dc {
		case "", "dc1", "dc3": // dc3: a remote datacenter that answers
		case "dc2":
			return structs.ErrNoDCPath
		default:
			return &structs.ErrUnknownDC{DC: dc, Known: []string{"dc1", "dc2"}}
		}
	}
	return nil
}

// block waits while the store index is at or below MinQueryIndex.
func (f *fakeAgent) block(ctx context.Context, q *structs.QueryOptions) {
	if q.MinQueryIndex == 0 {
		return
	}
	wait := q.MaxQueryTime
	if wait <= 0 {
		wait = time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	f.waiting.Add(1)
	defer f.waiting.Add(-1)
	for {
		f.mu.Lock()
		idx, ch := f.index, f.changed
		f.mu.Unlock()
		if idx > q.MinQueryIndex {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (f *fakeAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if err := checkDC(args); err != nil {
		return err
	}
	if g, ok := args.(structs.QueryOptionsGetter); ok {
		f.block(ctx, g.GetQueryOptions())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last[method] = args
	if err := f.errs[method]; err != nil {
		return err
	}
	meta := func(m *structs.QueryMeta) { m.Index, m.KnownLeader, m.LastContact = f.index, true, 3*time.Millisecond }
	switch method {
	case structs.MethodStatusLeader:
		*reply.(*string) = "127.0.0.11:8300"
	case structs.MethodStatusPeers:
		*reply.(*[]string) = []string{"127.0.0.11:8300"}
	case structs.MethodCatalogDatacenters:
		reply.(*structs.DatacentersReply).Datacenters = []string{"dc1", "dc2"}
	case structs.MethodCatalogRegister, structs.MethodCatalogDeregister:
		f.bumpLocked()
	case structs.MethodCatalogListNodes:
		out := reply.(*structs.IndexedNodes)
		for _, n := range f.nodes {
			out.Nodes = append(out.Nodes, n.Node)
		}
		meta(&out.QueryMeta)
	case structs.MethodHealthServiceNodes:
		a := args.(*structs.ServiceSpecificRequest)
		out := reply.(*structs.IndexedCheckServiceNodes)
		for _, n := range f.nodes {
			if n.Service.Service == a.ServiceName && hasTags(n.Service.Tags, a.ServiceTags) {
				out.Nodes = append(out.Nodes, n)
			}
		}
		meta(&out.QueryMeta)
	case structs.MethodCatalogServiceNodes:
		a := args.(*structs.ServiceSpecificRequest)
		out := reply.(*structs.IndexedServiceNodes)
		for _, n := range f.nodes {
			if n.Service.Service == a.ServiceName && hasTags(n.Service.Tags, a.ServiceTags) {
				out.ServiceNodes = append(out.ServiceNodes, structs.ToServiceNode(n.Node, n.Service))
			}
		}
		meta(&out.QueryMeta)
	case structs.MethodKVSGet, structs.MethodKVSList:
		a := args.(*structs.KeyRequest)
		out := reply.(*structs.IndexedDirEntries)
		for _, k := range f.sortedKVKeys() {
			if (method == structs.MethodKVSGet && k == a.Key) || (method == structs.MethodKVSList && strings.HasPrefix(k, a.Key)) {
				e := *f.kv[k]
				out.Entries = append(out.Entries, &e)
			}
		}
		meta(&out.QueryMeta)
	case structs.MethodKVSListKeys:
		a := args.(*structs.KeyListRequest)
		out := reply.(*structs.IndexedKeyList)
		seen := map[string]bool{}
		for _, k := range f.sortedKVKeys() {
			if !strings.HasPrefix(k, a.Prefix) {
				continue
			}
			if a.Seperator != "" {
				if i := strings.Index(k[len(a.Prefix):], a.Seperator); i >= 0 {
					k = k[:len(a.Prefix)+i+len(a.Seperator)]
				}
			}
			if !seen[k] {
				seen[k] = true
				out.Keys = append(out.Keys, k)
			}
		}
		meta(&out.QueryMeta)
	case structs.MethodKVSApply:
		*reply.(*bool) = f.applyKV(args.(*structs.KVSRequest).Op, args.(*structs.KVSRequest).DirEnt)
	case structs.MethodTxnApply:
		a := args.(*structs.TxnRequest)
		out := reply.(*structs.TxnResponse)
		for i, op := range a.Ops {
			if op.KV == nil {
				out.Errors = append(out.Errors, &structs.TxnError{OpIndex: i, What: "fake: KV only"})
				continue
			}
			if op.KV.Verb == structs.KVCheckIndex {
				if e, ok := f.kv[op.KV.DirEnt.Key]; !ok || e.ModifyIndex != op.KV.DirEnt.ModifyIndex {
					out.Errors = append(out.Errors, &structs.TxnError{OpIndex: i, What: "index mismatch"})
				}
			}
		}
		if len(out.Errors) > 0 {
			return nil
		}
		for _, op := range a.Ops {
			if op.KV.Verb == structs.KVCheckIndex {
				continue
			}
			f.applyKV(op.KV.Verb, op.KV.DirEnt)
			if e, ok := f.kv[op.KV.DirEnt.Key]; ok {
				c := *e
				c.Value = nil
				out.Results = append(out.Results, &structs.TxnResult{KV: &c})
			}
		}
		out.Index = f.index
	case structs.MethodTxnRead:
		a := args.(*structs.TxnReadRequest)
		out := reply.(*structs.TxnReadResponse)
		for i, op := range a.Ops {
			if op.KV == nil {
				out.Errors = append(out.Errors, &structs.TxnError{OpIndex: i, What: "fake: KV only"})
				continue
			}
			e, ok := f.kv[op.KV.DirEnt.Key]
			switch {
			case ok:
				c := *e
				out.Results = append(out.Results, &structs.TxnResult{KV: &c})
			case op.KV.Verb == structs.KVGetOrEmpty:
				out.Results = append(out.Results, &structs.TxnResult{KV: &structs.DirEntry{Key: op.KV.DirEnt.Key}})
			case op.KV.Verb == structs.KVGet:
				out.Errors = append(out.Errors, &structs.TxnError{OpIndex: i, What: "key doesn't exist"})
			}
		}
		meta(&out.QueryMeta)
	case structs.MethodSessionApply:
		a := args.(*structs.SessionRequest)
		if a.Op == structs.SessionCreate {
			s := a.Session
			s.ID = fmt.Sprintf("00000000-0000-0000-0000-%012d", len(f.sessions)+1)
			s.CreateIndex = f.bumpLocked()
			f.sessions[s.ID] = &s
			*reply.(*string) = s.ID
		} else {
			delete(f.sessions, a.Session.ID)
			for _, e := range f.kv {
				if e.Session == a.Session.ID {
					e.Session = ""
				}
			}
			f.bumpLocked()
		}
	case structs.MethodSessionGet, structs.MethodSessionRenew:
		a := args.(*structs.SessionSpecificRequest)
		out := reply.(*structs.IndexedSessions)
		if s, ok := f.sessions[a.SessionID]; ok {
			c := *s
			out.Sessions = append(out.Sessions, &c)
		}
		meta(&out.QueryMeta)
	case structs.MethodSessionList:
		out := reply.(*structs.IndexedSessions)
		for _, s := range f.sessions {
			c := *s
			out.Sessions = append(out.Sessions, &c)
		}
		meta(&out.QueryMeta)
	default:
		return fmt.Errorf("%w: %s", structs.ErrUnknownMethod, method)
	}
	return nil
}

func hasTags(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, w) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (f *fakeAgent) sortedKVKeys() []string {
	keys := make([]string, 0, len(f.kv))
	for k := range f.kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// applyKV applies one KV write with Consul's semantics; f.mu held.
func (f *fakeAgent) applyKV(op structs.KVOp, d structs.DirEntry) bool {
	cur, exists := f.kv[d.Key]
	set := func(e *structs.DirEntry) {
		idx := f.bumpLocked()
		if exists {
			e.CreateIndex = cur.CreateIndex
		} else {
			e.CreateIndex = idx
		}
		e.ModifyIndex = idx
		f.kv[e.Key] = e
	}
	switch op {
	case structs.KVSet:
		e := d
		if exists {
			e.LockIndex, e.Session = cur.LockIndex, cur.Session
		}
		set(&e)
	case structs.KVCAS:
		if (d.ModifyIndex == 0 && exists) || (d.ModifyIndex != 0 && (!exists || cur.ModifyIndex != d.ModifyIndex)) {
			return false
		}
		e := d
		set(&e)
	case structs.KVDelete:
		delete(f.kv, d.Key)
		f.bumpLocked()
	case structs.KVDeleteCAS:
		if !exists || cur.ModifyIndex != d.ModifyIndex {
			return false
		}
		delete(f.kv, d.Key)
		f.bumpLocked()
	case structs.KVDeleteTree:
		for k := range f.kv {
			if strings.HasPrefix(k, d.Key) {
				delete(f.kv, k)
			}
		}
		f.bumpLocked()
	case structs.KVLock:
		if _, ok := f.sessions[d.Session]; !ok {
			return false
		}
		if exists && cur.Session != "" && cur.Session != d.Session {
			return false
		}
		e := d
		e.LockIndex = 1
		if exists {
			e.LockIndex = cur.LockIndex
			if cur.Session != d.Session {
				e.LockIndex++
			}
		}
		set(&e)
	case structs.KVUnlock:
		if !exists || cur.Session != d.Session {
			return false
		}
		e := d
		e.Session, e.LockIndex = "", cur.LockIndex
		set(&e)
	default:
		return false
	}
	return true
}

func (f *fakeAgent) SetAgentToken(kind, secret string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last["agent-token"] = kind + "=" + secret
	return nil
}
