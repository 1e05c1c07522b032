package userevent

import (
	"log/slog"

	"consulate/structs"
)

// InboxConfig configures an Inbox.
type InboxConfig struct {
	// NodeName is this agent's node name, for node filters.
	NodeName string
	// Services lists this agent's services, for service and tag filters;
	// nil means none.
	Services func() map[string]*structs.NodeService
	// Size bounds the ring; 0 means DefaultRingSize.
	Size int
	// OnEvent, if set, is called after each event that passed the filters
	// (a duplicate included), to wake blocking readers.
	OnEvent func()
	// Deliver, if set, is called with each new event that passed the
	// filters (not with duplicates), after it is kept: the agent's
	// handlers of internal events (remote exec) hang here. It must not
	// block.
	Deliver func(*structs.UserEvent)
	// Logger; nil discards.
	Logger *slog.Logger
}

// Inbox is where an agent's received gossip user events go: unwrapped,
// filtered, and kept in a Ring. It is safe for concurrent use.
type Inbox struct {
	cfg  InboxConfig
	ring *Ring
}

// NewInbox builds an empty Inbox.
func NewInbox(cfg InboxConfig) *Inbox {
	if cfg.Size <= 0 {
		cfg.Size = DefaultRingSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Inbox{cfg: cfg, ring: NewRing(cfg.Size)}
}

// Handle unwraps a received gossip user event and keeps it if its filters
// match this agent. A bad envelope is logged and dropped.
func (in *Inbox) Handle(u *structs.UserEvent) {
	if u == nil {
		return
	}
	ev, err := Unwrap(u)
	if err != nil {
		in.cfg.Logger.Warn("dropping user event with a bad envelope", "name", u.Name)
		return
	}
	var services map[string]*structs.NodeService
	if in.cfg.Services != nil && ev.ServiceFilter != "" {
		services = in.cfg.Services()
	}
	if !Matches(ev, in.cfg.NodeName, services) {
		return
	}
	in.cfg.Logger.Info("user event", "name", ev.Name, "id", ev.ID)
	if in.ring.Add(ev) && in.cfg.Deliver != nil {
		in.cfg.Deliver(ev)
	}
	if in.cfg.OnEvent != nil {
		in.cfg.OnEvent()
	}
}

// List returns the kept events, oldest first.
func (in *Inbox) List() []*structs.UserEvent { return in.ring.List() }
