package catalog

import (
	"fmt"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// PreparedQueryApply creates, updates or deletes a prepared query. Names
// are unique (case-insensitively) among queries; IDs are chosen by the
// leader before the entry is applied.
func (s *Store) PreparedQueryApply(idx uint64, req *structs.PreparedQueryRequest) error {
	if req.Query == nil || req.Query.ID == "" {
		return fmt.Errorf("%w: prepared query without ID", ErrInvalidRequest)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	existing, err := txn.First(tablePreparedQuery, "id", req.Query.ID)
	if err != nil {
		return err
	}
	switch req.Op {
	case structs.PreparedQueryDelete:
		if existing == nil {
			return nil
		}
		if err := txn.Delete(tablePreparedQuery, existing); err != nil {
			return err
		}
	case structs.PreparedQueryCreate, structs.PreparedQueryUpdate:
		if req.Op == structs.PreparedQueryUpdate && existing == nil {
			return fmt.Errorf("%w: no prepared query with ID %q", ErrInvalidRequest, req.Query.ID)
		}
		if req.Op == structs.PreparedQueryCreate && existing != nil {
			return fmt.Errorf("%w: prepared query ID %q already exists", ErrInvalidRequest, req.Query.ID)
		}
		q := *req.Query
		if q.Name != "" {
			other, err := txn.First(tablePreparedQuery, "name", strings.ToLower(q.Name))
			if err != nil {
				return err
			}
			if other != nil && other.(*structs.PreparedQuery).ID != q.ID {
				return fmt.Errorf("%w: name %q aliases an existing query name", ErrInvalidRequest, q.Name)
			}
		}
		q.CreateIndex, q.ModifyIndex = idx, idx
		if existing != nil {
			q.CreateIndex = existing.(*structs.PreparedQuery).CreateIndex
		}
		if err := txn.Insert(tablePreparedQuery, &q); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: unknown prepared query op %q", ErrInvalidRequest, req.Op)
	}
	if err := bump(txn, idx, tablePreparedQuery); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

// PreparedQueryList returns every prepared query, ordered by ID.
func (s *Store) PreparedQueryList(ws memdb.WatchSet) (uint64, structs.PreparedQueries, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tablePreparedQuery, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	out := structs.PreparedQueries{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		cp := *raw.(*structs.PreparedQuery)
		out = append(out, &cp)
	}
	return indexOf(txn, tablePreparedQuery), out, nil
}
