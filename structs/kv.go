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

// TxnOp is one operation of a transaction; only KV is supported so far.
type TxnOp struct {
	KV *TxnKVOp
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
	KV *DirEntry `json:",omitempty"`
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

// TombstoneReapRequest drops KV tombstones up to and including ReapIndex;
// only the leader sends it, to itself, through Raft.
type TombstoneReapRequest struct {
	ReapIndex uint64
}
