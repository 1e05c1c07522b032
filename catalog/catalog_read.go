package catalog

import (
	"sort"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// Nodes returns every node, sorted by name.
func (s *Store) Nodes(ws memdb.WatchSet) (uint64, structs.Nodes, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableNodes, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	var out structs.Nodes
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n := *raw.(*structs.Node)
		out = append(out, &n)
	}
	return indexOf(txn, tableNodes), out, nil
}

// GetNode returns one node, or nil when it is not registered.
func (s *Store) GetNode(ws memdb.WatchSet, name string) (uint64, *structs.Node, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	ch, raw, err := txn.FirstWatch(tableNodes, "id", name)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(ch)
	idx := indexOf(txn, tableNodes)
	if raw == nil {
		return idx, nil, nil
	}
	n := *raw.(*structs.Node)
	return idx, &n, nil
}

// Services returns each service name with the union of its instances' tags.
func (s *Store) Services(ws memdb.WatchSet) (uint64, map[string][]string, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableServices, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	tags := map[string]map[string]struct{}{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ns := raw.(*serviceRow).NS
		set, ok := tags[ns.Service]
		if !ok {
			set = map[string]struct{}{}
			tags[ns.Service] = set
		}
		for _, t := range ns.Tags {
			set[t] = struct{}{}
		}
	}
	out := make(map[string][]string, len(tags))
	for name, set := range tags {
		list := make([]string, 0, len(set))
		for t := range set {
			list = append(list, t)
		}
		sort.Strings(list)
		out[name] = list
	}
	return indexOf(txn, tableServices), out, nil
}

// serviceIndex is the index a read of one service reports: its own index
// when it has ever existed, else the newest of the given tables.
func serviceIndex(txn *memdb.Txn, ws memdb.WatchSet, name string, tables ...string) uint64 {
	if idx := indexWatch(txn, ws, serviceIndexKey(name)); idx > 0 {
		return idx
	}
	return maxIndex(txn, tables...)
}

// serviceRows returns the instances of a service with all the tags given.
func serviceRows(txn *memdb.Txn, ws memdb.WatchSet, service string, tags []string) ([]*serviceRow, error) {
	it, err := txn.Get(tableServices, "service", service)
	if err != nil {
		return nil, err
	}
	ws.Add(it.WatchCh())
	var out []*serviceRow
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*serviceRow)
		if structs.HasTags(r.NS.Tags, tags) {
			out = append(out, r)
		}
	}
	return out, nil
}

// ServiceNodes returns the instances of service carrying every tag in tags,
// flattened with their nodes.
func (s *Store) ServiceNodes(ws memdb.WatchSet, service string, tags []string) (uint64, structs.ServiceNodes, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	idx := serviceIndex(txn, ws, service, tableNodes, tableServices)
	rows, err := serviceRows(txn, ws, service, tags)
	if err != nil {
		return 0, nil, err
	}
	out := structs.ServiceNodes{}
	for _, r := range rows {
		raw, err := txn.First(tableNodes, "id", r.Node)
		if err != nil {
			return 0, nil, err
		}
		if raw == nil {
			continue
		}
		out = append(out, structs.ToServiceNode(raw.(*structs.Node), r.NS))
	}
	return idx, out, nil
}

// NodeServices returns a node with its services, or nil when the node is
// not registered.
func (s *Store) NodeServices(ws memdb.WatchSet, node string) (uint64, *structs.NodeServices, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	idx := maxIndex(txn, tableNodes, tableServices)
	ch, raw, err := txn.FirstWatch(tableNodes, "id", node)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(ch)
	if raw == nil {
		return idx, nil, nil
	}
	n := *raw.(*structs.Node)
	it, err := txn.Get(tableServices, "node", n.Node)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	out := &structs.NodeServices{Node: &n, Services: map[string]*structs.NodeService{}}
	for r := it.Next(); r != nil; r = it.Next() {
		ns := *r.(*serviceRow).NS
		out.Services[ns.ID] = &ns
	}
	return idx, out, nil
}

func collectChecks(it memdb.ResultIterator, keep func(*structs.HealthCheck) bool) structs.HealthChecks {
	out := structs.HealthChecks{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		c := raw.(*structs.HealthCheck)
		if keep == nil || keep(c) {
			cp := *c
			out = append(out, &cp)
		}
	}
	return out
}

// NodeChecks returns every check on a node.
func (s *Store) NodeChecks(ws memdb.WatchSet, node string) (uint64, structs.HealthChecks, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableChecks, "node", node)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	return indexOf(txn, tableChecks), collectChecks(it, nil), nil
}

// ServiceChecks returns the checks of every instance of a service.
func (s *Store) ServiceChecks(ws memdb.WatchSet, service string) (uint64, structs.HealthChecks, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	idx := serviceIndex(txn, ws, service, tableChecks)
	it, err := txn.Get(tableChecks, "service", service)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	return idx, collectChecks(it, nil), nil
}

// ChecksInState returns checks with the given status; "any" returns all.
func (s *Store) ChecksInState(ws memdb.WatchSet, state string) (uint64, structs.HealthChecks, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	var it memdb.ResultIterator
	var err error
	if state == structs.HealthAny {
		it, err = txn.Get(tableChecks, "id")
	} else {
		it, err = txn.Get(tableChecks, "status", state)
	}
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	return indexOf(txn, tableChecks), collectChecks(it, nil), nil
}

// CheckServiceNodes returns each instance of service carrying every tag in
// tags, with its node, the node-level checks and its own checks.
func (s *Store) CheckServiceNodes(ws memdb.WatchSet, service string, tags []string) (uint64, structs.CheckServiceNodes, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	// The per-service index row is bumped by every change an instance
	// shows (node, node checks, service, service checks), so it is the
	// only watch needed beyond the instance set itself.
	idx := serviceIndex(txn, ws, service, tableNodes, tableServices, tableChecks)
	rows, err := serviceRows(txn, ws, service, tags)
	if err != nil {
		return 0, nil, err
	}
	out := structs.CheckServiceNodes{}
	for _, r := range rows {
		raw, err := txn.First(tableNodes, "id", r.Node)
		if err != nil {
			return 0, nil, err
		}
		if raw == nil {
			continue
		}
		n := *raw.(*structs.Node)
		ns := *r.NS
		it, err := txn.Get(tableChecks, "node", r.Node)
		if err != nil {
			return 0, nil, err
		}
		checks := collectChecks(it, func(c *structs.HealthCheck) bool {
			return c.ServiceID == "" || c.ServiceID == r.ID
		})
		out = append(out, structs.CheckServiceNode{Node: &n, Service: &ns, Checks: checks})
	}
	return idx, out, nil
}

// ServiceAddressNodes returns the instances of every service whose
// address is addr, flattened with their nodes (Consul's lookup by
// ServiceAddress, for reverse DNS); a full scan of the services.
func (s *Store) ServiceAddressNodes(ws memdb.WatchSet, addr string) (uint64, structs.ServiceNodes, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableServices, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	out := structs.ServiceNodes{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		r := raw.(*serviceRow)
		if r.NS.Address != addr {
			continue
		}
		n, err := txn.First(tableNodes, "id", r.Node)
		if err != nil {
			return 0, nil, err
		}
		if n == nil {
			continue
		}
		out = append(out, structs.ToServiceNode(n.(*structs.Node), r.NS))
	}
	return max(indexOf(txn, tableNodes), indexOf(txn, tableServices)), out, nil
}

// ServiceSummaries returns one summary per service name (sorted by name)
// for the UI's services list, in one read of the services and checks
// tables. An instance counts when serviceOK accepts its service name; a
// node's node-level checks count toward each of its instances only when
// nodeOK accepts the node. filtered reports whether either predicate
// hid anything. Datacenter is left for the caller to fill.
func (s *Store) ServiceSummaries(ws memdb.WatchSet, serviceOK, nodeOK func(string) bool) (idx uint64, out []*structs.ServiceSummary, filtered bool, err error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	sit, err := txn.Get(tableServices, "id")
	if err != nil {
		return 0, nil, false, err
	}
	ws.Add(sit.WatchCh())
	cit, err := txn.Get(tableChecks, "id")
	if err != nil {
		return 0, nil, false, err
	}
	ws.Add(cit.WatchCh())

	type counts struct{ passing, warning, critical int }
	add := func(c *counts, status string, n int) {
		switch status {
		case structs.HealthPassing:
			c.passing += n
		case structs.HealthWarning:
			c.warning += n
		case structs.HealthCritical:
			c.critical += n
		}
	}
	// Node-level checks per node, and service checks per instance.
	nodeChecks := map[string]*counts{}
	instChecks := map[[2]string]*counts{}
	for raw := cit.Next(); raw != nil; raw = cit.Next() {
		c := raw.(*structs.HealthCheck)
		var cc *counts
		if c.ServiceID == "" {
			if cc = nodeChecks[c.Node]; cc == nil {
				cc = &counts{}
				nodeChecks[c.Node] = cc
			}
		} else {
			key := [2]string{c.Node, c.ServiceID}
			if cc = instChecks[key]; cc == nil {
				cc = &counts{}
				instChecks[key] = cc
			}
		}
		add(cc, c.Status, 1)
	}

	type agg struct {
		sum   *structs.ServiceSummary
		tags  map[string]struct{}
		nodes map[string]struct{}
	}
	byName := map[string]*agg{}
	nodeAllowed := map[string]bool{}
	for raw := sit.Next(); raw != nil; raw = sit.Next() {
		r := raw.(*serviceRow)
		if !serviceOK(r.Service) {
			filtered = true
			continue
		}
		// As Consul, an instance on a node the token cannot read is left
		// out whole: its node's name is not shown either.
		ok, seen := nodeAllowed[r.Node]
		if !seen {
			ok = nodeOK(r.Node)
			nodeAllowed[r.Node] = ok
		}
		if !ok {
			filtered = true
			continue
		}
		a := byName[r.Service]
		if a == nil {
			a = &agg{
				sum:   &structs.ServiceSummary{Kind: r.NS.Kind, Name: r.Service},
				tags:  map[string]struct{}{},
				nodes: map[string]struct{}{},
			}
			byName[r.Service] = a
		}
		a.sum.InstanceCount++
		a.nodes[r.Node] = struct{}{}
		for _, t := range r.NS.Tags {
			a.tags[t] = struct{}{}
		}
		if cc := instChecks[[2]string{r.Node, r.ID}]; cc != nil {
			a.sum.ChecksPassing += cc.passing
			a.sum.ChecksWarning += cc.warning
			a.sum.ChecksCritical += cc.critical
		}
		if cc := nodeChecks[r.Node]; cc != nil {
			a.sum.ChecksPassing += cc.passing
			a.sum.ChecksWarning += cc.warning
			a.sum.ChecksCritical += cc.critical
		}
	}
	out = make([]*structs.ServiceSummary, 0, len(byName))
	for _, a := range byName {
		a.sum.Tags = sortedKeys(a.tags)
		a.sum.Nodes = sortedKeys(a.nodes)
		out = append(out, a.sum)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return maxIndex(txn, tableServices, tableChecks), out, filtered, nil
}

// sortedKeys returns the keys of a set, sorted.
func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
