package dns

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Answers ready to send.
//
// A query for the domain is answered from a reply packed once per change
// of the backend's data: the lookup runs on a normalized copy of the query
// (ID 0, no RD/CD, no DO, the name lower-cased), the reply is packed
// without its OPT record and kept under the key (name, type, class,
// transport, payload size), together with the backend read's tracker and
// the index of the value it was built from. Each query then copies the
// bytes and writes in what depends on it: the ID, RD and CD, the question
// name as asked (0x20 case), the SOA serial (the time, as a fresh reply
// has it) and an OPT record (size and DO) when the query had EDNS.
//
// Shuffled answers are kept as variants sent in rotation: one shuffle of
// the instances, rotated by the answers each variant holds, so that
// replies cut to fit (the UDP answer limit, the payload size) hand out
// every instance in turn, as replies shuffled per query would; replies
// holding every instance rotate by an eighth so the order changes. A kept reply is used while the tracker
// reports the index it was built from; otherwise the first query after
// the change rebuilds it while the others for the same key wait (single
// flight). Replies whose read is not tracked (other backends, reads the
// cache does not keep, failures, prepared queries) are built per query,
// as before, and not kept.
//
// Names are compressed as miekg/dns does, case-sensitively. A lower-case
// query is packed with its own name, so the bytes are those a reply built
// for it would have. A query with upper-case letters is packed with its
// name upper-cased (a separate key): answer owner names, which are the
// question name, then point at the question, and are rewritten with it,
// while other names (SRV targets, all lower-case below the domain) do not
// point into it and keep their case.

const (
	// maxVariants bounds the variants of a shuffled reply.
	maxVariants = 64
	// orders is how many orders of a reply that holds every instance
	// are kept.
	orders = 8
	// maxPackedBytes bounds the bytes of the replies kept; beyond it
	// they are all dropped and rebuilt as queried.
	maxPackedBytes = 4 << 20
	// headerLen is the length of a DNS message header.
	headerLen = 12
)

// packed is a reply ready to send, in one or more variants.
type packed struct {
	// track reports the backend's index for the read the reply came
	// from; nil when the reply may not be kept.
	track func() (uint64, bool)
	index uint64
	// variants are the packed messages, without OPT; the question name
	// ends at qend; serial, when positive, is the offset of the SOA
	// serial to stamp with the time.
	variants [][]byte
	qend     int
	serial   int
	size     int
	next     atomic.Uint32
}

// current reports whether the reply is still the one the backend's data
// gives.
func (p *packed) current() bool {
	if p == nil || p.track == nil {
		return false
	}
	idx, ok := p.track()
	return ok && idx == p.index
}

// answerSlot keeps the reply for one key.
type answerSlot struct {
	// mu makes one query rebuild a stale reply while the others wait.
	mu sync.Mutex
	p  atomic.Pointer[packed]
}

// answerCache maps keys to slots.
type answerCache struct {
	mu    sync.RWMutex
	m     map[string]*answerSlot
	bytes atomic.Int64
}

// slot returns the slot for key, or nil.
func (c *answerCache) slot(key []byte) *answerSlot {
	c.mu.RLock()
	sl := c.m[string(key)]
	c.mu.RUnlock()
	return sl
}

// store keeps p under key (in the slot sl when it has one).
func (c *answerCache) store(key []byte, sl *answerSlot, p *packed) {
	if sl == nil {
		c.mu.Lock()
		if c.m == nil || c.bytes.Load()+int64(p.size) > maxPackedBytes {
			c.m = make(map[string]*answerSlot)
			c.bytes.Store(0)
		}
		if sl = c.m[string(key)]; sl == nil {
			sl = new(answerSlot)
			c.m[string(key)] = sl
		}
		c.mu.Unlock()
	}
	old := sl.p.Swap(p)
	delta := int64(p.size)
	if old != nil {
		delta -= int64(old.size)
	}
	c.bytes.Add(delta)
}

// forget drops the reply kept in sl.
func (c *answerCache) forget(sl *answerSlot) {
	if old := sl.p.Swap(nil); old != nil {
		c.bytes.Add(-int64(old.size))
	}
}

// wireScratch is the per-query scratch of the packed path.
type wireScratch struct {
	key  []byte
	name [256]byte
	out  []byte
}

var wirePool = sync.Pool{New: func() any { return &wireScratch{key: make([]byte, 0, 300), out: make([]byte, 0, 4096)} }}

// servePacked answers req from a kept reply, or builds one; it returns
// false for queries the regular path answers (errors, names outside the
// domain), and for all queries when the backend tracks no reads.
func (s *Server) servePacked(w dns.ResponseWriter, req *dns.Msg) bool {
	if !s.tracked || req.Response || req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		return false
	}
	q := &req.Question[0]
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		return false
	}
	if len(q.Name) == 0 || len(q.Name) > 255 {
		return false
	}
	tcp := isTCP(w)
	maxSize := defaultUDPSize
	if opt != nil {
		if sz := int(opt.UDPSize()); sz > maxSize {
			maxSize = min(sz, maxUDPSize)
		}
	}
	if tcp {
		maxSize = dns.MaxMsgSize
	}

	sc := wirePool.Get().(*wireScratch)
	defer wirePool.Put(sc)
	key := sc.key[:0]
	lower := true
	for i := 0; i < len(q.Name); i++ {
		c := q.Name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			lower = false
		}
		key = append(key, c)
	}
	var flags byte
	if tcp {
		flags |= 1
	}
	if opt != nil {
		flags |= 2
	}
	if lower {
		flags |= 4
	}
	key = append(key, 0, byte(q.Qtype>>8), byte(q.Qtype), byte(q.Qclass>>8), byte(q.Qclass),
		byte(maxSize>>16), byte(maxSize>>8), byte(maxSize), flags)
	sc.key = key

	sl := s.answers.slot(key)
	if sl != nil {
		if p := sl.p.Load(); p.current() {
			return s.writePacked(w, req, opt, p, sc)
		}
	}
	return s.buildPacked(w, req, opt, tcp, lower, sl, sc)
}

// buildPacked builds the reply for a query with no current kept reply,
// keeps it when it may be kept, and sends it.
func (s *Server) buildPacked(w dns.ResponseWriter, req *dns.Msg, opt *dns.OPT, tcp, lower bool, sl *answerSlot, sc *wireScratch) bool {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	var probe request
	if _, ok := s.splitDomain(&probe, name); !ok {
		return false
	}
	if !lower {
		name = strings.ToUpper(name)
	}
	if sl != nil && sl.p.Load() != nil {
		// A kept reply went stale: rebuild it once.
		sl.mu.Lock()
		defer sl.mu.Unlock()
		if p := sl.p.Load(); p.current() {
			return s.writePacked(w, req, opt, p, sc)
		}
	}
	p := s.build(dns.Question{Name: name, Qtype: q.Qtype, Qclass: q.Qclass}, opt, tcp)
	if p == nil {
		return false
	}
	if p.track != nil {
		s.answers.store(sc.key, sl, p)
	} else if sl != nil {
		// Not kept by the backend now: build per query, without waiting
		// on each other, until a reply may be kept again.
		s.answers.forget(sl)
	}
	return s.writePacked(w, req, opt, p, sc)
}

// build runs the lookup for the normalized question and packs the reply,
// in variants when the answers are shuffled; nil when it cannot be packed.
// Only a reply that may be kept gets more than one variant.
func (s *Server) build(q dns.Question, opt *dns.OPT, tcp bool) *packed {
	norm := &dns.Msg{MsgHdr: dns.MsgHdr{Opcode: dns.OpcodeQuery}, Question: []dns.Question{q}}
	if opt != nil {
		norm.SetEdns0(opt.UDPSize(), false)
	}
	p := new(packed)
	seed, rot := rand.Uint64(), 0
	for v := 0; v < maxVariants; v++ {
		r := requestPool.Get().(*request)
		r.req, r.tcp, r.collect, r.seed, r.rot = norm, tcp, true, seed, rot
		resp := s.handle(r)
		b, err := resp.Pack()
		serial := 0
		if len(resp.Ns) == 1 && len(resp.Extra) == 0 {
			if _, ok := resp.Ns[0].(*dns.SOA); ok {
				serial = len(b) - 20 // serial, refresh, retry, expire, minttl
			}
		}
		track, index, total, kept := r.track, r.index, r.candidates, len(resp.Answer)
		r.reset()
		requestPool.Put(r)
		if err != nil || len(b) < headerLen {
			if v == 0 {
				return nil
			}
			break
		}
		if v == 0 {
			qend := questionEnd(b)
			if qend < 0 {
				return nil
			}
			p.track, p.index, p.qend, p.serial = track, index, qend, serial
		} else if track == nil || index != p.index || serial != p.serial {
			break // the data changed meanwhile: keep what is consistent
		}
		p.variants = append(p.variants, b)
		p.size += len(b)
		if track == nil || total < 2 || kept == 0 {
			break
		}
		step := kept
		if kept >= total {
			step = max(1, total/orders)
		}
		if rot += step; rot >= total {
			break
		}
	}
	if p.track != nil {
		if idx, ok := p.track(); !ok || idx != p.index {
			p.track = nil // changed already, or not kept by the backend
		}
	}
	return p
}

// questionEnd returns the offset just past the question name of a packed
// message with one question, or -1.
func questionEnd(b []byte) int {
	if binary.BigEndian.Uint16(b[4:]) != 1 {
		return -1
	}
	off := headerLen
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xC0 != 0:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// writePacked sends a variant of p with the query's ID, flags, name and
// EDNS written in.
func (s *Server) writePacked(w dns.ResponseWriter, req *dns.Msg, opt *dns.OPT, p *packed, sc *wireScratch) bool {
	n, err := dns.PackDomainName(req.Question[0].Name, sc.name[:], 0, nil, false)
	if err != nil || headerLen+n != p.qend {
		return false
	}
	v := p.variants[int(p.next.Add(1)-1)%len(p.variants)]
	out := append(sc.out[:0], v...)
	copy(out[headerLen:], sc.name[:n])
	binary.BigEndian.PutUint16(out[0:], req.Id)
	out[2] &^= 0x01 // RD
	if req.RecursionDesired {
		out[2] |= 0x01
	}
	out[3] &^= 0x10 // CD
	if req.CheckingDisabled {
		out[3] |= 0x10
	}
	if p.serial > 0 {
		binary.BigEndian.PutUint32(out[p.serial:], uint32(time.Now().Unix()))
	}
	if opt != nil {
		size := defaultUDPSize
		if sz := int(opt.UDPSize()); sz > size {
			size = min(sz, maxUDPSize)
		}
		if isTCP(w) {
			size = dns.MaxMsgSize
		}
		var do byte
		if opt.Do() {
			do = 0x80
		}
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
		out = append(out, 0, 0, byte(dns.TypeOPT), byte(size>>8), byte(size), 0, 0, do, 0, 0, 0)
	}
	sc.out = out
	if _, err := w.Write(out); err != nil {
		s.logger.Debug("write reply failed", "error", err, "network", networkName(isTCP(w)))
	}
	return true
}
