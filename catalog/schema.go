package catalog

import (
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// Table names.
const (
	tableNodes         = "nodes"
	tableServices      = "services"
	tableChecks        = "checks"
	tableKVs           = "kvs"
	tableTombstones    = "tombstones"
	tableSessions      = "sessions"
	tableSessionChecks = "session_checks"
	tableCoordinates   = "coordinates"
	tablePreparedQuery = "prepared_queries"
	// tableAutoEncryptCA holds the one auto-encrypt signing CA (with its
	// private key); no read of the HTTP API reaches it.
	tableAutoEncryptCA = "auto_encrypt_ca"
	// tableAutopilot holds the one autopilot configuration.
	tableAutopilot = "autopilot_config"
	// tableLockDelays is advisory state, not replicated through snapshots:
	// when a session is destroyed, its locks cannot be taken again until
	// its LockDelay passes (checked by the leader before a lock).
	tableLockDelays = "lock_delays"
	tableIndex      = "index"
)

// serviceRow is a service instance in the services table. The node name and
// IDs are lifted out of NS so that memdb's reflective indexers can see them.
type serviceRow struct {
	Node    string
	ID      string
	Service string
	NS      *structs.NodeService
}

// indexRow is a row of the index table: the latest modify index of a table
// or of one service name ("service.<name>").
type indexRow struct {
	Key   string
	Value uint64
}

// lockDelay holds a key back from locking until Until.
type lockDelay struct {
	Key   string
	Until time.Time
}

// sessionCheck ties a session to a check it depends on.
type sessionCheck struct {
	Node    string
	CheckID string
	Session string
}

// tombstone remembers the index a KV key was deleted at, so that a list of
// a prefix never reports a lower index after a delete.
type tombstone struct {
	Key   string
	Index uint64
}

func id(field string, lower bool) *memdb.StringFieldIndex {
	return &memdb.StringFieldIndex{Field: field, Lowercase: lower}
}

func schema() *memdb.DBSchema {
	db := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableNodes: {Name: tableNodes, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("Node", true)},
		}},
		tableServices: {Name: tableServices, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				id("Node", true), id("ID", false)}}},
			"node":    {Name: "node", Indexer: id("Node", true)},
			"service": {Name: "service", Indexer: id("Service", true)},
		}},
		tableChecks: {Name: tableChecks, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				id("Node", true), id("CheckID", false)}}},
			"node":    {Name: "node", Indexer: id("Node", true)},
			"status":  {Name: "status", Indexer: id("Status", false)},
			"service": {Name: "service", AllowMissing: true, Indexer: id("ServiceName", true)},
			"node_service": {Name: "node_service", AllowMissing: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				id("Node", true), id("ServiceID", false)}}},
		}},
		tableKVs: {Name: tableKVs, Indexes: map[string]*memdb.IndexSchema{
			"id":      {Name: "id", Unique: true, Indexer: id("Key", false)},
			"session": {Name: "session", AllowMissing: true, Indexer: id("Session", false)},
		}},
		tableTombstones: {Name: tableTombstones, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("Key", false)},
		}},
		tableSessions: {Name: tableSessions, Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: id("ID", false)},
			"node": {Name: "node", Indexer: id("Node", true)},
		}},
		tableSessionChecks: {Name: tableSessionChecks, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				id("Node", true), id("CheckID", false), id("Session", false)}}},
			"node_check": {Name: "node_check", Indexer: &memdb.CompoundIndex{Indexes: []memdb.Indexer{
				id("Node", true), id("CheckID", false)}}},
			"session": {Name: "session", Indexer: id("Session", false)},
		}},
		tableCoordinates: {Name: tableCoordinates, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("Node", true)},
		}},
		tablePreparedQuery: {Name: tablePreparedQuery, Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: id("ID", false)},
			"name": {Name: "name", Unique: true, AllowMissing: true, Indexer: id("Name", true)},
		}},
		tableAutoEncryptCA: {Name: tableAutoEncryptCA, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("ID", false)},
		}},
		tableAutopilot: {Name: tableAutopilot, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("ID", false)},
		}},
		tableLockDelays: {Name: tableLockDelays, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("Key", false)},
		}},
		tableIndex: {Name: tableIndex, Indexes: map[string]*memdb.IndexSchema{
			"id": {Name: "id", Unique: true, Indexer: id("Key", true)},
		}},
	}}
	for name, t := range aclTables() {
		db.Tables[name] = t
	}
	return db
}
