package dns

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/miekg/dns"
)

// SOAConfig holds the timer fields of the SOA record the server hands out.
type SOAConfig struct {
	Refresh uint32
	Retry   uint32
	Expire  uint32
	// MinTTL is the SOA minimum, which resolvers use as the negative-caching TTL.
	MinTTL uint32
}

// Config configures a Server. Build it from DefaultConfig and change what
// you need; New validates it.
type Config struct {
	// Datacenter is the local datacenter; names without a DC label ask it.
	Datacenter string
	// NodeName is this agent's node name, used for the NS record when no
	// server is known.
	NodeName string
	// Domain is the DNS domain served, "consul." by default.
	Domain string
	// AltDomain is a second domain answered the same way; "" for none.
	AltDomain string

	// NodeTTL is the TTL of node lookups.
	NodeTTL time.Duration
	// ServiceTTL maps service names to TTLs. A key "*" is the default, and a
	// key ending in "*" ("web*") matches names with that prefix; an exact
	// name beats the longest matching prefix, which beats "*".
	ServiceTTL map[string]time.Duration

	// AllowStale lets any server answer from its replica.
	AllowStale bool
	// MaxStale bounds how stale a stale answer may be.
	MaxStale time.Duration
	// OnlyPassing drops instances with warning checks, not only critical ones.
	OnlyPassing bool
	// EnableTruncate sets the TC bit on UDP answers held back by the UDP
	// answer limit; without it they are trimmed silently, as Consul does.
	// Answers cut to fit the packet size always get TC.
	EnableTruncate bool
	// UDPAnswerLimit caps the answers of a UDP reply to a client that sent
	// no EDNS option.
	UDPAnswerLimit int
	// ARecordLimit caps the A/AAAA answers of any reply; 0 is no limit.
	ARecordLimit int

	// Recursors receive names outside the domain ("ip" or "ip:port"); with
	// none such names are REFUSED.
	Recursors []string
	// RecursorTimeout bounds each exchange with a recursor.
	RecursorTimeout time.Duration

	// LookupTimeout bounds each lookup that waits on the backend (a cache
	// miss, a read in another datacenter, a prepared query): when it
	// passes the lookup answers SERVFAIL instead of holding the client. A
	// name sent to the recursors is bounded by the larger of this and
	// RecursorTimeout, over all recursors tried.
	LookupTimeout time.Duration
	// MaxWaitingLookups bounds the lookups waiting on the backend at once
	// (each holds a goroutine until it ends); a lookup that would wait
	// beyond it answers SERVFAIL at once. Lookups answered from memory
	// never wait and are not counted.
	MaxWaitingLookups int

	// SOA configures the SOA record.
	SOA SOAConfig

	// TranslateWANAddrs answers with the "wan" tagged address for nodes and
	// services in a remote datacenter.
	TranslateWANAddrs bool

	// QueryExecutor runs NAME.query lookups; nil answers them NXDOMAIN.
	QueryExecutor QueryExecutor
	// Metrics receives Consul's consul.dns.* metrics (the agent's own
	// go-metrics instance); nil emits none.
	Metrics *gometrics.Metrics
}

// DefaultLookupTimeout is LookupTimeout's default: under the 2 s in which
// a lookup in an unreachable datacenter must fail, and well under the 5 s
// after which common stub resolvers give up and retry.
const DefaultLookupTimeout = 1500 * time.Millisecond

// DefaultConfig returns Consul's defaults. Datacenter and NodeName are left
// for the caller.
func DefaultConfig() Config {
	return Config{
		Domain:            "consul.",
		AllowStale:        true,
		MaxStale:          10 * 365 * 24 * time.Hour,
		UDPAnswerLimit:    3,
		RecursorTimeout:   2 * time.Second,
		LookupTimeout:     DefaultLookupTimeout,
		MaxWaitingLookups: 1024,
		SOA:               SOAConfig{Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: 0},
	}
}

// ErrInvalidConfig wraps every problem Validate finds.
var ErrInvalidConfig = errors.New("dns: invalid config")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	if c.Datacenter == "" {
		return invalid("datacenter is required")
	}
	if _, ok := dns.IsDomainName(c.Datacenter); !ok || strings.Contains(c.Datacenter, ".") {
		return invalid("datacenter %q is not a DNS label", c.Datacenter)
	}
	if c.Domain == "" {
		return invalid("domain is required")
	}
	for _, d := range []string{c.Domain, c.AltDomain} {
		if d == "" {
			continue
		}
		if _, ok := dns.IsDomainName(d); !ok || dns.Fqdn(d) == "." {
			return invalid("domain %q is not a domain name", d)
		}
	}
	if c.AltDomain != "" && normDomain(c.AltDomain) == normDomain(c.Domain) {
		return invalid("alt_domain %q is the same as domain", c.AltDomain)
	}
	if c.NodeTTL < 0 {
		return invalid("node_ttl %s is negative", c.NodeTTL)
	}
	for k, v := range c.ServiceTTL {
		if v < 0 {
			return invalid("service_ttl[%q] %s is negative", k, v)
		}
		if k == "" || strings.Contains(strings.TrimSuffix(k, "*"), "*") {
			return invalid("service_ttl key %q: \"*\" may only end a key", k)
		}
	}
	if c.MaxStale < 0 {
		return invalid("max_stale %s is negative", c.MaxStale)
	}
	if c.UDPAnswerLimit < 0 {
		return invalid("udp_answer_limit %d is negative", c.UDPAnswerLimit)
	}
	if c.ARecordLimit < 0 {
		return invalid("a_record_limit %d is negative", c.ARecordLimit)
	}
	if c.LookupTimeout <= 0 {
		return invalid("lookup timeout %s must be positive", c.LookupTimeout)
	}
	if c.MaxWaitingLookups <= 0 {
		return invalid("max waiting lookups %d must be positive", c.MaxWaitingLookups)
	}
	if len(c.Recursors) > 0 && c.RecursorTimeout <= 0 {
		return invalid("recursor_timeout must be positive when recursors are set")
	}
	for _, r := range c.Recursors {
		if _, err := recursorAddr(r); err != nil {
			return invalid("recursor %q: %v", r, err)
		}
	}
	return nil
}

func normDomain(d string) string { return strings.ToLower(dns.Fqdn(d)) }

// recursorAddr turns "ip" or "ip:port" into "ip:port".
func recursorAddr(r string) (string, error) {
	if ip := net.ParseIP(strings.Trim(r, "[]")); ip != nil {
		return net.JoinHostPort(ip.String(), "53"), nil
	}
	host, port, err := net.SplitHostPort(r)
	if err != nil {
		return "", err
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("%q is not an IP address", host)
	}
	return net.JoinHostPort(host, port), nil
}

// ttlTable answers service TTL lookups without regexps: exact names in a
// map, prefixes longest first.
type ttlTable struct {
	exact    map[string]uint32
	prefixes []ttlPrefix
	def      uint32
}

type ttlPrefix struct {
	prefix string
	ttl    uint32
}

func seconds(d time.Duration) uint32 {
	s := d / time.Second
	if s > 1<<31-1 {
		s = 1<<31 - 1
	}
	return uint32(s)
}

func newTTLTable(m map[string]time.Duration) ttlTable {
	t := ttlTable{exact: make(map[string]uint32, len(m))}
	for k, v := range m {
		k = strings.ToLower(k)
		switch {
		case k == "*":
			t.def = seconds(v)
		case strings.HasSuffix(k, "*"):
			t.prefixes = append(t.prefixes, ttlPrefix{strings.TrimSuffix(k, "*"), seconds(v)})
		default:
			t.exact[k] = seconds(v)
		}
	}
	sort.Slice(t.prefixes, func(i, j int) bool {
		if len(t.prefixes[i].prefix) != len(t.prefixes[j].prefix) {
			return len(t.prefixes[i].prefix) > len(t.prefixes[j].prefix)
		}
		return t.prefixes[i].prefix < t.prefixes[j].prefix
	})
	return t
}

func (t *ttlTable) lookup(service string) uint32 {
	if v, ok := t.exact[service]; ok {
		return v
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(service, p.prefix) {
			return p.ttl
		}
	}
	return t.def
}
