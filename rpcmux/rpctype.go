package rpcmux

import "strconv"

// RPCType is the first byte a client writes on a new connection to the
// server port; it selects the protocol spoken on the rest of it.
type RPCType byte

// The protocols the server port knows.
const (
	// RPCPlain carries sequential calls straight on the TCP connection.
	RPCPlain RPCType = 0
	// RPCRaft hands the connection to the Raft transport.
	RPCRaft RPCType = 1
	// RPCMultiplex starts a yamux session; every stream carries calls.
	RPCMultiplex RPCType = 2
	// RPCTLS starts a TLS handshake; inside TLS the client then writes
	// one of the protocol bytes above. It is refused when TLS is not
	// configured (Config.TLS).
	RPCTLS RPCType = 3
	// RPCGossip hands the connection to the WAN gossip transport
	// (Config.Gossip): federation through gateways carries memberlist's
	// packets and streams to servers of other datacenters on the server
	// port, the one port a gateway reaches. Consul's byte for the same
	// purpose. It is refused when Config.Gossip is nil.
	RPCGossip RPCType = 6
	// RPCTLSInsecure starts a TLS handshake in which the server asks for
	// no client certificate (Consul's byte for auto_encrypt); inside TLS
	// only RPCPlain is accepted, and only the methods
	// Config.InsecureAllowed allows are served. It is refused when
	// Config.InsecureTLS is not set.
	RPCTLSInsecure RPCType = 7
)

// String returns the protocol's name.
func (t RPCType) String() string {
	switch t {
	case RPCPlain:
		return "rpc"
	case RPCRaft:
		return "raft"
	case RPCMultiplex:
		return "multiplex"
	case RPCTLS:
		return "tls"
	case RPCGossip:
		return "gossip"
	case RPCTLSInsecure:
		return "tls-insecure"
	}
	return "unknown(" + strconv.Itoa(int(t)) + ")"
}
