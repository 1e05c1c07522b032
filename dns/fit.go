package dns

import "sync"

// fit puts the first n built answers (and the extras they need) into the
// reply, trimming from the end until it fits the transport: 512 bytes or
// the client's EDNS size over UDP, 64 KiB over TCP. capped says answers
// were already held back for the UDP answer limit. Over UDP, a reply that
// had to be cut to fit the size always gets TC (so resolvers retry over
// TCP); one held back only by the answer limit gets TC when
// EnableTruncate is set, as in Consul.
func (s *Server) fit(r *request, n int, capped bool) {
	resp := &r.resp
	set := func(k int) {
		resp.Answer = r.answers[:k]
		if k > 0 && len(r.extraEnd) >= k {
			resp.Extra = r.extras[:r.extraEnd[k-1]]
		} else {
			resp.Extra = nil
		}
	}
	set(n)
	// Reserve room for the OPT record finish adds.
	limit := r.maxSize
	if r.edns != nil {
		limit -= 11
	}
	cut := false
	if resp.Len() > limit {
		cut = true
		// Largest k in [0, n) whose reply fits.
		lo, hi := 0, n-1
		for lo < hi {
			mid := (lo + hi + 1) / 2
			set(mid)
			if resp.Len() <= limit {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		set(lo)
	}
	if !r.tcp && (cut || (capped && s.cfg.EnableTruncate)) {
		resp.Truncated = true
	}
}

// slicePool recycles scratch slices so a lookup does not allocate them.
type slicePool[T any] struct{ p sync.Pool }

func newSlicePool[T any]() *slicePool[T] {
	return &slicePool[T]{p: sync.Pool{New: func() any { s := make([]T, 0, 64); return &s }}}
}

func (p *slicePool[T]) get(n int) *[]T {
	s := p.p.Get().(*[]T)
	if cap(*s) < n {
		*s = make([]T, 0, n)
	}
	return s
}

func (p *slicePool[T]) put(s *[]T) {
	clear(*s)
	*s = (*s)[:0]
	p.p.Put(s)
}
