package structs

import "time"

// QueryOptions carries the consistency and blocking parameters of a read.
type QueryOptions struct {
	// Token is the caller's ACL token (its SecretID).
	Token string
	// MinQueryIndex makes the read block until the data it reads has an
	// index greater than this value, or MaxQueryTime passes.
	MinQueryIndex uint64
	MaxQueryTime  time.Duration
	// AllowStale lets any server answer from its replica.
	AllowStale bool
	// RequireConsistent makes the leader confirm its leadership first.
	RequireConsistent bool
	// MaxStaleDuration bounds how stale a follower may be before the read
	// is forwarded to the leader.
	MaxStaleDuration time.Duration
	// Filter is a bexpr-style filter expression applied to the result.
	Filter string
	// UseCache allows an agent-side cached answer.
	UseCache bool
	// MaxAge, StaleIfError and MustRevalidate are the Cache-Control
	// directives of a ?cached read, for the agent's cache only (never on
	// the wire): a cached answer older than MaxAge (0: any age) is fetched
	// again, unless the fetch fails and it is younger than StaleIfError;
	// MustRevalidate always fetches again.
	MaxAge         time.Duration `codec:"-" json:"-"`
	StaleIfError   time.Duration `codec:"-" json:"-"`
	MustRevalidate bool          `codec:"-" json:"-"`
}

// IsRead marks requests that are reads.
func (q *QueryOptions) IsRead() bool { return true }

// QueryMeta is returned with every read.
type QueryMeta struct {
	Index       uint64
	LastContact time.Duration
	KnownLeader bool
	// ConsistencyLevel is "leader", "stale" or "consistent".
	ConsistencyLevel string
	// ResultsFilteredByACLs is set when the server dropped results the
	// caller's token may not read (HTTP: X-Consul-Results-Filtered-By-ACLs).
	ResultsFilteredByACLs bool
	// CacheHit and CacheAge describe a ?cached read the agent's cache
	// answered (HTTP: X-Cache, Age); set by the agent, never on the wire.
	CacheHit bool          `codec:"-" json:"-"`
	CacheAge time.Duration `codec:"-" json:"-"`
}

// WriteRequest is embedded in every write.
type WriteRequest struct {
	Token string
}

// IsRead marks requests that are writes.
func (w *WriteRequest) IsRead() bool { return false }

// TokenHolder is implemented by every request (through QueryOptions or
// WriteRequest): the ACL token it carries, and a way to set it (the agent
// fills in its own token for its own calls).
type TokenHolder interface {
	TokenSecret() string
	SetTokenSecret(secret string)
}

// TokenSecret implements TokenHolder.
func (q *QueryOptions) TokenSecret() string { return q.Token }

// SetTokenSecret implements TokenHolder.
func (q *QueryOptions) SetTokenSecret(secret string) { q.Token = secret }

// TokenSecret implements TokenHolder.
func (w *WriteRequest) TokenSecret() string { return w.Token }

// SetTokenSecret implements TokenHolder.
func (w *WriteRequest) SetTokenSecret(secret string) { w.Token = secret }

// RPCInfo is implemented by every RPC request so routing code can decide
// where it goes without knowing its type.
type RPCInfo interface {
	RequestDatacenter() string
	IsRead() bool
}

// IsRead tells whether args is a request that only reads (and so may run
// twice, or on any server); anything else counts as a write.
func IsRead(args any) bool {
	info, ok := args.(RPCInfo)
	return ok && info.IsRead()
}

// QueryOptionsGetter is implemented by read requests.
type QueryOptionsGetter interface {
	GetQueryOptions() *QueryOptions
}

// QueryMetaGetter is implemented by read replies.
type QueryMetaGetter interface {
	GetQueryMeta() *QueryMeta
}

// GetQueryOptions returns the options; it lets embedding types satisfy
// QueryOptionsGetter.
func (q *QueryOptions) GetQueryOptions() *QueryOptions { return q }

// GetQueryMeta returns the meta; it lets embedding types satisfy
// QueryMetaGetter.
func (m *QueryMeta) GetQueryMeta() *QueryMeta { return m }

// QuerySource names where a query came from, for ?near=_agent sorting.
type QuerySource struct {
	Datacenter string
	Node       string
}

// Duration is a time.Duration that encodes as Go's duration string; used
// where Consul's JSON carries "10s" style values.
type Duration time.Duration
