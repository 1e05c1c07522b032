package gossip

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/coordinate"

	"consulate/structs"
)

// Errors returned by Pool methods; decide with errors.Is.
var (
	ErrJoinFailed     = errors.New("gossip: join failed")
	ErrUnknownMember  = errors.New("gossip: unknown member")
	ErrShutdown       = errors.New("gossip: pool is shut down")
	ErrLeft           = errors.New("gossip: pool has left the cluster")
	ErrLeaveInProcess = errors.New("gossip: leave already in progress")
	ErrUserEventLarge = errors.New("gossip: user event exceeds the size limit")
)

// NodeIDConflictError refuses a merge in which two live members of different
// names carry the same node ID.
type NodeIDConflictError struct {
	Member string // the member carrying the duplicate ID
	ID     string
	Other  string // the member already owning the ID; "" means this agent
}

func (e *NodeIDConflictError) Error() string {
	if e.Other == "" {
		return fmt.Sprintf("Member '%s' has conflicting node ID '%s' with this agent's ID", e.Member, e.ID)
	}
	return fmt.Sprintf("Member '%s' has conflicting node ID '%s' with member '%s'", e.Member, e.ID, e.Other)
}

// poolState is this agent's own life cycle.
type poolState int32

const (
	stateAlive poolState = iota
	stateLeaving
	stateLeft
	stateShutdown
)

// recentIntentTimeout is how long an intent about an unknown node is kept,
// waiting for memberlist to tell us about the node.
const (
	recentIntentTimeout = 5 * time.Minute
	recentIntentMax     = 4096
)

// memberState is a member plus what the Lamport ordering needs.
type memberState struct {
	member      structs.Member
	statusLTime LamportTime // time of the last join/leave intent applied
	leaveTime   time.Time   // when it became failed or left
}

type nodeIntent struct {
	typ      messageType
	ltime    LamportTime
	wallTime time.Time
}

// Pool is one gossip pool: the members memberlist finds, with serf's life
// cycle and Lamport-ordered intents on top.
type Pool struct {
	cfg    Config
	logger *slog.Logger
	ml     *memberlist.Memberlist
	now    func() time.Time

	clock      lamportClock // member intents
	eventClock lamportClock // user events

	memberLock    sync.RWMutex // guards members and recentIntents
	members       map[string]*memberState
	recentIntents map[string]nodeIntent

	eventLock    sync.Mutex // guards eventBuffer and eventMinTime
	eventBuffer  []*userEventsAt
	eventMinTime LamportTime

	tagLock sync.RWMutex // guards tags and meta
	tags    map[string]string
	meta    []byte

	state atomic.Int32 // poolState

	joinLock     sync.Mutex // one Join at a time; guards joinMergeErr
	joining      atomic.Bool
	ignoreOld    atomic.Bool
	mergeErrLock sync.Mutex
	joinMergeErr error

	intents        *broadcastQueue
	userBroadcasts *broadcastQueue
	events         *eventQueue

	coordClient *coordinate.Client
	coordLock   sync.RWMutex // guards coordCache
	coordCache  map[string]*coordinate.Coordinate

	snap     *snapshotter
	previous []PreviousMember

	q queryState // internal queries (query.go)
	// keyring is memberlist's keyring (empty when gossip is not
	// encrypted); keyringLock serializes its changes and their saving.
	keyring     *memberlist.Keyring
	keyringLock sync.Mutex

	shutdownCh   chan struct{}
	shutdownOnce sync.Once
	wg           sync.WaitGroup
}

// New validates cfg, starts memberlist on the configured address and the
// pool's background loops. It does not join anyone: call Join.
func New(cfg *Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := newPool(withDefaults(*cfg))
	if err != nil {
		return nil, err
	}
	if err := p.restoreSnapshot(); err != nil {
		return nil, err
	}
	if err := p.startCoordinates(); err != nil {
		return nil, err
	}
	mc, err := p.memberlistConfig()
	if err != nil {
		return nil, err
	}
	p.intents = newBroadcastQueue(p.NumMembers, mc.RetransmitMult)
	p.userBroadcasts = newBroadcastQueue(p.NumMembers, mc.RetransmitMult)
	p.initQueries(mc.RetransmitMult)
	p.startEventQueue()
	// From here on a failure must stop the event queue again.
	if err := p.createMemberlist(mc); err != nil {
		return nil, err
	}
	// Our own join intent, so our status has a Lamport time.
	p.handleNodeJoinIntent(&messageJoinIntent{LTime: p.clock.Time(), Node: p.cfg.NodeName})
	p.startLoops()
	p.logger.Info("gossip pool started", "node", p.cfg.NodeName, "addr", p.ml.LocalNode().Address(),
		"encrypted", p.EncryptionEnabled())
	return p, nil
}

// withDefaults fills what a valid Config may leave empty, as each field's
// comment says; the tags are copied so the caller's map is not shared.
func withDefaults(c Config) Config {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Component == "" {
		c.Component = "gossip"
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	c.Tags = maps.Clone(c.Tags)
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	return c
}

// newPool builds a Pool from a filled Config, with its event queue and
// clocks; it starts nothing.
func newPool(c Config) (*Pool, error) {
	meta, err := encodeTags(c.Tags)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:           c,
		logger:        c.Logger.With("component", c.Component),
		now:           c.Clock,
		members:       map[string]*memberState{},
		recentIntents: map[string]nodeIntent{},
		eventBuffer:   make([]*userEventsAt, c.UserEventBuffer),
		tags:          c.Tags,
		meta:          meta,
		coordCache:    map[string]*coordinate.Coordinate{},
		shutdownCh:    make(chan struct{}),
	}
	p.events = newEventQueue(c.EventBuffer, p.logger)

	// Clocks start at 1 so that 0 means "never".
	p.clock.Increment()
	p.eventClock.Increment()
	return p, nil
}

// startCoordinates creates the Vivaldi client unless coordinates are
// disabled.
func (p *Pool) startCoordinates() error {
	if p.cfg.DisableCoordinates {
		return nil
	}
	cc, err := coordinate.NewClient(coordinate.DefaultConfig())
	if err != nil {
		return fmt.Errorf("gossip: coordinate client: %w", err)
	}
	p.coordClient = cc
	return nil
}

// memberlistConfig copies cfg.Memberlist and fills in this pool's name,
// addresses, keyring, delegates and logger.
func (p *Pool) memberlistConfig() (*memberlist.Config, error) {
	c := &p.cfg
	mc := *c.Memberlist
	mc.Name = c.NodeName
	mc.BindAddr = c.BindAddr
	mc.BindPort = c.BindPort
	mc.AdvertiseAddr = c.AdvertiseAddr
	mc.AdvertisePort = c.AdvertisePort
	// Always a keyring, empty when gossip is not encrypted (memberlist then
	// sends and accepts plaintext): keyring operations can install a key
	// into it while encrypt_verify_outgoing is off, the documented way to
	// turn encryption on in a running cluster.
	kr, err := memberlist.NewKeyring(c.Keys, c.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("gossip: keyring: %w", err)
	}
	mc.Keyring = kr
	mc.SecretKey = nil
	p.keyring = kr
	mc.GossipVerifyIncoming = !c.DisableVerifyIncoming
	mc.GossipVerifyOutgoing = !c.DisableVerifyOutgoing
	mc.Delegate = &delegate{p}
	mc.Events = &eventDelegate{p}
	mc.Conflict = &conflictDelegate{p}
	mc.Merge = &mergeDelegate{p}
	mc.Alive = &aliveDelegate{p}
	if p.coordClient != nil {
		mc.Ping = &pingDelegate{p}
	} else {
		mc.Ping = nil
	}
	mc.LogOutput = nil
	mc.Logger = log.New(&memberlistLogWriter{logger: p.logger}, "", 0)
	return &mc, nil
}

// startEventQueue starts the goroutine that delivers events to Events().
func (p *Pool) startEventQueue() {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.events.run(p.shutdownCh)
	}()
}

// stopEventQueue undoes startEventQueue when New fails after it.
func (p *Pool) stopEventQueue() {
	close(p.shutdownCh)
	p.wg.Wait()
}

// createMemberlist starts memberlist with mc: on a transport bound to the
// bind IP when one is given (so it dials out from it too), else on
// memberlist's own. On failure it shuts down what it started and stops the
// event queue.
func (p *Pool) createMemberlist(mc *memberlist.Config) error {
	c := &p.cfg
	if ip := net.ParseIP(c.BindAddr); ip != nil && !ip.IsUnspecified() && c.BindPort != 0 {
		bt, err := newBoundTransport(mc, ip, c.BindPort)
		if err != nil {
			p.stopEventQueue()
			return fmt.Errorf("gossip: start memberlist on %s:%d: %w", c.BindAddr, c.BindPort, err)
		}
		mc.Transport = bt
	}
	if c.WrapTransport != nil {
		if mc.Transport == nil {
			// memberlist would build this one itself; built here so that
			// it can be wrapped.
			nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
				BindAddrs: []string{mc.BindAddr}, BindPort: mc.BindPort,
				Logger: mc.Logger, MetricLabels: mc.MetricLabels,
			})
			if err != nil {
				p.stopEventQueue()
				return fmt.Errorf("gossip: start memberlist on %s:%d: %w", c.BindAddr, c.BindPort, err)
			}
			if mc.BindPort == 0 {
				mc.BindPort = nt.GetAutoBindPort()
				mc.AdvertisePort = mc.BindPort
			}
			mc.Transport = nt
		}
		base, ok := mc.Transport.(memberlist.NodeAwareTransport)
		if !ok {
			_ = mc.Transport.Shutdown()
			p.stopEventQueue()
			return fmt.Errorf("gossip: transport %T is not node aware", mc.Transport)
		}
		mc.Transport = c.WrapTransport(base)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		if mc.Transport != nil {
			_ = mc.Transport.Shutdown()
		}
		p.stopEventQueue()
		return fmt.Errorf("gossip: start memberlist on %s:%d: %w", c.BindAddr, c.BindPort, err)
	}
	p.ml = ml
	return nil
}

// startLoops starts reconnecting, reaping and, with a snapshot, saving it
// (and saves it once now).
func (p *Pool) startLoops() {
	p.wg.Add(2)
	go p.reconnectLoop()
	go p.reapLoop()
	if p.snap != nil {
		p.wg.Add(1)
		go p.snapshotLoop()
		p.snapshotChanged()
	}
}

// Memberlist exposes the underlying memberlist (for keyring management and
// diagnostics). Do not call Leave or Shutdown on it directly.
func (p *Pool) Memberlist() *memberlist.Memberlist { return p.ml }

// Events returns the channel of membership and user events. It is closed
// after Shutdown. Events that find the buffer full are dropped with a warning.
func (p *Pool) Events() <-chan Event { return p.events.out }

// LocalName is this member's name.
func (p *Pool) LocalName() string { return p.cfg.NodeName }

// EncryptionEnabled reports whether gossip is encrypted.
func (p *Pool) EncryptionEnabled() bool {
	return p.keyring != nil && len(p.keyring.GetPrimaryKey()) > 0
}

// Join contacts each address ("host:port", "host" for the bind port, or
// "name/host:port") and merges state with those that answer. It returns how
// many answered; when none did the error wraps ErrJoinFailed and says why
// (a *NodeIDConflictError or MergeCheck error is wrapped when that was the
// cause). ignoreOld skips user events that happened before the join.
func (p *Pool) Join(addrs []string, ignoreOld bool) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no addresses given", ErrJoinFailed)
	}
	switch poolState(p.state.Load()) {
	case stateShutdown:
		return 0, ErrShutdown
	case stateLeaving, stateLeft:
		return 0, ErrLeft
	}
	p.joinLock.Lock()
	defer p.joinLock.Unlock()
	if ignoreOld {
		p.ignoreOld.Store(true)
		defer p.ignoreOld.Store(false)
	}
	p.mergeErrLock.Lock()
	p.joinMergeErr = nil
	p.mergeErrLock.Unlock()
	p.joining.Store(true)
	n, err := p.ml.Join(addrs)
	p.joining.Store(false)
	if n > 0 {
		p.broadcastJoin(p.clock.Time())
		p.logger.Info("joined gossip pool", "contacted", n, "addresses", addrs)
		return n, nil
	}
	p.mergeErrLock.Lock()
	mergeErr := p.joinMergeErr
	p.mergeErrLock.Unlock()
	if mergeErr != nil {
		return 0, fmt.Errorf("%w: %w", ErrJoinFailed, mergeErr)
	}
	if err == nil {
		err = errors.New("no address answered")
	}
	return 0, fmt.Errorf("%w: none of %d address(es) answered: %v", ErrJoinFailed, len(addrs), err)
}

// Leave gracefully leaves the pool: it gossips a leave intent, waits
// (bounded by BroadcastTimeout and ctx) for it to spread, leaves memberlist
// and waits LeavePropagateDelay. Calling it again after it finished is a no-op.
func (p *Pool) Leave(ctx context.Context) error {
	if !p.state.CompareAndSwap(int32(stateAlive), int32(stateLeaving)) {
		switch poolState(p.state.Load()) {
		case stateLeft:
			return nil
		case stateLeaving:
			return ErrLeaveInProcess
		default:
			return ErrShutdown
		}
	}
	p.logger.Info("leaving gossip pool", "node", p.cfg.NodeName)
	msg := &messageLeaveIntent{LTime: p.clock.Increment(), Node: p.cfg.NodeName}
	p.handleNodeLeaveIntent(msg)
	others := p.hasAliveOthers()
	if err := p.queueIntent(ctx, msg.Node, msg.LTime, messageLeave, msg, others); err != nil {
		p.logger.Warn("could not broadcast leave intent", "error", err)
	}

	var leaveErr error
	if err := p.ml.Leave(p.cfg.BroadcastTimeout); err != nil {
		leaveErr = fmt.Errorf("gossip: memberlist leave: %w", err)
	}
	if others && p.cfg.LeavePropagateDelay > 0 {
		t := time.NewTimer(p.cfg.LeavePropagateDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	p.memberLock.Lock()
	if ms, ok := p.members[p.cfg.NodeName]; ok {
		ms.member.Status = structs.StatusLeft
	}
	p.memberLock.Unlock()
	p.state.CompareAndSwap(int32(stateLeaving), int32(stateLeft))
	if p.snap != nil {
		p.snap.markLeft()
		p.snapshotChanged()
	}
	p.logger.Info("left gossip pool", "node", p.cfg.NodeName)
	if leaveErr == nil {
		leaveErr = ctx.Err()
	}
	return leaveErr
}

// ForceLeave marks a member as left (it must be known); prune also removes
// it from the member list at once instead of after TombstoneTimeout. The
// intent is gossiped; ForceLeave waits at most BroadcastTimeout for that.
func (p *Pool) ForceLeave(node string, prune bool) error {
	if node == "" {
		return fmt.Errorf("%w: empty node name", ErrUnknownMember)
	}
	if poolState(p.state.Load()) == stateShutdown {
		return ErrShutdown
	}
	p.memberLock.RLock()
	_, ok := p.members[node]
	p.memberLock.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownMember, node)
	}
	msg := &messageLeaveIntent{LTime: p.clock.Increment(), Node: node, Prune: prune}
	p.handleNodeLeaveIntent(msg)
	p.logger.Info("force-leave", "node", node, "prune", prune)
	return p.queueIntent(context.Background(), node, msg.LTime, messageLeave, msg, p.hasAliveOthers())
}

// UpdateTags replaces this member's tags and gossips them.
func (p *Pool) UpdateTags(tags map[string]string) error {
	meta, err := encodeTags(tags)
	if err != nil {
		return err
	}
	if poolState(p.state.Load()) == stateShutdown {
		return ErrShutdown
	}
	p.tagLock.Lock()
	p.tags = maps.Clone(tags)
	if p.tags == nil {
		p.tags = map[string]string{}
	}
	p.meta = meta
	p.tagLock.Unlock()
	if err := p.ml.UpdateNode(p.cfg.BroadcastTimeout); err != nil {
		return fmt.Errorf("gossip: update tags: %w", err)
	}
	return nil
}

// Tags returns a copy of this member's tags.
func (p *Pool) Tags() map[string]string {
	p.tagLock.RLock()
	defer p.tagLock.RUnlock()
	return maps.Clone(p.tags)
}

// Members returns every known member, including failed and left ones until
// they are reaped.
func (p *Pool) Members() []structs.Member {
	p.memberLock.RLock()
	defer p.memberLock.RUnlock()
	out := make([]structs.Member, 0, len(p.members))
	for _, ms := range p.members {
		out = append(out, copyMember(ms.member))
	}
	return out
}

// LocalMember returns this agent's own member entry.
func (p *Pool) LocalMember() structs.Member {
	p.memberLock.RLock()
	defer p.memberLock.RUnlock()
	if ms, ok := p.members[p.cfg.NodeName]; ok {
		return copyMember(ms.member)
	}
	// Before memberlist reported us (only during New).
	return structs.Member{Name: p.cfg.NodeName, Tags: p.Tags(), Status: structs.StatusAlive}
}

// NumMembers is the number of known members, in any state.
func (p *Pool) NumMembers() int {
	p.memberLock.RLock()
	defer p.memberLock.RUnlock()
	return len(p.members)
}

// Stats reports counters in the shape of `consul info`'s serf section.
func (p *Pool) Stats() map[string]string {
	p.memberLock.RLock()
	var failed, left int
	for _, ms := range p.members {
		switch ms.member.Status {
		case structs.StatusFailed:
			failed++
		case structs.StatusLeft:
			left++
		}
	}
	total := len(p.members)
	p.memberLock.RUnlock()
	return map[string]string{
		"members":      strconv.Itoa(total),
		"failed":       strconv.Itoa(failed),
		"left":         strconv.Itoa(left),
		"health_score": strconv.Itoa(p.ml.GetHealthScore()),
		"member_time":  strconv.FormatUint(uint64(p.clock.Time()), 10),
		"event_time":   strconv.FormatUint(uint64(p.eventClock.Time()), 10),
		"intent_queue": strconv.Itoa(p.intents.NumQueued()),
		"event_queue":  strconv.Itoa(p.userBroadcasts.NumQueued()),
		"encrypted":    strconv.FormatBool(p.EncryptionEnabled()),
	}
}

// Shutdown stops memberlist and the pool's goroutines without leaving (the
// others will see this member fail). It is idempotent and waits, bounded by
// ctx, for the goroutines to end.
func (p *Pool) Shutdown(ctx context.Context) error {
	var err error
	p.shutdownOnce.Do(func() {
		if prev := poolState(p.state.Swap(int32(stateShutdown))); prev != stateLeft {
			p.logger.Warn("shutting down gossip pool without leaving", "node", p.cfg.NodeName)
		}
		close(p.shutdownCh)
		if e := p.ml.Shutdown(); e != nil {
			err = fmt.Errorf("gossip: memberlist shutdown: %w", e)
		}
	})
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("gossip: shutdown: %w", ctx.Err())
	}
	if p.snap != nil {
		if e := p.snap.write(p.snapshotContent()); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// hasAliveOthers reports whether any other member could hear a broadcast.
func (p *Pool) hasAliveOthers() bool {
	p.memberLock.RLock()
	defer p.memberLock.RUnlock()
	for name, ms := range p.members {
		if name != p.cfg.NodeName && (ms.member.Status == structs.StatusAlive || ms.member.Status == structs.StatusLeaving) {
			return true
		}
	}
	return false
}

// queueIntent gossips an intent; with wait it blocks until memberlist is
// done transmitting it or BroadcastTimeout passes.
func (p *Pool) queueIntent(ctx context.Context, node string, ltime LamportTime, t messageType, msg any, wait bool) error {
	raw, err := encodeMessage(t, msg)
	if err != nil {
		return err
	}
	b := &broadcast{node: node, ltime: ltime, msg: raw}
	if wait {
		b.notify = make(chan struct{})
	}
	p.logger.Debug("queued intent", "node", node, "ltime", ltime, "type", t)
	p.intents.QueueBroadcast(b)
	if !wait {
		return nil
	}
	t0 := time.NewTimer(p.cfg.BroadcastTimeout)
	defer t0.Stop()
	select {
	case <-b.notify:
		return nil
	case <-t0.C:
		return nil // best effort: gossip keeps going without us waiting
	case <-p.shutdownCh:
		return ErrShutdown
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) broadcastJoin(ltime LamportTime) {
	msg := &messageJoinIntent{LTime: ltime, Node: p.cfg.NodeName}
	p.handleNodeJoinIntent(msg)
	if err := p.queueIntent(context.Background(), msg.Node, msg.LTime, messageJoin, msg, false); err != nil {
		p.logger.Warn("could not broadcast join intent", "error", err)
	}
}

func copyMember(m structs.Member) structs.Member {
	m.Tags = maps.Clone(m.Tags)
	return m
}
