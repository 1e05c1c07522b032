package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/consul/api"
)

// Record is one operation of the history with where it went.
type Record struct {
	Client int
	Agent  string // the agent's bind address
	Input  Input
	Output Output
	Call   time.Duration // since the workload's start
	Return time.Duration // math.MaxInt64 for an unknown write
	Err    error
}

// OK reports whether the operation got an answer (a CAS that answered
// false counts: the agent answered).
func (r Record) OK() bool { return r.Err == nil }

// Write reports whether the operation was a put or a CAS.
func (r Record) Write() bool { return r.Input.Kind != OpGet }

// WorkloadConfig shapes the clients.
type WorkloadConfig struct {
	// Agents are the HTTP addresses' IPs (port 8500) the clients spread over.
	Agents []string
	// Clients is how many run at once (default 6).
	Clients int
	// OpTimeout bounds one HTTP call (default 2.5 s).
	OpTimeout time.Duration
	// Pause is each client's pause between operations (default 20 ms).
	Pause time.Duration
	// Seed makes the choices of agent and operation reproducible.
	Seed uint64
}

// Workload is six clients doing KV put, CAS and ?consistent get through
// every agent, each on the keys of the current round.
type Workload struct {
	cfg   WorkloadConfig
	start time.Time

	// mu guards history, keys and round.
	mu      sync.Mutex
	history []Record
	keys    []string

	kvs      [][]*api.KV // per client, per agent
	inflight atomic.Int64
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// NewWorkload prepares the clients; Start runs them.
func NewWorkload(cfg WorkloadConfig) (*Workload, error) {
	if len(cfg.Agents) == 0 {
		return nil, errors.New("chaos: the workload needs at least one agent")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 6
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2500 * time.Millisecond
	}
	if cfg.Pause <= 0 {
		cfg.Pause = 20 * time.Millisecond
	}
	w := &Workload{cfg: cfg, start: time.Now()}
	for range cfg.Clients {
		kvs := make([]*api.KV, len(cfg.Agents))
		for i, ip := range cfg.Agents {
			kv, err := NewKVClient(ip)
			if err != nil {
				return nil, fmt.Errorf("chaos: client for %s: %w", ip, err)
			}
			kvs[i] = kv
		}
		w.kvs = append(w.kvs, kvs)
	}
	return w, nil
}

// Since is the workload clock: time since the workload was made.
func (w *Workload) Since() time.Duration { return time.Since(w.start) }

// SetKeys moves the clients to a new set of keys (one round per fault keeps
// each key's history short for the checker).
func (w *Workload) SetKeys(keys []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys = append([]string(nil), keys...)
}

// Start runs the clients until Stop.
func (w *Workload) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for i := 0; i < w.cfg.Clients; i++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.client(ctx, i)
		}()
	}
}

// Stop ends the clients and waits for their last operations (bounded by
// OpTimeout).
func (w *Workload) Stop() {
	if w.cancel != nil {
		w.cancel()
	}
	w.wg.Wait()
}

// Idle reports whether no operation is in flight.
func (w *Workload) Idle() bool { return w.inflight.Load() == 0 }

// History returns a copy of every operation recorded so far.
func (w *Workload) History() []Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Record(nil), w.history...)
}

func (w *Workload) record(r Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.history = append(w.history, r)
}

// Record adds an operation made outside the clients (the final reads).
func (w *Workload) Record(r Record) { w.record(r) }

func (w *Workload) currentKeys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.keys
}

// NewKVClient is a client of one agent with short timeouts: dial 1 s, and
// the caller's context bounds each call.
func NewKVClient(ip string) (*api.KV, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	cfg := api.DefaultConfig()
	cfg.Address = ip + ":8500"
	cfg.HttpClient = &http.Client{Transport: tr}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return c.KV(), nil
}

func (w *Workload) client(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(w.cfg.Seed, uint64(id)+1))
	kvs := w.kvs[id]
	seq := 0
	for ctx.Err() == nil {
		// In flight before the keys are read, so that Idle after
		// SetKeys(nil) means no operation on the old keys is left.
		w.inflight.Add(1)
		keys := w.currentKeys()
		if len(keys) == 0 {
			w.inflight.Add(-1)
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.cfg.Pause):
			}
			continue
		}
		ai := rng.IntN(len(kvs))
		key := keys[rng.IntN(len(keys))]
		seq++
		val := fmt.Sprintf("c%d-%d", id, seq)
		switch p := rng.IntN(10); {
		case p < 4:
			w.put(ctx, id, ai, kvs[ai], key, val)
		case p < 7:
			w.get(ctx, id, ai, kvs[ai], key)
		default:
			// Read the version, then CAS on it (often through another agent).
			if pair, ok := w.get(ctx, id, ai, kvs[ai], key); ok {
				bi := rng.IntN(len(kvs))
				w.cas(ctx, id, bi, kvs[bi], key, val, pair)
			}
		}
		w.inflight.Add(-1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.cfg.Pause):
		}
	}
}

// neverApplied reports answers that say a write was not applied: nothing
// listened (connection refused), or the agent answered "No cluster
// leader" (the write reached no leader) or "No known Consul servers" (a
// client agent found no server that took it: it moves a write on to the
// next server only when the last one surely never got it). Were either
// ever untrue for a write that did apply, the checker would see its value
// appear from nowhere and fail the history, so trusting them here can
// hide no bug.
func neverApplied(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code == 500 && (strings.HasPrefix(se.Body, "No cluster leader") || strings.HasPrefix(se.Body, "No known Consul servers"))
	}
	return false
}

func (w *Workload) put(ctx context.Context, id, ai int, kv *api.KV, key, val string) {
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	defer cancel()
	r := Record{Client: id, Agent: w.cfg.Agents[ai], Input: Input{Kind: OpPut, Key: key, Value: val}, Call: w.Since()}
	_, err := kv.Put(&api.KVPair{Key: key, Value: []byte(val)}, (&api.WriteOptions{}).WithContext(octx))
	w.finishWrite(r, err, false)
}

func (w *Workload) cas(ctx context.Context, id, ai int, kv *api.KV, key, val string, read *api.KVPair) {
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	defer cancel()
	in := Input{Kind: OpCAS, Key: key, Value: val}
	var index uint64
	if read != nil {
		in.ExpectFound, in.Expect, index = true, string(read.Value), read.ModifyIndex
	}
	r := Record{Client: id, Agent: w.cfg.Agents[ai], Input: in, Call: w.Since()}
	ok, _, err := kv.CAS(&api.KVPair{Key: key, Value: []byte(val), ModifyIndex: index}, (&api.WriteOptions{}).WithContext(octx))
	w.finishWrite(r, err, ok)
}

func (w *Workload) finishWrite(r Record, err error, ok bool) {
	r.Return = w.Since()
	if err != nil {
		if neverApplied(err) {
			return // surely not applied: not part of the history
		}
		r.Err = err
		r.Output = Output{Unknown: true}
		w.record(r)
		return
	}
	r.Output = Output{OK: ok}
	w.record(r)
}

// get reads key with ?consistent. It returns the pair (nil when absent) and
// whether the read answered.
func (w *Workload) get(ctx context.Context, id, ai int, kv *api.KV, key string) (*api.KVPair, bool) {
	octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
	defer cancel()
	r := Record{Client: id, Agent: w.cfg.Agents[ai], Input: Input{Kind: OpGet, Key: key}, Call: w.Since()}
	pair, _, err := kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(octx))
	r.Return = w.Since()
	if err != nil {
		// A read that failed constrains nothing; keep it (for the
		// targets) but out of the checked history.
		r.Err = err
		w.record(r)
		return nil, false
	}
	if pair != nil {
		r.Output = Output{Found: true, Value: string(pair.Value)}
	}
	w.record(r)
	return pair, true
}

// Operations turns records into porcupine's history: failed reads are
// left out, unknown writes never return.
//
// An unknown write W whose value nothing observed is left out too, unless
// a CAS on its key answered false after W was called. With an infinite
// return time W can always be linearized last, where it changes nothing;
// placed earlier, its value (unseen by any read) must be overwritten
// before any read, so it could only matter by making a CAS fail. So when
// no failed CAS follows it, the history is linearizable with W exactly
// when it is without it — and each unknown write kept multiplies the
// checker's search.
func Operations(recs []Record) []porcupine.Operation {
	seen := map[string]bool{}
	lastCASFalse := map[string]time.Duration{} // per key, the latest return of a CAS that answered false
	for _, r := range recs {
		switch {
		case r.Input.Kind == OpGet && r.Err == nil && r.Output.Found:
			seen[r.Input.Key+"\x00"+r.Output.Value] = true
		case r.Input.Kind == OpCAS && r.Input.ExpectFound:
			seen[r.Input.Key+"\x00"+r.Input.Expect] = true
		}
		if r.Input.Kind == OpCAS && r.Err == nil && !r.Output.OK && r.Return > lastCASFalse[r.Input.Key] {
			lastCASFalse[r.Input.Key] = r.Return
		}
	}
	keep := func(r Record) bool {
		if !r.Output.Unknown || seen[r.Input.Key+"\x00"+r.Input.Value] {
			return true
		}
		t, ok := lastCASFalse[r.Input.Key]
		return ok && t >= r.Call
	}
	ops := make([]porcupine.Operation, 0, len(recs))
	for _, r := range recs {
		if r.Input.Kind == OpGet && r.Err != nil {
			continue
		}
		if !keep(r) {
			continue
		}
		ret := int64(r.Return)
		if r.Output.Unknown {
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{
			ClientId: r.Client, Input: r.Input, Output: r.Output,
			Call: int64(r.Call), Return: ret,
		})
	}
	return ops
}
