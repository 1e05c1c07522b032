package catalog

import (
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// The catalog and session operations of a transaction, with Consul's
// verbs and error texts (a transaction's errors are shown to the caller
// as they are).

func txnGetNode(txn *memdb.Txn, name string) (*structs.Node, error) {
	raw, err := txn.First(tableNodes, "id", name)
	if err != nil || raw == nil {
		return nil, err
	}
	n := *raw.(*structs.Node)
	return &n, nil
}

func txnGetService(txn *memdb.Txn, node, id string) (*structs.NodeService, error) {
	raw, err := txn.First(tableServices, "id", node, id)
	if err != nil || raw == nil {
		return nil, err
	}
	ns := *raw.(*serviceRow).NS
	return &ns, nil
}

func txnGetCheck(txn *memdb.Txn, node, id string) (*structs.HealthCheck, error) {
	raw, err := txn.First(tableChecks, "id", node, id)
	if err != nil || raw == nil {
		return nil, err
	}
	c := *raw.(*structs.HealthCheck)
	return &c, nil
}

// casMatches is Consul's compare for a catalog cas: index 0 means "only
// if absent", any other index must be the current ModifyIndex.
func casMatches(want uint64, exists bool, current uint64) bool {
	if want == 0 {
		return !exists
	}
	return exists && want == current
}

// txnGetNodeByID finds a node by its ID (a scan: nodes are indexed by
// name only).
func txnGetNodeByID(txn *memdb.Txn, id string) (*structs.Node, error) {
	it, err := txn.Get(tableNodes, "id")
	if err != nil {
		return nil, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if n := raw.(*structs.Node); strings.EqualFold(n.ID, id) {
			cp := *n
			return &cp, nil
		}
	}
	return nil, nil
}

func txnNodeOp(txn *memdb.Txn, idx uint64, op *structs.TxnNodeOp) ([]*structs.TxnResult, error) {
	n := op.Node
	if op.Verb == structs.TxnGet && n.ID != "" {
		// As Consul, a get with an ID looks the node up by it.
		got, err := txnGetNodeByID(txn, n.ID)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, fmt.Errorf("node %q doesn't exist", n.Node)
		}
		return []*structs.TxnResult{{Node: got}}, nil
	}
	if op.Verb != structs.TxnGet && n.Node == "" {
		return nil, fmt.Errorf("%w: Must provide node", ErrInvalidRequest)
	}
	existing, err := txnGetNode(txn, n.Node)
	if err != nil {
		return nil, err
	}
	switch op.Verb {
	case structs.TxnGet:
		if existing == nil {
			return nil, fmt.Errorf("node %q doesn't exist", n.Node)
		}
		return []*structs.TxnResult{{Node: existing}}, nil
	case structs.TxnSet, structs.TxnCAS:
		if op.Verb == structs.TxnCAS {
			var cur uint64
			if existing != nil {
				cur = existing.ModifyIndex
			}
			if !casMatches(n.ModifyIndex, existing != nil, cur) {
				return nil, fmt.Errorf("failed to set node %q, index is stale", n.Node)
			}
		}
		if err := ensureNodeTxn(txn, idx, &n); err != nil {
			return nil, err
		}
		got, err := txnGetNode(txn, n.Node)
		if err != nil {
			return nil, err
		}
		return []*structs.TxnResult{{Node: got}}, nil
	case structs.TxnDelete:
		return nil, deleteNodeTxn(txn, idx, n.Node)
	case structs.TxnDeleteCAS:
		if existing == nil || existing.ModifyIndex != n.ModifyIndex {
			return nil, fmt.Errorf("failed to delete node %q, index is stale", n.Node)
		}
		return nil, deleteNodeTxn(txn, idx, n.Node)
	}
	return nil, fmt.Errorf("unknown Node verb %q", op.Verb)
}

func txnServiceOp(txn *memdb.Txn, idx uint64, op *structs.TxnServiceOp) ([]*structs.TxnResult, error) {
	svc := op.Service
	if svc.ID == "" {
		svc.ID = svc.Service
	}
	node := op.Node
	if n, err := txnGetNode(txn, node); err != nil {
		return nil, err
	} else if n != nil {
		node = n.Node
	}
	existing, err := txnGetService(txn, node, svc.ID)
	if err != nil {
		return nil, err
	}
	switch op.Verb {
	case structs.TxnGet:
		if existing == nil {
			return nil, fmt.Errorf("service %q on node %q doesn't exist", svc.ID, op.Node)
		}
		return []*structs.TxnResult{{Service: existing}}, nil
	case structs.TxnSet, structs.TxnCAS:
		if op.Verb == structs.TxnCAS {
			var cur uint64
			if existing != nil {
				cur = existing.ModifyIndex
			}
			if !casMatches(svc.ModifyIndex, existing != nil, cur) {
				return nil, fmt.Errorf("failed to set service %q on node %q, index is stale", svc.ID, op.Node)
			}
		}
		if err := ensureServiceTxn(txn, idx, node, &svc); err != nil {
			return nil, err
		}
		got, err := txnGetService(txn, node, svc.ID)
		if err != nil {
			return nil, err
		}
		return []*structs.TxnResult{{Service: got}}, nil
	case structs.TxnDelete:
		return nil, deleteServiceTxn(txn, idx, node, svc.ID)
	case structs.TxnDeleteCAS:
		if existing == nil || existing.ModifyIndex != svc.ModifyIndex {
			return nil, fmt.Errorf("failed to delete service %q on node %q, index is stale", svc.ID, op.Node)
		}
		return nil, deleteServiceTxn(txn, idx, node, svc.ID)
	}
	return nil, fmt.Errorf("unknown Service verb %q", op.Verb)
}

func txnCheckOp(txn *memdb.Txn, idx uint64, op *structs.TxnCheckOp) ([]*structs.TxnResult, error) {
	c := op.Check
	existing, err := txnGetCheck(txn, c.Node, c.CheckID)
	if err != nil {
		return nil, err
	}
	switch op.Verb {
	case structs.TxnGet:
		if existing == nil {
			return nil, fmt.Errorf("check %q on node %q doesn't exist", c.CheckID, c.Node)
		}
		return []*structs.TxnResult{{Check: existing}}, nil
	case structs.TxnSet, structs.TxnCAS:
		if op.Verb == structs.TxnCAS {
			var cur uint64
			if existing != nil {
				cur = existing.ModifyIndex
			}
			if !casMatches(c.ModifyIndex, existing != nil, cur) {
				return nil, fmt.Errorf("failed to set check %q on node %q, index is stale", c.CheckID, c.Node)
			}
		}
		if err := ensureCheckTxn(txn, idx, &c); err != nil {
			return nil, err
		}
		got, err := txnGetCheck(txn, c.Node, c.CheckID)
		if err != nil {
			return nil, err
		}
		return []*structs.TxnResult{{Check: got}}, nil
	case structs.TxnDelete:
		return nil, deleteCheckTxn(txn, idx, c.Node, c.CheckID)
	case structs.TxnDeleteCAS:
		if existing == nil || existing.ModifyIndex != c.ModifyIndex {
			return nil, fmt.Errorf("failed to delete check %q on node %q, index is stale", c.CheckID, c.Node)
		}
		return nil, deleteCheckTxn(txn, idx, c.Node, c.CheckID)
	}
	return nil, fmt.Errorf("unknown Check verb %q", op.Verb)
}

func txnSessionOp(txn *memdb.Txn, idx uint64, op *structs.TxnSessionOp) error {
	if op.Verb != structs.TxnDelete {
		return fmt.Errorf("unknown Session verb %q", op.Verb)
	}
	// A session already gone is not an error, as /v1/session/destroy.
	if _, err := destroySessionTxn(txn, idx, op.Session.ID); err != nil {
		return fmt.Errorf("failed to delete session: %v", err)
	}
	return nil
}
