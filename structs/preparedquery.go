package structs

// QueryFailoverOptions says where a prepared query looks when no healthy
// instance exists locally.
type QueryFailoverOptions struct {
	NearestN    int
	Datacenters []string
}

// ServiceQuery is the service part of a prepared query.
type ServiceQuery struct {
	Service        string
	Failover       QueryFailoverOptions
	OnlyPassing    bool
	IgnoreCheckIDs []string
	Near           string
	// Tags must all match; a tag starting with "!" must not be present.
	Tags        []string
	NodeMeta    map[string]string
	ServiceMeta map[string]string
}

// QueryDNSOptions holds DNS settings of a prepared query.
type QueryDNSOptions struct {
	TTL string
}

// QueryTemplateOptions makes a prepared query a template matching names by
// prefix ("name_prefix_match") or regexp.
type QueryTemplateOptions struct {
	Type            string
	Regexp          string
	RemoveEmptyTags bool
}

// QueryTemplateTypeNamePrefixMatch is the template type matching by prefix.
const QueryTemplateTypeNamePrefixMatch = "name_prefix_match"

// PreparedQuery is a stored query.
type PreparedQuery struct {
	ID          string
	Name        string
	Session     string
	Token       string
	Template    QueryTemplateOptions
	Service     ServiceQuery
	DNS         QueryDNSOptions
	CreateIndex uint64
	ModifyIndex uint64
}

// PreparedQueries is a list of prepared queries.
type PreparedQueries []*PreparedQuery

// PreparedQueryOp names a prepared query write.
type PreparedQueryOp string

// Prepared query writes.
const (
	PreparedQueryCreate PreparedQueryOp = "create"
	PreparedQueryUpdate PreparedQueryOp = "update"
	PreparedQueryDelete PreparedQueryOp = "delete"
)

// PreparedQueryRequest creates, updates or deletes a prepared query.
type PreparedQueryRequest struct {
	Datacenter string
	Op         PreparedQueryOp
	Query      *PreparedQuery
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQuerySpecificRequest reads one prepared query by ID.
type PreparedQuerySpecificRequest struct {
	Datacenter string
	QueryID    string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQuerySpecificRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedPreparedQueries is the reply to PreparedQuery.Get and .List.
type IndexedPreparedQueries struct {
	Queries PreparedQueries
	QueryMeta
}

// PreparedQueryExecuteRequest runs a query by ID or name.
type PreparedQueryExecuteRequest struct {
	Datacenter    string
	QueryIDOrName string
	Limit         int
	Source        QuerySource
	Agent         QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryExecuteRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQueryExecuteRemoteRequest runs an already resolved query in a
// failover datacenter.
type PreparedQueryExecuteRemoteRequest struct {
	Datacenter string
	Query      PreparedQuery
	Limit      int
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *PreparedQueryExecuteRemoteRequest) RequestDatacenter() string { return r.Datacenter }

// PreparedQueryExecuteResponse is what a query found.
type PreparedQueryExecuteResponse struct {
	Service    string
	Nodes      CheckServiceNodes
	DNS        QueryDNSOptions
	Datacenter string
	Failovers  int
	QueryMeta
}

// PreparedQueryExplainResponse shows the query a name resolved to.
type PreparedQueryExplainResponse struct {
	Query PreparedQuery
	QueryMeta
}
