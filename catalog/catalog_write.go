package catalog

import (
	"fmt"
	"reflect"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// EnsureRegistration applies a Catalog.Register at Raft index idx: it
// upserts the node (unless SkipNodeUpdate finds it present), the service
// and the checks. Unchanged rows keep their indexes so anti-entropy does
// not wake blocked readers. Only the FSM should call it.
func (s *Store) EnsureRegistration(idx uint64, req *structs.RegisterRequest) error {
	if req == nil || req.Node == "" {
		return fmt.Errorf("%w: missing node name", ErrInvalidRequest)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	if err := ensureRegistrationTxn(txn, idx, req); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func ensureRegistrationTxn(txn *memdb.Txn, idx uint64, req *structs.RegisterRequest) error {
	existing, err := txn.First(tableNodes, "id", req.Node)
	if err != nil {
		return err
	}
	if existing == nil || !req.SkipNodeUpdate {
		n := &structs.Node{ID: req.ID, Node: req.Node, Address: req.Address, Datacenter: req.Datacenter,
			TaggedAddresses: req.TaggedAddresses, Meta: req.NodeMeta}
		if existing != nil && req.SkipNodeUpdate {
			n = existing.(*structs.Node)
		}
		if err := ensureNodeTxn(txn, idx, n); err != nil {
			return err
		}
	}
	if req.Service != nil {
		if err := ensureServiceTxn(txn, idx, req.Node, req.Service); err != nil {
			return err
		}
	}
	checks := req.Checks
	if req.Check != nil {
		checks = append(structs.HealthChecks{req.Check}, checks...)
	}
	for _, c := range checks {
		if c == nil {
			continue
		}
		cc := *c
		if cc.Node == "" {
			cc.Node = req.Node
		}
		if !strings.EqualFold(cc.Node, req.Node) {
			return fmt.Errorf("%w: check %q names node %q, not %q", ErrInvalidRequest, cc.CheckID, cc.Node, req.Node)
		}
		if err := ensureCheckTxn(txn, idx, &cc); err != nil {
			return err
		}
	}
	return nil
}

// ensureNodeTxn upserts a node, bumping indexes only on a real change.
func ensureNodeTxn(txn *memdb.Txn, idx uint64, n *structs.Node) error {
	raw, err := txn.First(tableNodes, "id", n.Node)
	if err != nil {
		return err
	}
	nn := *n
	if raw != nil {
		old := raw.(*structs.Node)
		if old.ID == nn.ID && old.Address == nn.Address && old.Datacenter == nn.Datacenter &&
			old.Node == nn.Node && mapsEqual(old.TaggedAddresses, nn.TaggedAddresses) && mapsEqual(old.Meta, nn.Meta) {
			return nil
		}
		nn.CreateIndex = old.CreateIndex
	} else {
		nn.CreateIndex = idx
	}
	nn.ModifyIndex = idx
	if err := txn.Insert(tableNodes, &nn); err != nil {
		return err
	}
	if err := bump(txn, idx, tableNodes); err != nil {
		return err
	}
	return bumpNodeServices(txn, idx, n.Node)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// ensureServiceTxn upserts a service instance on node.
func ensureServiceTxn(txn *memdb.Txn, idx uint64, node string, svc *structs.NodeService) error {
	if svc.Service == "" {
		return fmt.Errorf("%w: missing service name", ErrInvalidRequest)
	}
	ns := *svc
	if ns.ID == "" {
		ns.ID = ns.Service
	}
	if n, err := txn.First(tableNodes, "id", node); err != nil {
		return err
	} else if n == nil {
		return fmt.Errorf("%w: %q", ErrMissingNode, node)
	} else {
		node = n.(*structs.Node).Node
	}
	raw, err := txn.First(tableServices, "id", node, ns.ID)
	if err != nil {
		return err
	}
	var oldName string
	if raw != nil {
		old := raw.(*serviceRow).NS
		oldName = old.Service
		cmp := *old
		cmp.CreateIndex, cmp.ModifyIndex = ns.CreateIndex, ns.ModifyIndex
		if reflect.DeepEqual(&cmp, &ns) {
			return nil
		}
		ns.CreateIndex = old.CreateIndex
	} else {
		ns.CreateIndex = idx
	}
	ns.ModifyIndex = idx
	if err := txn.Insert(tableServices, &serviceRow{Node: node, ID: ns.ID, Service: ns.Service, NS: &ns}); err != nil {
		return err
	}
	if err := bump(txn, idx, tableServices); err != nil {
		return err
	}
	if oldName != "" && !strings.EqualFold(oldName, ns.Service) {
		if err := bumpService(txn, idx, oldName); err != nil {
			return err
		}
	}
	if err := bumpService(txn, idx, ns.Service); err != nil {
		return err
	}
	// Checks of this service carry its name and tags; keep them current.
	it, err := txn.Get(tableChecks, "node_service", node, ns.ID)
	if err != nil {
		return err
	}
	var fix []*structs.HealthCheck
	for c := it.Next(); c != nil; c = it.Next() {
		hc := c.(*structs.HealthCheck)
		if hc.ServiceName != ns.Service || !reflect.DeepEqual(hc.ServiceTags, ns.Tags) {
			cp := *hc
			cp.ServiceName, cp.ServiceTags, cp.ModifyIndex = ns.Service, ns.Tags, idx
			fix = append(fix, &cp)
		}
	}
	for _, c := range fix {
		if err := txn.Insert(tableChecks, c); err != nil {
			return err
		}
	}
	if len(fix) > 0 {
		return bump(txn, idx, tableChecks)
	}
	return nil
}

// validStatus reports whether st is a status a check may have.
func validStatus(st string) bool {
	switch st {
	case structs.HealthPassing, structs.HealthWarning, structs.HealthCritical, structs.HealthMaint:
		return true
	}
	return false
}

// ensureCheckTxn upserts a check, filling its service name and tags, and
// invalidates sessions tied to it when it turns critical.
func ensureCheckTxn(txn *memdb.Txn, idx uint64, c *structs.HealthCheck) error {
	if c.CheckID == "" {
		return fmt.Errorf("%w: missing check ID", ErrInvalidRequest)
	}
	if c.Status == "" {
		c.Status = structs.HealthCritical
	}
	if !validStatus(c.Status) {
		return fmt.Errorf("%w: invalid check status %q", ErrInvalidRequest, c.Status)
	}
	n, err := txn.First(tableNodes, "id", c.Node)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%w: %q", ErrMissingNode, c.Node)
	}
	c.Node = n.(*structs.Node).Node
	if c.ServiceID != "" {
		raw, err := txn.First(tableServices, "id", c.Node, c.ServiceID)
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("%w: %q on node %q", ErrMissingService, c.ServiceID, c.Node)
		}
		svc := raw.(*serviceRow).NS
		c.ServiceName, c.ServiceTags = svc.Service, svc.Tags
	} else {
		c.ServiceName, c.ServiceTags = "", nil
	}
	raw, err := txn.First(tableChecks, "id", c.Node, c.CheckID)
	if err != nil {
		return err
	}
	var oldService string
	if raw != nil {
		old := raw.(*structs.HealthCheck)
		oldService = old.ServiceName
		cmp := *old
		cmp.CreateIndex, cmp.ModifyIndex = c.CreateIndex, c.ModifyIndex
		if reflect.DeepEqual(&cmp, c) {
			return nil
		}
		c.CreateIndex = old.CreateIndex
	} else {
		c.CreateIndex = idx
	}
	c.ModifyIndex = idx
	if err := txn.Insert(tableChecks, c); err != nil {
		return err
	}
	if err := bump(txn, idx, tableChecks); err != nil {
		return err
	}
	if err := bumpCheckServices(txn, idx, c.Node, c.ServiceName); err != nil {
		return err
	}
	if oldService != "" && !strings.EqualFold(oldService, c.ServiceName) {
		if err := bumpService(txn, idx, oldService); err != nil {
			return err
		}
	}
	if c.Status == structs.HealthCritical {
		return invalidateCheckSessions(txn, idx, c.Node, c.CheckID)
	}
	return nil
}

// bumpCheckServices bumps what a check change is visible through: its own
// service, or every service on the node for a node-level check.
func bumpCheckServices(txn *memdb.Txn, idx uint64, node, service string) error {
	if service != "" {
		return bumpService(txn, idx, service)
	}
	return bumpNodeServices(txn, idx, node)
}

// Deregister applies a Catalog.Deregister at idx: a check when CheckID is
// set, else a service when ServiceID is set, else the whole node with its
// services, checks and sessions. Missing things are not an error.
func (s *Store) Deregister(idx uint64, req *structs.DeregisterRequest) error {
	if req == nil || req.Node == "" {
		return fmt.Errorf("%w: missing node name", ErrInvalidRequest)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	var err error
	switch {
	case req.CheckID != "":
		err = deleteCheckTxn(txn, idx, req.Node, req.CheckID)
	case req.ServiceID != "":
		err = deleteServiceTxn(txn, idx, req.Node, req.ServiceID)
	default:
		err = deleteNodeTxn(txn, idx, req.Node)
	}
	if err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func deleteCheckTxn(txn *memdb.Txn, idx uint64, node, checkID string) error {
	raw, err := txn.First(tableChecks, "id", node, checkID)
	if err != nil || raw == nil {
		return err
	}
	c := raw.(*structs.HealthCheck)
	if err := txn.Delete(tableChecks, c); err != nil {
		return err
	}
	if err := bump(txn, idx, tableChecks); err != nil {
		return err
	}
	if err := bumpCheckServices(txn, idx, c.Node, c.ServiceName); err != nil {
		return err
	}
	return invalidateCheckSessions(txn, idx, c.Node, c.CheckID)
}

func deleteServiceTxn(txn *memdb.Txn, idx uint64, node, serviceID string) error {
	raw, err := txn.First(tableServices, "id", node, serviceID)
	if err != nil || raw == nil {
		return err
	}
	row := raw.(*serviceRow)
	it, err := txn.Get(tableChecks, "node_service", row.Node, row.ID)
	if err != nil {
		return err
	}
	var ids []string
	for c := it.Next(); c != nil; c = it.Next() {
		ids = append(ids, c.(*structs.HealthCheck).CheckID)
	}
	for _, cid := range ids {
		if err := deleteCheckTxn(txn, idx, row.Node, cid); err != nil {
			return err
		}
	}
	if err := txn.Delete(tableServices, row); err != nil {
		return err
	}
	if err := bump(txn, idx, tableServices); err != nil {
		return err
	}
	return bumpService(txn, idx, row.Service)
}

func deleteNodeTxn(txn *memdb.Txn, idx uint64, node string) error {
	raw, err := txn.First(tableNodes, "id", node)
	if err != nil || raw == nil {
		return err
	}
	n := raw.(*structs.Node)
	// Node-level checks first, so sessions tied to them are invalidated.
	it, err := txn.Get(tableChecks, "node", n.Node)
	if err != nil {
		return err
	}
	var nodeChecks []string
	for c := it.Next(); c != nil; c = it.Next() {
		if hc := c.(*structs.HealthCheck); hc.ServiceID == "" {
			nodeChecks = append(nodeChecks, hc.CheckID)
		}
	}
	for _, cid := range nodeChecks {
		if err := deleteCheckTxn(txn, idx, n.Node, cid); err != nil {
			return err
		}
	}
	sit, err := txn.Get(tableServices, "node", n.Node)
	if err != nil {
		return err
	}
	var svcs []string
	for r := sit.Next(); r != nil; r = sit.Next() {
		svcs = append(svcs, r.(*serviceRow).ID)
	}
	for _, sid := range svcs {
		if err := deleteServiceTxn(txn, idx, n.Node, sid); err != nil {
			return err
		}
	}
	sessIt, err := txn.Get(tableSessions, "node", n.Node)
	if err != nil {
		return err
	}
	var sess []string
	for r := sessIt.Next(); r != nil; r = sessIt.Next() {
		sess = append(sess, r.(*structs.Session).ID)
	}
	for _, sid := range sess {
		if _, err := destroySessionTxn(txn, idx, sid); err != nil {
			return err
		}
	}
	if c, err := txn.First(tableCoordinates, "id", n.Node); err != nil {
		return err
	} else if c != nil {
		if err := txn.Delete(tableCoordinates, c); err != nil {
			return err
		}
		if err := bump(txn, idx, tableCoordinates); err != nil {
			return err
		}
	}
	if err := txn.Delete(tableNodes, n); err != nil {
		return err
	}
	return bump(txn, idx, tableNodes)
}
