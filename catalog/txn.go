package catalog

import (
	"fmt"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// IsReadVerb reports whether a KV txn verb only reads.
func IsReadVerb(v structs.KVOp) bool {
	switch v {
	case structs.KVGet, structs.KVGetOrEmpty, structs.KVGetTree, structs.KVCheckSession, structs.KVCheckIndex, structs.KVCheckNotExists:
		return true
	}
	return false
}

// Txn applies ops atomically at idx: if any op fails nothing is written and
// the response lists the failures (with OpIndex) and no results.
func (s *Store) Txn(idx uint64, ops []*structs.TxnOp) *structs.TxnResponse {
	txn := s.db.Txn(true)
	defer txn.Abort()
	resp := runTxn(txn, idx, ops)
	if len(resp.Errors) == 0 {
		txn.Commit()
	}
	return resp
}

// TxnRead runs read-only ops against the current state; any write verb is
// reported as an error.
func (s *Store) TxnRead(ops []*structs.TxnOp) *structs.TxnResponse {
	for i, op := range ops {
		if !op.IsRead() {
			return &structs.TxnResponse{Errors: []*structs.TxnError{{OpIndex: i, What: "only read verbs are allowed in a read transaction"}}}
		}
	}
	txn := s.db.Txn(false)
	defer txn.Abort()
	resp := runTxn(txn, 0, ops)
	resp.Index = indexOf(txn, tableKVs)
	for _, op := range ops {
		var t string
		switch {
		case op.Node != nil:
			t = tableNodes
		case op.Service != nil:
			t = tableServices
		case op.Check != nil:
			t = tableChecks
		default:
			continue
		}
		resp.Index = max(resp.Index, indexOf(txn, t))
	}
	return resp
}

func runTxn(txn *memdb.Txn, idx uint64, ops []*structs.TxnOp) *structs.TxnResponse {
	resp := &structs.TxnResponse{Index: idx}
	for i, op := range ops {
		var results []*structs.TxnResult
		var err error
		switch {
		case op.Parts() != 1:
			err = fmt.Errorf("%w: an operation needs exactly one of KV, Node, Service, Check or Session", ErrInvalidRequest)
		case op.KV != nil:
			results, err = txnKVOp(txn, idx, op.KV)
			if v := op.KV.Verb; v != structs.KVGet && v != structs.KVGetOrEmpty && v != structs.KVGetTree {
				// As Consul: only the gets answer values.
				for _, r := range results {
					if r.KV != nil {
						cp := *r.KV
						cp.Value = nil
						r.KV = &cp
					}
				}
			}
		case op.Node != nil:
			results, err = txnNodeOp(txn, idx, op.Node)
		case op.Service != nil:
			results, err = txnServiceOp(txn, idx, op.Service)
		case op.Check != nil:
			results, err = txnCheckOp(txn, idx, op.Check)
		case op.Session != nil:
			err = txnSessionOp(txn, idx, op.Session)
		}
		if err != nil {
			resp.Errors = append(resp.Errors, &structs.TxnError{OpIndex: i, What: err.Error()})
			continue
		}
		resp.Results = append(resp.Results, results...)
	}
	if len(resp.Errors) > 0 {
		resp.Results = nil
	}
	return resp
}

func kvResult(e *structs.DirEntry) []*structs.TxnResult {
	return []*structs.TxnResult{{KV: e}}
}

func txnKVOp(txn *memdb.Txn, idx uint64, op *structs.TxnKVOp) ([]*structs.TxnResult, error) {
	e := op.DirEnt
	key := e.Key
	switch op.Verb {
	case structs.KVSet:
		out, err := kvSetTxn(txn, idx, &e, false)
		if err != nil {
			return nil, err
		}
		return kvResult(out), nil
	case structs.KVCAS:
		ok, err := kvCASTxn(txn, idx, &e)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("failed to set key %q: %w", key, ErrCASFailed)
		}
		got, err := getKey(txn, key)
		return kvResult(copyEntry(got)), err
	case structs.KVLock:
		ok, err := kvLockTxn(txn, idx, &e)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("failed to lock key %q: %w", key, ErrLockHeld)
		}
		got, err := getKey(txn, key)
		return kvResult(copyEntry(got)), err
	case structs.KVUnlock:
		ok, err := kvUnlockTxn(txn, idx, &e)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("failed to unlock key %q: %w", key, ErrNotLockHolder)
		}
		got, err := getKey(txn, key)
		return kvResult(copyEntry(got)), err
	case structs.KVDelete:
		return nil, kvDeleteTxn(txn, idx, key)
	case structs.KVDeleteTree:
		return nil, kvDeleteTreeTxn(txn, idx, key)
	case structs.KVDeleteCAS:
		ok, err := kvDeleteCASTxn(txn, idx, e.ModifyIndex, key)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("failed to delete key %q: %w", key, ErrCASFailed)
		}
		return nil, nil
	case structs.KVGet:
		got, err := getKey(txn, key)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, fmt.Errorf("key %q doesn't exist: %w", key, ErrKeyNotFound)
		}
		return kvResult(copyEntry(got)), nil
	case structs.KVGetOrEmpty:
		// As Consul: a missing key answers the operation's own entry
		// with no value and no indexes, not an error (Vault probes
		// with it).
		got, err := getKey(txn, key)
		if err != nil {
			return nil, err
		}
		if got == nil {
			empty := e
			empty.Value = nil
			empty.CreateIndex, empty.ModifyIndex, empty.LockIndex = 0, 0, 0
			return kvResult(&empty), nil
		}
		return kvResult(copyEntry(got)), nil
	case structs.KVGetTree:
		entries, err := listTxn(txn, nil, key)
		if err != nil {
			return nil, err
		}
		var out []*structs.TxnResult
		for _, ent := range entries {
			out = append(out, &structs.TxnResult{KV: ent})
		}
		return out, nil
	case structs.KVCheckIndex:
		got, err := getKey(txn, key)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, fmt.Errorf("key %q doesn't exist: %w", key, ErrKeyNotFound)
		}
		if got.ModifyIndex != e.ModifyIndex {
			return nil, fmt.Errorf("current modify index %d != %d for key %q: %w", got.ModifyIndex, e.ModifyIndex, key, ErrCASFailed)
		}
		return kvResult(copyEntry(got)), nil
	case structs.KVCheckSession:
		got, err := getKey(txn, key)
		if err != nil {
			return nil, err
		}
		if got == nil {
			return nil, fmt.Errorf("key %q doesn't exist: %w", key, ErrKeyNotFound)
		}
		if got.Session != e.Session {
			return nil, fmt.Errorf("current session %q != %q for key %q: %w", got.Session, e.Session, key, ErrCheckFailed)
		}
		return kvResult(copyEntry(got)), nil
	case structs.KVCheckNotExists:
		got, err := getKey(txn, key)
		if err != nil {
			return nil, err
		}
		if got != nil {
			return nil, fmt.Errorf("key %q exists: %w", key, ErrCheckFailed)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unknown KV verb %q", ErrInvalidRequest, op.Verb)
}

func copyEntry(e *structs.DirEntry) *structs.DirEntry {
	if e == nil {
		return nil
	}
	cp := *e
	return &cp
}
