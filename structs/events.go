package structs

// User events: fired through the servers, carried by LAN gossip.

// UserEvent is a user event as /v1/event/list shows it.
type UserEvent struct {
	ID            string
	Name          string
	Payload       []byte
	NodeFilter    string
	ServiceFilter string
	TagFilter     string
	Version       int
	LTime         uint64
}

// EventFireRequest fires a user event in a datacenter.
type EventFireRequest struct {
	Datacenter string
	Name       string
	Payload    []byte
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *EventFireRequest) RequestDatacenter() string { return r.Datacenter }

// EventFireResponse is the reply to Internal.EventFire.
type EventFireResponse struct {
	QueryMeta
}
