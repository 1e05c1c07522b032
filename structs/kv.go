package structs

import "time"

// MaxKVValueSize is the largest KV value accepted (512 KiB, as Consul).
const MaxKVValueSize = 512 * 1024

// DirEntry is a KV row.
type DirEntry struct {
	LockIndex   uint64
	Key         string
	Flags       uint64
	Value       []byte
	Session     string `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// DirEntries is a list of KV rows.
type DirEntries []*DirEntry

// KVOp names a KV operation, with the names /v1/txn uses.
type KVOp string

// KV operations.
const (
	KVSet            KVOp = "set"
	KVDelete         KVOp = "delete"
	KVDeleteCAS      KVOp = "delete-cas"
	KVDeleteTree     KVOp = "delete-tree"
	KVCAS            KVOp = "cas"
	KVLock           KVOp = "lock"
	KVUnlock         KVOp = "unlock"
	KVGet            KVOp = "get"
	KVGetOrEmpty     KVOp = "get-or-empty"
	KVGetTree        KVOp = "get-tree"
	KVCheckSession   KVOp = "check-session"
	KVCheckIndex     KVOp = "check-index"
	KVCheckNotExists KVOp = "check-not-exists"
)

// KVSRequest is a KV write.
type KVSRequest struct {
	Datacenter string
	Op         KVOp
	DirEnt     DirEntry
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *KVSRequest) RequestDatacenter() string { return r.Datacenter }

// KeyRequest reads one key.
type KeyRequest struct {
	Datacenter string
	Key        string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *KeyRequest) RequestDatacenter() string { return r.Datacenter }

// KeyListRequest lists keys under a prefix, optionally up to a separator.
type KeyListRequest struct {
	Datacenter string
	Prefix     string
	Seperator  string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *KeyListRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedDirEntries is the reply to KVS.Get and KVS.List.
type IndexedDirEntries struct {
	Entries DirEntries
	QueryMeta
}

// IndexedKeyList is the reply to KVS.ListKeys.
type IndexedKeyList struct {
	Keys []string
	QueryMeta
}

// Session behaviours.
const (
	SessionKeysRelease = "release"
	SessionKeysDelete  = "delete"
)

// Session is a row of the session table.
type Session struct {
	ID            string
	Name          string
	Node          string
	NodeChecks    []string
	ServiceChecks []ServiceCheck
	LockDelay     time.Duration
	Behavior      string
	TTL           string
	CreateIndex   uint64
	ModifyIndex   uint64
}

// ServiceCheck names a service check a session is tied to.
type ServiceCheck struct {
	ID        string
	Namespace string
}

// Sessions is a list of sessions.
type Sessions []*Session

// SessionOp names a session write.
type SessionOp string

// Session writes.
const (
	SessionCreate  SessionOp = "create"
	SessionDestroy SessionOp = "destroy"
)

// SessionRequest creates or destroys a session.
type SessionRequest struct {
	Datacenter string
	Op         SessionOp
	Session    Session
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *SessionRequest) RequestDatacenter() string { return r.Datacenter }

// SessionSpecificRequest reads or renews one session.
type SessionSpecificRequest struct {
	Datacenter string
	SessionID  string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *SessionSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedSessions is the reply to the session reads.
type IndexedSessions struct {
	Sessions Sessions
	QueryMeta
}

// TxnKVOp is one KV operation inside a transaction.
type TxnKVOp struct {
	Verb   KVOp
	DirEnt DirEntry
}

// Verbs of the catalog and session operations of a transaction (the
// names /v1/txn uses for Node, Service and Check; Session has "delete").
const (
	TxnGet       = "get"
	TxnSet       = "set"
	TxnCAS       = "cas"
	TxnDelete    = "delete"
	TxnDeleteCAS = "delete-cas"
)

// TxnNodeOp is one node operation inside a transaction; Node.ModifyIndex
// is the index a cas or delete-cas compares against.
type TxnNodeOp struct {
	Verb string
	Node Node
}

// TxnServiceOp is one operation on a service instance of Node.
type TxnServiceOp struct {
	Verb    string
	Node    string
	Service NodeService
}

// TxnCheckOp is one operation on a check (Check.Node names its node).
type TxnCheckOp struct {
	Verb  string
	Check HealthCheck
}

// TxnSessionOp is one session operation; only "delete" exists.
type TxnSessionOp struct {
	Verb    string
	Session Session
}

// TxnOp is one operation of a transaction: exactly one part is set.
type TxnOp struct {
	KV      *TxnKVOp
	Node    *TxnNodeOp
	Service *TxnServiceOp
	Check   *TxnCheckOp
	Session *TxnSessionOp
}

// IsRead reports whether the operation only reads.
func (op *TxnOp) IsRead() bool {
	switch {
	case op == nil:
		return false
	case op.KV != nil:
		switch op.KV.Verb {
		case KVGet, KVGetOrEmpty, KVGetTree, KVCheckSession, KVCheckIndex, KVCheckNotExists:
			return true
		}
		return false
	case op.Node != nil:
		return op.Node.Verb == TxnGet
	case op.Service != nil:
		return op.Service.Verb == TxnGet
	case op.Check != nil:
		return op.Check.Verb == TxnGet
	}
	return false
}

// Parts counts the parts of an operation that are set (1 when valid).
func (op *TxnOp) Parts() int {
	if op == nil {
		return 0
	}
	n := 0
	for _, set := range []bool{op.KV != nil, op.Node != nil, op.Service != nil, op.Check != nil, op.Session != nil} {
		if set {
			n++
		}
	}
	return n
}

// TxnRequest applies operations atomically.
type TxnRequest struct {
	Datacenter string
	Ops        []*TxnOp
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *TxnRequest) RequestDatacenter() string { return r.Datacenter }

// TxnResult is one result of a transaction.
type TxnResult struct {
	KV      *DirEntry    `json:",omitempty"`
	Node    *Node        `json:",omitempty"`
	Service *NodeService `json:",omitempty"`
	Check   *HealthCheck `json:",omitempty"`
}

// TxnError names the operation that failed a transaction.
type TxnError struct {
	OpIndex int
	What    string
}

// TxnResponse is the reply to Txn.Apply.
type TxnResponse struct {
	Results []*TxnResult
	Errors  []*TxnError
	Index   uint64
}

// TxnReadRequest runs a transaction of read operations only, without
// Raft, as any read (?stale and ?consistent apply).
type TxnReadRequest struct {
	Datacenter string
	Ops        []*TxnOp
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *TxnReadRequest) RequestDatacenter() string { return r.Datacenter }

// TxnReadResponse is the reply to Txn.Read.
type TxnReadResponse struct {
	Results []*TxnResult
	Errors  []*TxnError
	QueryMeta
}

// TombstoneReapRequest drops KV tombstones up to and including ReapIndex;
// only the leader sends it, to itself, through Raft.
type TombstoneReapRequest struct {
	ReapIndex uint64
}
