package catalog

import (
	"errors"
	"fmt"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// KV errors, returned inside transactions where a verb's condition fails.
var (
	// ErrKeyNotFound is returned by txn get and check verbs on a missing key.
	ErrKeyNotFound = errors.New("catalog: key not found")
	// ErrCASFailed is returned by a txn cas/delete-cas/check-index verb
	// whose index does not match.
	ErrCASFailed = errors.New("catalog: index is stale")
	// ErrLockHeld is returned by a txn lock on a key another session holds.
	ErrLockHeld = errors.New("catalog: lock is already held")
	// ErrNotLockHolder is returned by a txn unlock from a session that
	// does not hold the lock.
	ErrNotLockHolder = errors.New("catalog: session does not hold the lock")
	// ErrCheckFailed is returned by check-session and check-not-exists.
	ErrCheckFailed = errors.New("catalog: check failed")
)

// KVGet returns one key, or nil. A found key reports its ModifyIndex; a
// missing one the kvs table index. Only that key's node is watched.
func (s *Store) KVGet(ws memdb.WatchSet, key string) (uint64, *structs.DirEntry, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	ch, raw, err := txn.FirstWatch(tableKVs, "id", key)
	if err != nil {
		return 0, nil, err
	}
	ws.Add(ch)
	if raw == nil {
		return indexOf(txn, tableKVs), nil, nil
	}
	e := *raw.(*structs.DirEntry)
	return e.ModifyIndex, &e, nil
}

// prefixIndex is the index a read of a prefix reports: the newest entry or
// tombstone under it, else the kvs table index.
func prefixIndex(txn *memdb.Txn, prefix string, entries structs.DirEntries) (uint64, error) {
	var m uint64
	for _, e := range entries {
		if e.ModifyIndex > m {
			m = e.ModifyIndex
		}
	}
	it, err := txn.Get(tableTombstones, "id_prefix", prefix)
	if err != nil {
		return 0, err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if t := raw.(*tombstone); t.Index > m {
			m = t.Index
		}
	}
	if m == 0 {
		m = indexOf(txn, tableKVs)
	}
	return m, nil
}

func listTxn(txn *memdb.Txn, ws memdb.WatchSet, prefix string) (structs.DirEntries, error) {
	it, err := txn.Get(tableKVs, "id_prefix", prefix)
	if err != nil {
		return nil, err
	}
	if ws != nil {
		ws.Add(it.WatchCh())
	}
	var out structs.DirEntries
	for raw := it.Next(); raw != nil; raw = it.Next() {
		e := *raw.(*structs.DirEntry)
		out = append(out, &e)
	}
	return out, nil
}

// KVList returns every key under prefix, sorted. The prefix is watched.
func (s *Store) KVList(ws memdb.WatchSet, prefix string) (uint64, structs.DirEntries, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	out, err := listTxn(txn, ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	idx, err := prefixIndex(txn, prefix, out)
	return idx, out, err
}

// KVListKeys returns the keys under prefix; with a separator, keys are cut
// after the first separator past the prefix and deduplicated, as Consul's
// ?keys&separator= does.
func (s *Store) KVListKeys(ws memdb.WatchSet, prefix, sep string) (uint64, []string, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	entries, err := listTxn(txn, ws, prefix)
	if err != nil {
		return 0, nil, err
	}
	keys := []string{}
	prev := ""
	for _, e := range entries {
		k := e.Key
		if sep != "" {
			if i := strings.Index(k[len(prefix):], sep); i >= 0 {
				k = k[:len(prefix)+i+len(sep)]
			}
		}
		if len(keys) > 0 && k == prev {
			continue
		}
		keys = append(keys, k)
		prev = k
	}
	idx, err := prefixIndex(txn, prefix, entries)
	return idx, keys, err
}

// KVSet writes a key, keeping its lock state and CreateIndex.
func (s *Store) KVSet(idx uint64, e *structs.DirEntry) error {
	return s.kvWrite(func(txn *memdb.Txn) (bool, error) {
		_, err := kvSetTxn(txn, idx, e, false)
		return true, err
	})
}

// KVDelete removes a key; a missing key is not an error.
func (s *Store) KVDelete(idx uint64, key string) error {
	return s.kvWrite(func(txn *memdb.Txn) (bool, error) { return true, kvDeleteTxn(txn, idx, key) })
}

// KVDeleteTree removes every key under prefix.
func (s *Store) KVDeleteTree(idx uint64, prefix string) error {
	return s.kvWrite(func(txn *memdb.Txn) (bool, error) { return true, kvDeleteTreeTxn(txn, idx, prefix) })
}

// KVCAS writes e only if the key's ModifyIndex equals e.ModifyIndex (0:
// only if the key does not exist). It reports whether it wrote.
func (s *Store) KVCAS(idx uint64, e *structs.DirEntry) (bool, error) {
	return s.kvCond(func(txn *memdb.Txn) (bool, error) { return kvCASTxn(txn, idx, e) })
}

// KVDeleteCAS deletes the key only if its ModifyIndex equals cas; a key
// that does not exist counts as deleted.
func (s *Store) KVDeleteCAS(idx, cas uint64, key string) (bool, error) {
	return s.kvCond(func(txn *memdb.Txn) (bool, error) { return kvDeleteCASTxn(txn, idx, cas, key) })
}

// KVLock acquires the key for e.Session (which must be live) and writes
// it; it reports false when another session holds it.
func (s *Store) KVLock(idx uint64, e *structs.DirEntry) (bool, error) {
	return s.kvCond(func(txn *memdb.Txn) (bool, error) { return kvLockTxn(txn, idx, e) })
}

// KVUnlock releases the key held by e.Session and writes it; it reports
// false when that session does not hold it.
func (s *Store) KVUnlock(idx uint64, e *structs.DirEntry) (bool, error) {
	return s.kvCond(func(txn *memdb.Txn) (bool, error) { return kvUnlockTxn(txn, idx, e) })
}

func (s *Store) kvWrite(fn func(*memdb.Txn) (bool, error)) error {
	_, err := s.kvCond(fn)
	return err
}

// kvCond runs fn in a write txn and commits only when it succeeded.
func (s *Store) kvCond(fn func(*memdb.Txn) (bool, error)) (bool, error) {
	txn := s.db.Txn(true)
	defer txn.Abort()
	ok, err := fn(txn)
	if err != nil || !ok {
		return ok, err
	}
	txn.Commit()
	return true, nil
}

func getKey(txn *memdb.Txn, key string) (*structs.DirEntry, error) {
	raw, err := txn.First(tableKVs, "id", key)
	if err != nil || raw == nil {
		return nil, err
	}
	return raw.(*structs.DirEntry), nil
}

// kvSetTxn writes e. With withSession the Session and LockIndex come from e
// (lock/unlock); otherwise they are kept from the existing entry.
func kvSetTxn(txn *memdb.Txn, idx uint64, e *structs.DirEntry, withSession bool) (*structs.DirEntry, error) {
	if e.Key == "" {
		return nil, fmt.Errorf("%w: missing key", ErrInvalidRequest)
	}
	existing, err := getKey(txn, e.Key)
	if err != nil {
		return nil, err
	}
	ne := *e
	ne.CreateIndex = idx
	if existing != nil {
		ne.CreateIndex = existing.CreateIndex
		if !withSession {
			ne.Session, ne.LockIndex = existing.Session, existing.LockIndex
		}
	} else if !withSession {
		ne.Session, ne.LockIndex = "", 0
	}
	ne.ModifyIndex = idx
	if err := txn.Insert(tableKVs, &ne); err != nil {
		return nil, err
	}
	if t, err := txn.First(tableTombstones, "id", e.Key); err != nil {
		return nil, err
	} else if t != nil {
		// A live key's own index now covers its tombstone.
		if err := txn.Delete(tableTombstones, t); err != nil {
			return nil, err
		}
	}
	if err := bump(txn, idx, tableKVs); err != nil {
		return nil, err
	}
	out := ne
	return &out, nil
}

func kvDeleteTxn(txn *memdb.Txn, idx uint64, key string) error {
	e, err := getKey(txn, key)
	if err != nil || e == nil {
		return err
	}
	return deleteEntryTxn(txn, idx, e)
}

func deleteEntryTxn(txn *memdb.Txn, idx uint64, e *structs.DirEntry) error {
	if err := txn.Delete(tableKVs, e); err != nil {
		return err
	}
	if err := txn.Insert(tableTombstones, &tombstone{Key: e.Key, Index: idx}); err != nil {
		return err
	}
	return bump(txn, idx, tableKVs)
}

func kvDeleteTreeTxn(txn *memdb.Txn, idx uint64, prefix string) error {
	entries, err := listTxn(txn, nil, prefix)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := deleteEntryTxn(txn, idx, e); err != nil {
			return err
		}
	}
	return nil
}

func kvCASTxn(txn *memdb.Txn, idx uint64, e *structs.DirEntry) (bool, error) {
	existing, err := getKey(txn, e.Key)
	if err != nil {
		return false, err
	}
	if e.ModifyIndex == 0 && existing != nil {
		return false, nil
	}
	if e.ModifyIndex != 0 && (existing == nil || existing.ModifyIndex != e.ModifyIndex) {
		return false, nil
	}
	_, err = kvSetTxn(txn, idx, e, false)
	return err == nil, err
}

func kvDeleteCASTxn(txn *memdb.Txn, idx, cas uint64, key string) (bool, error) {
	existing, err := getKey(txn, key)
	if err != nil {
		return false, err
	}
	if existing == nil {
		return true, nil
	}
	if existing.ModifyIndex != cas {
		return false, nil
	}
	return true, deleteEntryTxn(txn, idx, existing)
}

func kvLockTxn(txn *memdb.Txn, idx uint64, e *structs.DirEntry) (bool, error) {
	if e.Session == "" {
		return false, fmt.Errorf("%w: lock requires a session", ErrMissingSession)
	}
	sess, err := txn.First(tableSessions, "id", e.Session)
	if err != nil {
		return false, err
	}
	if sess == nil {
		return false, fmt.Errorf("%w: session %q not found", ErrMissingSession, e.Session)
	}
	existing, err := getKey(txn, e.Key)
	if err != nil {
		return false, err
	}
	ne := *e
	switch {
	case existing == nil:
		ne.LockIndex = 1
	case existing.Session == "":
		ne.LockIndex = existing.LockIndex + 1
	case existing.Session == e.Session:
		// Re-acquiring a held lock only updates the value.
		ne.LockIndex = existing.LockIndex
	default:
		return false, nil
	}
	_, err = kvSetTxn(txn, idx, &ne, true)
	return err == nil, err
}

func kvUnlockTxn(txn *memdb.Txn, idx uint64, e *structs.DirEntry) (bool, error) {
	existing, err := getKey(txn, e.Key)
	if err != nil {
		return false, err
	}
	if existing == nil || existing.Session == "" || existing.Session != e.Session {
		return false, nil
	}
	ne := *e
	ne.Session, ne.LockIndex = "", existing.LockIndex
	_, err = kvSetTxn(txn, idx, &ne, true)
	return err == nil, err
}

// ReapTombstones drops the tombstones of keys deleted at or before index
// upTo, so deleted keys do not cost memory forever. A prefix whose newest
// change was such a delete may then report a lower index, as in Consul.
func (s *Store) ReapTombstones(upTo uint64) error {
	txn := s.db.Txn(true)
	defer txn.Abort()
	it, err := txn.Get(tableTombstones, "id")
	if err != nil {
		return err
	}
	var old []*tombstone
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if t := raw.(*tombstone); t.Index <= upTo {
			old = append(old, t)
		}
	}
	for _, t := range old {
		if err := txn.Delete(tableTombstones, t); err != nil {
			return err
		}
	}
	// Expired lock delays go too; the table is advisory and would grow
	// with every distinct key ever held by a destroyed session.
	if err := sweepLockDelays(txn, time.Now()); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func sweepLockDelays(txn *memdb.Txn, now time.Time) error {
	it, err := txn.Get(tableLockDelays, "id")
	if err != nil {
		return err
	}
	var expired []*lockDelay
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if d := raw.(*lockDelay); !now.Before(d.Until) {
			expired = append(expired, d)
		}
	}
	for _, d := range expired {
		if err := txn.Delete(tableLockDelays, d); err != nil {
			return err
		}
	}
	return nil
}

// TombstoneCount is the number of KV tombstones held.
func (s *Store) TombstoneCount() int {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableTombstones, "id")
	if err != nil {
		return 0
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}
