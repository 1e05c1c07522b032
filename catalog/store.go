package catalog

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	memdb "github.com/hashicorp/go-memdb"
)

// Errors the store returns for writes that cannot apply.
var (
	// ErrMissingNode is returned when a write names a node that is not
	// registered.
	ErrMissingNode = errors.New("catalog: node not registered")
	// ErrMissingService is returned when a check names a service that is
	// not registered on its node.
	ErrMissingService = errors.New("catalog: service not registered")
	// ErrMissingCheck is returned when a session names a check that does
	// not exist.
	ErrMissingCheck = errors.New("catalog: check not registered")
	// ErrCriticalCheck is returned when a session is tied to a check that
	// is already critical.
	ErrCriticalCheck = errors.New("catalog: check is critical")
	// ErrMissingSession is returned when a write names a session that does
	// not exist.
	ErrMissingSession = errors.New("catalog: invalid session")
	// ErrInvalidRequest is returned for a write the store cannot interpret.
	ErrInvalidRequest = errors.New("catalog: invalid request")
)

// Store is the in-memory state of the catalog. It is safe for concurrent
// use: reads see a consistent snapshot, writes are serialized by memdb.
type Store struct {
	db *memdb.MemDB

	abandonOnce sync.Once
	abandonCh   chan struct{}
}

// NewStore returns an empty store.
func NewStore() (*Store, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("catalog: schema: %w", err)
	}
	return &Store{db: db, abandonCh: make(chan struct{})}, nil
}

// AbandonCh is closed when this store has been replaced by a restore, so
// blocked reads re-run against the new store.
func (s *Store) AbandonCh() <-chan struct{} { return s.abandonCh }

// Abandon closes AbandonCh; it is safe to call more than once.
func (s *Store) Abandon() { s.abandonOnce.Do(func() { close(s.abandonCh) }) }

// serviceIndexKey is the index table key for one service name.
func serviceIndexKey(name string) string { return "service." + strings.ToLower(name) }

// indexOf returns the stored index for key, 0 when never written.
func indexOf(txn *memdb.Txn, key string) uint64 {
	raw, err := txn.First(tableIndex, "id", key)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*indexRow).Value
}

// indexWatch returns the index for key and adds its row's watch channel.
func indexWatch(txn *memdb.Txn, ws memdb.WatchSet, key string) uint64 {
	ch, raw, err := txn.FirstWatch(tableIndex, "id", key)
	if err != nil {
		return 0
	}
	ws.Add(ch)
	if raw == nil {
		return 0
	}
	return raw.(*indexRow).Value
}

// maxIndex returns the largest index among the given tables.
func maxIndex(txn *memdb.Txn, keys ...string) uint64 {
	var m uint64
	for _, k := range keys {
		if v := indexOf(txn, k); v > m {
			m = v
		}
	}
	return m
}

// Index returns the latest modify index of a table (or "service.<name>").
func (s *Store) Index(key string) uint64 {
	txn := s.db.Txn(false)
	defer txn.Abort()
	return indexOf(txn, key)
}

// bump sets the index rows for keys to idx; Raft indexes only grow.
func bump(txn *memdb.Txn, idx uint64, keys ...string) error {
	for _, k := range keys {
		if err := txn.Insert(tableIndex, &indexRow{Key: k, Value: idx}); err != nil {
			return fmt.Errorf("catalog: index %q: %w", k, err)
		}
	}
	return nil
}

// bumpService bumps the per-service index of name.
func bumpService(txn *memdb.Txn, idx uint64, name string) error {
	if name == "" {
		return nil
	}
	return bump(txn, idx, serviceIndexKey(name))
}

// bumpNodeServices bumps the per-service index of every service on node,
// for changes (to the node or its node-level checks) every instance shows.
func bumpNodeServices(txn *memdb.Txn, idx uint64, node string) error {
	it, err := txn.Get(tableServices, "node", node)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		name := strings.ToLower(raw.(*serviceRow).Service)
		if seen[name] {
			continue
		}
		seen[name] = true
		if err := bumpService(txn, idx, name); err != nil {
			return err
		}
	}
	return nil
}
