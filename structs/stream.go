package structs

import "errors"

// MethodSubscribeServiceHealth is a streaming method: the caller sends one
// SubscribeRequest and the server answers with a sequence of
// ServiceHealthEvent frames (a snapshot, then changes) until either side
// ends it. Client agents keep live views of the services they are asked
// about from it (Consul's streaming backend, use_streaming_backend).
const MethodSubscribeServiceHealth Method = "Subscribe.ServiceHealth"

// IsStreamMethod reports whether method answers with a stream of frames
// instead of one reply.
func IsStreamMethod(method Method) bool { return method == MethodSubscribeServiceHealth }

// ErrSubscriptionClosed ends a subscription the server will not keep
// going (its state was restored from a snapshot, its leader changed, it
// lost contact with the leader, or it is shutting down). The subscriber
// drops what it holds as no longer known fresh and subscribes again,
// possibly to another server.
var ErrSubscriptionClosed = errors.New("subscription closed by server, resubscribe")

// CodeSubscriptionClosed carries ErrSubscriptionClosed across the wire.
const CodeSubscriptionClosed = "subscription-closed"

// SubscribeRequest asks for the health of every instance of one service
// in one datacenter ("" is the local one), as Health.ServiceNodes would
// read it with no filter; the subscriber filters (tags, node meta, near,
// passing) on its side. The token's rights filter the stream as they
// filter that read.
type SubscribeRequest struct {
	Datacenter  string
	ServiceName string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *SubscribeRequest) RequestDatacenter() string { return r.Datacenter }

// ServiceInstanceID names one instance of a service: the node it runs on
// and its service ID there.
type ServiceInstanceID struct {
	Node      string
	ServiceID string
}

// ServiceHealthEvent is one frame of a MethodSubscribeServiceHealth
// stream. The first frame of every stream is a snapshot; each later
// frame is a delta that moves the view to Index.
//
// A frame with nothing in it is a heartbeat: no Nodes, no Deleted,
// Snapshot false, and Index (and ResultsFilteredByACLs) as the last
// frame left them. The server sends one whenever it has sent nothing for
// its subscription heartbeat interval (half a second by default), also
// through a relay from another datacenter, so that a subscriber hearing
// nothing for a few intervals knows the stream is dead even when the
// connection under it has not broken (a cut network).
type ServiceHealthEvent struct {
	// Index is the index the view reaches with this frame: exactly the
	// X-Consul-Index Health.ServiceNodes would return for the service
	// at the same state.
	Index uint64
	// Snapshot means Nodes is the whole set of instances (the view is
	// replaced by it); otherwise Nodes are instances added or changed
	// and Deleted the instances gone.
	Snapshot bool
	Nodes    CheckServiceNodes
	Deleted  []ServiceInstanceID
	// ResultsFilteredByACLs is set when the token's rights hid
	// instances from this frame's state.
	ResultsFilteredByACLs bool
}
