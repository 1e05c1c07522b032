package gateway

import (
	"net"
	"sync"
)

// viaSet tracks open connections by the hop (a gateway address) they go
// through, so that all of them can be closed at once when that hop is
// gone: a gateway whose host is gone answers nothing, and writes into a
// silent TCP path succeed into kernel buffers for a long while. Each
// connection may have a partner closed with it (a gateway's splice: the
// client's end). It is safe for concurrent use; the zero value is ready.
type viaSet struct {
	mu  sync.Mutex
	via map[string]map[net.Conn]net.Conn
}

// add registers c (and its partner, nil for none) as going through hop.
func (s *viaSet) add(hop string, c, partner net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.via == nil {
		s.via = make(map[string]map[net.Conn]net.Conn)
	}
	m := s.via[hop]
	if m == nil {
		m = make(map[net.Conn]net.Conn)
		s.via[hop] = m
	}
	m[c] = partner
}

// drop forgets c, which add registered through hop.
func (s *viaSet) drop(hop string, c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.via[hop]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.via, hop)
		}
	}
}

// closeAll closes every connection through hop and its partner, forgets
// them, and returns how many there were.
func (s *viaSet) closeAll(hop string) int {
	s.mu.Lock()
	conns := s.via[hop]
	delete(s.via, hop)
	s.mu.Unlock()
	for c, partner := range conns {
		c.Close()
		if partner != nil {
			partner.Close()
		}
	}
	return len(conns)
}
