package gateway

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Magic opens every connection to a gateway's port.
const Magic = "CGW1"

// MaxHeaderLen bounds the JSON header a client may send (bytes).
const MaxHeaderLen = 4096

// maxStatusLen is what a 2-byte length can say; an answer longer than
// that cannot be framed.
const maxStatusLen = 1<<16 - 1

// MaxHops is how many gateways a connection may traverse: a gateway
// refuses a header whose Hops is MaxHops or more. A path is at most
// local gateway → transit gateway → destination gateway (Hops 0, 1, 2);
// the bound only stops loops.
const MaxHops = 4

// Header kinds.
const (
	// KindConn asks for a byte stream to a server of a datacenter.
	KindConn = "conn"
	// KindInfo asks what the answering gateway knows of its datacenter.
	KindInfo = "info"
	// KindProbe is the gateway-to-gateway health and route exchange.
	KindProbe = "probe"
)

// Errors of the wire format. ReadHeader and ReadStatus wrap one of them.
var (
	// ErrBadMagic: the first four bytes are not Magic.
	ErrBadMagic = errors.New("gateway: not a gateway connection (bad magic)")
	// ErrHeaderTooLarge: the header length is above MaxHeaderLen.
	ErrHeaderTooLarge = errors.New("gateway: header too large")
	// ErrBadHeader: the header is not valid JSON or says something
	// impossible.
	ErrBadHeader = errors.New("gateway: bad header")
	// ErrBadStatus: the status frame cannot be read.
	ErrBadStatus = errors.New("gateway: bad status")
)

// Header is the request a connection to a gateway starts with.
type Header struct {
	// Kind is KindConn, KindInfo or KindProbe.
	Kind string
	// DC is the destination datacenter (KindConn); "" is the datacenter
	// of the gateway reached.
	DC string `json:",omitempty"`
	// Addr is the destination server's RPC address (host:port) in DC
	// (KindConn); "" is any alive server of DC.
	Addr string `json:",omitempty"`
	// Next is an explicit gateway to ask for its info (KindInfo only; a
	// conn naming one is refused). Only the first, local gateway (Hops
	// 0) honours it, and only from a server of its own datacenter. It
	// reaches a remote gateway whose datacenter is not known yet
	// (joining).
	Next string `json:",omitempty"`
	// Hops counts the gateways already traversed.
	Hops int `json:",omitempty"`
	// From is the sender's advertisement (KindProbe only): its
	// datacenter and that datacenter's gateways, without Direct. The
	// receiver learns from it only the addresses on the connection's
	// remote IP.
	From Advert `json:",omitzero"`
}

// Status is a gateway's one answer frame. For KindConn it comes once the
// whole path is up; after an OK the connection carries the client's bytes
// untouched.
type Status struct {
	OK     bool
	Error  string  `json:",omitempty"`
	Code   string  `json:",omitempty"` // kind of refusal, when a client acts on it (CodeNextUnreachable, CodeNotGateway)
	Info   *Info   `json:",omitempty"`
	Advert *Advert `json:",omitempty"`
}

// Info is what a gateway says about its datacenter (KindInfo).
type Info struct {
	DC       string
	Gateways []string // alive gateways of DC, the answering one included
	Servers  []InfoServer
	Routes   []Route // the answering gateway's routing table
}

// InfoServer is one alive server of the answering gateway's datacenter.
type InfoServer struct {
	Name       string // node name
	Addr       string // RPC host:port
	GossipAddr string // WAN gossip host:port; "" unknown
}

// Advert is what a gateway tells the gateways it probes and answers: its
// datacenter's gateways and the datacenters it reaches directly.
type Advert struct {
	DC       string
	Gateways []string // alive gateways of DC, the advertising one included
	Direct   []Reach  `json:",omitempty"`
}

// Reach is one datacenter an advertising gateway reaches directly: a
// probe of one of its gateways answered within the last three intervals.
type Reach struct {
	DC       string
	Gateways []string
	RTT      time.Duration
}

// Route is how a gateway reaches a datacenter: the preferred way (direct,
// or via one transit datacenter) and its next-hop gateways in the order
// it tries them.
type Route struct {
	DC string
	// Via is "" for a direct route (gateway to gateway), else the transit
	// datacenter whose gateways reach DC directly.
	Via      string `json:",omitempty"`
	Gateways []string
	// RTT is the estimated round trip to DC's gateways along the route
	// (through the transit for Via); 0 when unknown.
	RTT time.Duration
}

// WriteHeader sends Magic, the header length and h in one write.
func WriteHeader(w io.Writer, h *Header) error {
	body, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("gateway: encoding header: %w", err)
	}
	if len(body) > MaxHeaderLen {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrHeaderTooLarge, len(body), MaxHeaderLen)
	}
	buf := make([]byte, 0, len(Magic)+2+len(body))
	buf = append(buf, Magic...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(body)))
	buf = append(buf, body...)
	_, err = w.Write(buf)
	return err
}

// ReadHeader reads and checks a header. It reads exactly the header's
// bytes and nothing after them (they belong to the spliced stream). The
// caller bounds the time it may take with a deadline on the connection.
func ReadHeader(r io.Reader) (*Header, error) {
	var pre [len(Magic) + 2]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, err
	}
	if string(pre[:len(Magic)]) != Magic {
		return nil, ErrBadMagic
	}
	n := int(binary.BigEndian.Uint16(pre[len(Magic):]))
	if n > MaxHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrHeaderTooLarge, n, MaxHeaderLen)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	var h Header
	if err := json.Unmarshal(body, &h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHeader, err)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return &h, nil
}

// check refuses headers no gateway sends.
func (h *Header) check() error {
	switch h.Kind {
	case KindConn, KindInfo, KindProbe:
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrBadHeader, h.Kind)
	}
	if h.Hops < 0 {
		return fmt.Errorf("%w: negative hops", ErrBadHeader)
	}
	return nil
}

// WriteStatus sends one status frame: 2-byte length and JSON.
func WriteStatus(w io.Writer, s *Status) error {
	body, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("gateway: encoding status: %w", err)
	}
	if len(body) > maxStatusLen {
		return fmt.Errorf("gateway: status of %d bytes does not fit a frame", len(body))
	}
	buf := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(body)), uint16(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// ReadStatus reads one status frame and nothing after it.
func ReadStatus(r io.Reader) (*Status, error) {
	var pre [2]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint16(pre[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadStatus, err)
	}
	return &s, nil
}
