package structs

// Gossip keyring operations (Internal.KeyringOperation,
// /v1/operator/keyring).

// KeyringOp is one keyring operation.
type KeyringOp string

// Keyring operations, as Consul names them.
const (
	KeyringList    KeyringOp = "list"
	KeyringInstall KeyringOp = "install"
	KeyringUse     KeyringOp = "use"
	KeyringRemove  KeyringOp = "remove"
)

// KeyringRequest asks the servers to apply a keyring operation to the WAN
// pool and the LAN pool of every datacenter.
type KeyringRequest struct {
	Operation KeyringOp
	// Key is the base64 key (unused for list).
	Key        string
	Datacenter string
	// Forwarded marks a request another datacenter's server relayed: only
	// this datacenter's LAN pool is to be done (the WAN pool was done once
	// by the first server).
	Forwarded bool
	// RelayFactor is accepted as Consul's (0..5); answers are sent straight
	// back, never relayed.
	RelayFactor uint8
	// LocalOnly limits a list to this datacenter's LAN pool.
	LocalOnly bool
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *KeyringRequest) RequestDatacenter() string { return r.Datacenter }

// KeyringResponse is one pool's answer; the JSON names are the ones
// the official client's api.KeyringResponse decodes.
type KeyringResponse struct {
	WAN        bool
	Datacenter string
	Segment    string
	Partition  string            `json:",omitempty"`
	Messages   map[string]string `json:",omitempty"`
	// Keys counts the members holding each key, PrimaryKeys the members
	// using each as primary.
	Keys        map[string]int
	PrimaryKeys map[string]int
	NumNodes    int
	// Error is set when a member failed or did not answer.
	Error string `json:",omitempty"`
}

// KeyringResponses is the reply to Internal.KeyringOperation: one entry
// per pool (the WAN pool, then each datacenter's LAN pool).
type KeyringResponses struct {
	Responses []*KeyringResponse
	QueryMeta
}
