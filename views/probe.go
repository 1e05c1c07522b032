package views

import (
	"context"
	"sync/atomic"
)

// stateGen numbers the published states of every view of the process.
var stateGen atomic.Uint64

// Probe lets the caller of one read learn which published state of a view
// answered it, so it can keep what it derives from the answer (the HTTP
// API keeps the encoded body) for as long as that state stands. Attach it
// with WithProbe.
type Probe struct {
	// Args is the read probed (the pointer passed to Store.RPC); reads
	// made with other args under the same context (a cache's fetch, say)
	// are not probed.
	Args any
	// Known, when set, is asked with the answering state's generation
	// before the reply is built. True means the caller holds what it
	// derives from that state already: the reply then carries its meta
	// only (Nodes nil), sparing the copy and the filtering. What the
	// caller keeps must depend on nothing but the state and the read's
	// parameters: a read sorted by ?near= also follows the coordinates,
	// so its Known must answer false.
	Known func(gen uint64) bool
	// Gen is set by Store.RPC to the generation of the state that
	// answered: unique among the states of all views of the process (a
	// view's every change, of its index, instances or ACL filtering,
	// publishes a new one). Zero when no view answered.
	Gen uint64
}

type probeKey struct{}

// WithProbe returns ctx carrying p for the read p.Args.
func WithProbe(ctx context.Context, p *Probe) context.Context {
	return context.WithValue(ctx, probeKey{}, p)
}

// probeFor is the probe of ctx for args, or nil.
func probeFor(ctx context.Context, args any) *Probe {
	p, _ := ctx.Value(probeKey{}).(*Probe)
	if p == nil || p.Args != args {
		return nil
	}
	return p
}
