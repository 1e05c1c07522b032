package rpcmux

import "consulate/structs"

// CloseSession closes every pooled session to addr (of every lane), so the
// next call dials afresh. Calls in progress on them fail at once. It
// returns how many sessions it closed.
//
// The federation router calls it when a remote server stops answering: a
// TCP connection that lost packets through a long cut has backed its
// retransmissions off to many seconds, so after the network heals it stays
// stuck long after a new connection would work.
func (p *Pool) CloseSession(addr structs.ServerAddr) int {
	var victims []*session
	p.mu.Lock()
	for key, st := range p.addrs {
		if key.addr == addr && st.sess != nil {
			victims = append(victims, st.sess)
		}
	}
	p.mu.Unlock()
	for _, s := range victims {
		// Closed first, so that a call woken by the expired deadlines
		// sees a closed session rather than a timeout of its own.
		p.removeSession(s)
		s.streams.expireAll()
	}
	return len(victims)
}
