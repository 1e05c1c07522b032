package gossip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/structs"
)

// Internal queries: a request gossiped to every member of the pool (like a
// user event: Lamport time, deduplicated, rebroadcast), answered by each
// member's registered handler straight to the originator, which collects
// the answers until every member alive at the start has answered or the
// timeout passes. Only this package registers handlers (the keyring).

// ErrQuery is wrapped by the errors query returns for a refused query.
var ErrQuery = errors.New("gossip: query refused")

const (
	// querySizeLimit bounds a query's name and payload: it is gossiped and
	// must fit a UDP packet with other messages.
	querySizeLimit = 1024
	// queryResponseSizeLimit bounds one member's answer (sent over TCP).
	queryResponseSizeLimit = 8 * 1024
	// queryBufferSize is how many Lamport times of queries are remembered
	// to run each query once.
	queryBufferSize = 512
	// maxQueriesPerLTime bounds the query IDs remembered at one Lamport time.
	maxQueriesPerLTime = 64
	// maxPendingQueries bounds the queries this member waits on at once.
	maxPendingQueries = 64
	// maxResponders bounds the answers sent concurrently; past it a query
	// is left unanswered (the originator counts it as missing).
	maxResponders = 32
	// queryTimeoutMult is serf's QueryTimeoutMult.
	queryTimeoutMult = 16
	// minQueryTimeout and maxQueryTimeout bound the default timeout.
	minQueryTimeout = 500 * time.Millisecond
	maxQueryTimeout = 60 * time.Second
	// responseRetries is how many times an answer is sent before giving up.
	responseRetries = 3
)

type messageQueryReq struct {
	LTime   LamportTime
	ID      uint32
	From    string // originator's node name
	Addr    []byte // where the originator listens (its gossip TCP port)
	Port    uint16
	Name    string
	Payload []byte
	Timeout time.Duration // how long the originator waits
}

type messageQueryResp struct {
	LTime   LamportTime
	ID      uint32
	From    string // the answering member
	Payload []byte
}

// queryHandler answers a query's payload; it runs on its own goroutine.
type queryHandler func(payload []byte) []byte

type queryKey struct {
	ltime LamportTime
	id    uint32
}

// pendingQuery is a query this member sent and waits on.
type pendingQuery struct {
	expected map[string]bool // alive members when it was sent
	// missing counts the expected members that have not answered yet.
	missing   int
	responses map[string][]byte
	done      chan struct{}
	closed    bool
}

// queriesAt is the query IDs seen at one Lamport time.
type queriesAt struct {
	ltime LamportTime
	ids   []uint32
}

// queryState is a Pool's query machinery.
type queryState struct {
	clock     lamportClock
	broadcast *broadcastQueue
	respSem   chan struct{}

	mu       sync.Mutex // guards handlers, seen and pending
	handlers map[string]queryHandler
	seen     []*queriesAt
	pending  map[queryKey]*pendingQuery
}

// registerQueryHandler sets the handler of the queries named name.
func (p *Pool) registerQueryHandler(name string, h queryHandler) {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	p.q.handlers[name] = h
}

func (p *Pool) queryHandler(name string) (queryHandler, bool) {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	h, ok := p.q.handlers[name]
	return h, ok
}

func (p *Pool) initQueries(retransmitMult int) {
	p.q.clock.Increment()
	p.q.handlers = map[string]queryHandler{keyringQueryName: p.keyringQueryHandler}
	p.q.broadcast = newBroadcastQueue(p.NumMembers, retransmitMult)
	p.q.respSem = make(chan struct{}, maxResponders)
	p.q.seen = make([]*queriesAt, queryBufferSize)
	p.q.pending = map[queryKey]*pendingQuery{}
}

// defaultQueryTimeout is serf's: GossipInterval × QueryTimeoutMult ×
// ceil(log10(N+1)), bounded.
func (p *Pool) defaultQueryTimeout() time.Duration {
	n := p.NumMembers()
	mult := math.Ceil(math.Log10(float64(n + 1)))
	if mult < 1 {
		mult = 1
	}
	d := p.cfg.Memberlist.GossipInterval * queryTimeoutMult * time.Duration(mult)
	return min(max(d, minQueryTimeout), maxQueryTimeout)
}

// query sends an internal query to every member (this one included) and
// returns the answers by member name and how many members were alive when
// it was sent. It returns when all of those answered, the timeout (0 =
// default) passes or ctx ends; answers collected so far are returned
// (with ctx's error only when ctx ended).
func (p *Pool) query(ctx context.Context, name string, payload []byte, timeout time.Duration) (map[string][]byte, []string, error) {
	if len(name)+len(payload) > querySizeLimit {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrQuery, len(name)+len(payload), querySizeLimit)
	}
	handler, ok := p.queryHandler(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: no handler for %q", ErrQuery, name)
	}
	switch poolState(p.state.Load()) {
	case stateShutdown:
		return nil, nil, ErrShutdown
	case stateLeft:
		return nil, nil, ErrLeft
	}
	if timeout <= 0 {
		timeout = p.defaultQueryTimeout()
	}
	expected := p.aliveNames()
	local := p.ml.LocalNode()
	msg := &messageQueryReq{
		LTime: p.q.clock.Increment(), ID: rand.Uint32(), From: p.cfg.NodeName,
		Addr: local.Addr, Port: local.Port, Name: name, Payload: payload, Timeout: timeout,
	}
	raw, err := encodeMessage(messageQuery, msg)
	if err != nil {
		return nil, nil, err
	}
	key := queryKey{msg.LTime, msg.ID}
	pq := &pendingQuery{expected: map[string]bool{}, responses: map[string][]byte{}, done: make(chan struct{})}
	for _, n := range expected {
		pq.expected[n] = true
	}
	pq.missing = len(pq.expected)
	p.q.mu.Lock()
	if len(p.q.pending) >= maxPendingQueries {
		p.q.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: %d queries already in flight", ErrQuery, maxPendingQueries)
	}
	p.q.pending[key] = pq
	p.q.mu.Unlock()
	defer func() {
		p.q.mu.Lock()
		delete(p.q.pending, key)
		p.q.mu.Unlock()
	}()

	p.recordQuery(msg) // so our own query coming back is not run again
	p.q.broadcast.QueueBroadcast(&broadcast{msg: raw})
	// Our own answer, without the network.
	p.handleQueryResponse(&messageQueryResp{LTime: msg.LTime, ID: msg.ID, From: p.cfg.NodeName, Payload: handler(payload)})

	t := time.NewTimer(timeout)
	defer t.Stop()
	var waitErr error
	select {
	case <-pq.done:
	case <-t.C:
	case <-ctx.Done():
		waitErr = ctx.Err()
	case <-p.shutdownCh:
		waitErr = ErrShutdown
	}
	p.q.mu.Lock()
	out := make(map[string][]byte, len(pq.responses))
	for k, v := range pq.responses {
		out[k] = v
	}
	p.q.mu.Unlock()
	return out, expected, waitErr
}

// aliveNames lists the members that are alive, this one included.
func (p *Pool) aliveNames() []string {
	p.memberLock.RLock()
	defer p.memberLock.RUnlock()
	var out []string
	for name, ms := range p.members {
		if ms.member.Status == structs.StatusAlive || name == p.cfg.NodeName {
			out = append(out, name)
		}
	}
	return out
}

// recordQuery remembers a query; false means it was seen already, is too
// old to tell, or its Lamport time holds too many queries.
func (p *Pool) recordQuery(msg *messageQueryReq) bool {
	p.q.clock.Witness(msg.LTime)
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	cur := p.q.clock.Time()
	n := LamportTime(len(p.q.seen))
	if cur > n && msg.LTime < cur-n {
		return false
	}
	idx := msg.LTime % n
	slot := p.q.seen[idx]
	if slot == nil || slot.ltime != msg.LTime {
		slot = &queriesAt{ltime: msg.LTime}
		p.q.seen[idx] = slot
	}
	for _, id := range slot.ids {
		if id == msg.ID {
			return false
		}
	}
	if len(slot.ids) >= maxQueriesPerLTime {
		return false
	}
	slot.ids = append(slot.ids, msg.ID)
	return true
}

// handleQuery runs a gossiped query once and answers it; true means
// rebroadcast it.
func (p *Pool) handleQuery(msg *messageQueryReq) bool {
	if len(msg.Name)+len(msg.Payload) > querySizeLimit {
		p.logger.Warn("dropping oversized query", "name", msg.Name)
		return false
	}
	if !p.recordQuery(msg) {
		return false
	}
	if msg.From == p.cfg.NodeName {
		return true
	}
	handler, ok := p.queryHandler(msg.Name)
	if !ok {
		p.logger.Debug("query without handler", "name", msg.Name, "from", msg.From)
		return true
	}
	if poolState(p.state.Load()) != stateAlive {
		return true
	}
	select {
	case p.q.respSem <- struct{}{}:
	default:
		p.logger.Warn("too many queries being answered; not answering", "name", msg.Name, "from", msg.From)
		return true
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.q.respSem }()
		p.answerQuery(msg, handler(msg.Payload))
	}()
	return true
}

// answerQuery sends an answer to the originator. It goes over memberlist's
// reliable (TCP) channel to the originator's gossip port, encrypted with
// the keyring like all gossip: an answer must not be lost to a UDP drop
// (the originator would count a member as missing) and may be larger than
// a packet. A failed send is retried a few times, never past the
// originator's timeout.
func (p *Pool) answerQuery(msg *messageQueryReq, payload []byte) {
	if len(payload) > queryResponseSizeLimit {
		p.logger.Warn("query answer too large; not sent", "name", msg.Name, "size", len(payload))
		return
	}
	raw, err := encodeMessage(messageQueryResponse, &messageQueryResp{LTime: msg.LTime, ID: msg.ID, From: p.cfg.NodeName, Payload: payload})
	if err != nil {
		p.logger.Warn("encoding query answer", "error", err)
		return
	}
	to := &memberlist.Node{Name: msg.From, Addr: net.IP(msg.Addr), Port: msg.Port}
	deadline := time.Now().Add(min(msg.Timeout, maxQueryTimeout))
	for attempt := 0; attempt < responseRetries; attempt++ {
		if err = p.ml.SendReliable(to, raw); err == nil {
			return
		}
		wait := time.Duration(attempt+1) * 100 * time.Millisecond
		if time.Now().Add(wait).After(deadline) {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.shutdownCh:
			t.Stop()
			return
		}
	}
	p.logger.Warn("could not answer query", "name", msg.Name, "to", msg.From, "error", err)
}

// handleQueryResponse records an answer to a query this member waits on.
func (p *Pool) handleQueryResponse(msg *messageQueryResp) {
	p.q.mu.Lock()
	defer p.q.mu.Unlock()
	pq, ok := p.q.pending[queryKey{msg.LTime, msg.ID}]
	if !ok || pq.closed {
		return
	}
	if _, dup := pq.responses[msg.From]; dup {
		return
	}
	// Members that joined after the query was sent may answer too, within
	// a bound.
	if !pq.expected[msg.From] && len(pq.responses) >= 2*len(pq.expected)+16 {
		return
	}
	pq.responses[msg.From] = msg.Payload
	if pq.expected[msg.From] {
		pq.missing--
	}
	if pq.missing > 0 {
		return
	}
	pq.closed = true
	close(pq.done)
}
