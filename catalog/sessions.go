package catalog

import (
	"fmt"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// SessionCreate stores a session whose ID the server chose. Its node must
// exist and every check it names must exist and not be critical. An empty
// Behavior means release.
func (s *Store) SessionCreate(idx uint64, sess *structs.Session) error {
	if sess == nil || sess.ID == "" {
		return fmt.Errorf("%w: missing session ID", ErrInvalidRequest)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	if err := sessionCreateTxn(txn, idx, sess); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func sessionCreateTxn(txn *memdb.Txn, idx uint64, sess *structs.Session) error {
	ns := *sess
	switch ns.Behavior {
	case "":
		ns.Behavior = structs.SessionKeysRelease
	case structs.SessionKeysRelease, structs.SessionKeysDelete:
	default:
		return fmt.Errorf("%w: invalid session behavior %q", ErrInvalidRequest, ns.Behavior)
	}
	n, err := txn.First(tableNodes, "id", ns.Node)
	if err != nil {
		return err
	}
	if n == nil {
		return fmt.Errorf("%w: %q", ErrMissingNode, ns.Node)
	}
	ns.Node = n.(*structs.Node).Node
	if old, err := txn.First(tableSessions, "id", ns.ID); err != nil {
		return err
	} else if old != nil {
		return fmt.Errorf("%w: session %q already exists", ErrInvalidRequest, ns.ID)
	}
	ids := append([]string(nil), ns.NodeChecks...)
	for _, sc := range ns.ServiceChecks {
		ids = append(ids, sc.ID)
	}
	for _, cid := range ids {
		raw, err := txn.First(tableChecks, "id", ns.Node, cid)
		if err != nil {
			return err
		}
		if raw == nil {
			return fmt.Errorf("%w: %q on node %q", ErrMissingCheck, cid, ns.Node)
		}
		if raw.(*structs.HealthCheck).Status == structs.HealthCritical {
			return fmt.Errorf("%w: %q", ErrCriticalCheck, cid)
		}
	}
	ns.CreateIndex, ns.ModifyIndex = idx, idx
	if err := txn.Insert(tableSessions, &ns); err != nil {
		return err
	}
	for _, cid := range ids {
		if err := txn.Insert(tableSessionChecks, &sessionCheck{Node: ns.Node, CheckID: cid, Session: ns.ID}); err != nil {
			return err
		}
	}
	return bump(txn, idx, tableSessions)
}

// SessionDestroy removes a session and applies its behavior to the keys
// it holds. It reports whether the session existed.
func (s *Store) SessionDestroy(idx uint64, id string) (bool, error) {
	txn := s.db.Txn(true)
	defer txn.Abort()
	found, err := destroySessionTxn(txn, idx, id)
	if err != nil {
		return false, err
	}
	txn.Commit()
	return found, nil
}

func destroySessionTxn(txn *memdb.Txn, idx uint64, id string) (bool, error) {
	raw, err := txn.First(tableSessions, "id", id)
	if err != nil || raw == nil {
		return false, err
	}
	sess := raw.(*structs.Session)
	it, err := txn.Get(tableKVs, "session", id)
	if err != nil {
		return false, err
	}
	var held []*structs.DirEntry
	for e := it.Next(); e != nil; e = it.Next() {
		held = append(held, e.(*structs.DirEntry))
	}
	for _, e := range held {
		if sess.LockDelay > 0 {
			until := time.Now().Add(sess.LockDelay)
			if err := txn.Insert(tableLockDelays, &lockDelay{Key: e.Key, Until: until}); err != nil {
				return false, err
			}
		}
		if sess.Behavior == structs.SessionKeysDelete {
			if err := deleteEntryTxn(txn, idx, e); err != nil {
				return false, err
			}
			continue
		}
		ne := *e
		ne.Session = ""
		if _, err := kvSetTxn(txn, idx, &ne, true); err != nil {
			return false, err
		}
	}
	if _, err := txn.DeleteAll(tableSessionChecks, "session", id); err != nil {
		return false, err
	}
	if err := txn.Delete(tableSessions, sess); err != nil {
		return false, err
	}
	return true, bump(txn, idx, tableSessions)
}

// invalidateCheckSessions destroys every session tied to a check that
// turned critical or went away.
func invalidateCheckSessions(txn *memdb.Txn, idx uint64, node, checkID string) error {
	it, err := txn.Get(tableSessionChecks, "node_check", node, checkID)
	if err != nil {
		return err
	}
	var ids []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		ids = append(ids, raw.(*sessionCheck).Session)
	}
	for _, id := range ids {
		if _, err := destroySessionTxn(txn, idx, id); err != nil {
			return err
		}
	}
	return nil
}

// KVLockDelay returns until when key may not be locked (zero when it may).
func (s *Store) KVLockDelay(key string) time.Time {
	txn := s.db.Txn(false)
	defer txn.Abort()
	raw, err := txn.First(tableLockDelays, "id", key)
	if err != nil || raw == nil {
		return time.Time{}
	}
	return raw.(*lockDelay).Until
}

// SessionGet returns one session, or nil.
func (s *Store) SessionGet(ws memdb.WatchSet, id string) (uint64, *structs.Session, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	ch, raw, err := txn.FirstWatch(tableSessions, "id", id)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(ch)
	idx := indexOf(txn, tableSessions)
	if raw == nil {
		return idx, nil, nil
	}
	cp := *raw.(*structs.Session)
	return idx, &cp, nil
}

func collectSessions(it memdb.ResultIterator) structs.Sessions {
	out := structs.Sessions{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		cp := *raw.(*structs.Session)
		out = append(out, &cp)
	}
	return out
}

// SessionList returns every session.
func (s *Store) SessionList(ws memdb.WatchSet) (uint64, structs.Sessions, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableSessions, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	return indexOf(txn, tableSessions), collectSessions(it), nil
}

// NodeSessions returns the sessions of one node.
func (s *Store) NodeSessions(ws memdb.WatchSet, node string) (uint64, structs.Sessions, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableSessions, "node", node)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	return indexOf(txn, tableSessions), collectSessions(it), nil
}

// Coordinates returns every node's coordinate.
func (s *Store) Coordinates(ws memdb.WatchSet) (uint64, structs.Coordinates, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableCoordinates, "id")
	if err != nil {
		return 0, nil, err
	}
	ws.Add(it.WatchCh())
	out := structs.Coordinates{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		cp := *raw.(*structs.Coordinate)
		out = append(out, &cp)
	}
	return indexOf(txn, tableCoordinates), out, nil
}

// CoordinateBatchUpdate stores coordinates of registered nodes; updates for
// unknown nodes are skipped, as the node may have been deregistered since.
func (s *Store) CoordinateBatchUpdate(idx uint64, updates structs.Coordinates) error {
	txn := s.db.Txn(true)
	defer txn.Abort()
	wrote := false
	for _, u := range updates {
		if u == nil || u.Node == "" || u.Coord == nil {
			continue
		}
		n, err := txn.First(tableNodes, "id", u.Node)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		c := *u
		c.Node = n.(*structs.Node).Node
		c.ModifyIndex = idx
		c.CreateIndex = idx
		if old, err := txn.First(tableCoordinates, "id", c.Node); err != nil {
			return err
		} else if old != nil {
			c.CreateIndex = old.(*structs.Coordinate).CreateIndex
		}
		if err := txn.Insert(tableCoordinates, &c); err != nil {
			return err
		}
		wrote = true
	}
	if wrote {
		if err := bump(txn, idx, tableCoordinates); err != nil {
			return err
		}
	}
	txn.Commit()
	return nil
}
