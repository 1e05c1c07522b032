package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("gateway: invalid config")

// LocalServer is one server of the gateway's own datacenter, as its LAN
// pool sees it.
type LocalServer struct {
	Name string // node name
	Addr string // RPC host:port on the LAN (what the gateway dials)
	// WANAddr is the RPC port at the server's WAN address
	// (advertise_addr_wan), which is how servers of other datacenters
	// name it; "" when the same as Addr or unknown. A conn naming it is
	// carried to Addr.
	WANAddr    string
	GossipAddr string // WAN gossip host:port; "" unknown
	Alive      bool
}

// Local is the gateway's view of its own datacenter.
type Local struct {
	Servers []LocalServer
	// Gateways are the alive gateways of this datacenter (advertised
	// addresses), this one included or not.
	Gateways []string
}

// Config configures a gateway.
type Config struct {
	// Datacenter is the gateway's own datacenter (required).
	Datacenter string
	// BindAddr is the IP the gateway listens on and dials from, so rules
	// on addresses apply to it as to a host of its own (required; an
	// unspecified address listens everywhere, dials from the kernel's
	// choice and needs Advertise).
	BindAddr net.IP
	// Port is the listening port; 0 lets the kernel pick (tests).
	Port int
	// Advertise is the host:port other gateways and local servers use to
	// reach this one; "" is the listener's address.
	Advertise string
	// Peers are gateways of other datacenters to start from; more are
	// learned from their adverts.
	Peers []string
	// ProbeInterval is how often every known remote gateway is probed
	// (each probe bounded by the interval, at most 1 s; learned gateways
	// that never answered are probed less often, up to every 30 s).
	ProbeInterval time.Duration
	// DialTimeout bounds each dial to a next hop or a server.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the reading of a client's header. The
	// next hops of one request (all the candidates tried together) get
	// HandshakeTimeout plus DialTimeout per hop still possible (see
	// MaxHops), longer at the first gateway than further along.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a spliced connection when no byte has crossed it
	// in either direction for that long. RPC sessions send keepalives
	// (yamux: every 30 s) and gossip pipes close themselves after 60 s
	// idle, so 10 minutes only catches the ends that vanished.
	IdleTimeout time.Duration
	// MaxConns bounds the connections a gateway handles at once
	// (handshakes and splices); more are refused with a status.
	MaxConns int
	// Local returns the gateway's view of its own datacenter, normally
	// from LAN members; it is called for every request and must be cheap
	// and safe for concurrent use (required). The gateway only reads
	// what it returns, so it may hand out a cached value.
	Local func() Local
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultConfig has Consul's gateway port and the timers documented on
// Config.
func DefaultConfig() *Config {
	return &Config{
		Port:             8443,
		ProbeInterval:    time.Second,
		DialTimeout:      time.Second,
		HandshakeTimeout: 5 * time.Second,
		IdleTimeout:      10 * time.Minute,
		MaxConns:         4096,
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c == nil:
		return bad("config is nil")
	case c.Datacenter == "":
		return bad("datacenter is empty")
	case c.BindAddr == nil:
		return bad("bind address is nil")
	case c.BindAddr.IsUnspecified() && c.Advertise == "":
		return bad("bind address %v needs an advertise address", c.BindAddr)
	case c.Port < 0 || c.Port > 65535:
		return bad("port %d out of range", c.Port)
	case c.ProbeInterval <= 0:
		return bad("probe interval must be positive")
	case c.DialTimeout <= 0:
		return bad("dial timeout must be positive")
	case c.HandshakeTimeout <= 0:
		return bad("handshake timeout must be positive")
	case c.IdleTimeout <= 0:
		return bad("idle timeout must be positive")
	case c.MaxConns <= 0:
		return bad("max conns must be positive")
	case c.Local == nil:
		return bad("Local is nil")
	}
	if c.Advertise != "" {
		if _, _, err := net.SplitHostPort(c.Advertise); err != nil {
			return bad("advertise address %q: %v", c.Advertise, err)
		}
	}
	for _, p := range c.Peers {
		if _, _, err := net.SplitHostPort(p); err != nil {
			return bad("peer %q: %v", p, err)
		}
	}
	return nil
}
