package autoencrypt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"consulate/rpcmux"
	"consulate/structs"
)

// ErrNoServers is returned by Bootstrap when there is no server address
// to ask (auto_encrypt asks the -join / -retry-join addresses).
var ErrNoServers = errors.New("autoencrypt: no server addresses to ask for a certificate: set -join or -retry-join")

// ErrInvalidConfig is wrapped by every error New returns for a bad config.
var ErrInvalidConfig = errors.New("autoencrypt: invalid config")

// TLS is what the client needs of the agent's TLS configuration
// (*tlsutil.Configurator implements it).
type TLS interface {
	// AutoEncryptDialConfig verifies servers without a client certificate.
	AutoEncryptDialConfig() (*tls.Config, error)
	// SetAutoEncrypt installs the signed certificate and the roots.
	SetAutoEncrypt(certPEM, keyPEM []byte, roots []string) error
	// AutoEncryptLeaf is the installed certificate, or nil.
	AutoEncryptLeaf() *x509.Certificate
}

// Config configures a Client.
type Config struct {
	// Datacenter, NodeName and Domain ("consul") name the agent.
	Datacenter, NodeName, Domain string
	// DNSSAN and IPSAN are auto_encrypt.dns_san and ip_san.
	DNSSAN []string
	IPSAN  []net.IP
	// Servers returns the server port addresses (host:port) to ask over
	// TLS without a client certificate: the join addresses at the
	// server port.
	Servers func() []string
	// SourceAddr is the local address dialed from (nil: any).
	SourceAddr net.IP
	// CallTimeout bounds one request to one server.
	CallTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between rounds of requests.
	RetryMin, RetryMax time.Duration
	// Token returns the agent token sent with each request (nil: none).
	Token func() string
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults (names and Servers still to fill).
func DefaultConfig() Config {
	return Config{Domain: "consul", CallTimeout: 10 * time.Second, RetryMin: 200 * time.Millisecond, RetryMax: 30 * time.Second}
}

// Deps are the client's collaborators.
type Deps struct {
	// TLS is the agent's TLS configuration.
	TLS TLS
	// RPC is the agent's normal RPC path (over TLS with the current
	// certificate), used to renew. nil: renewals use the first way too.
	RPC func(ctx context.Context, method structs.Method, args, reply any) error
}

// Client obtains and renews the agent's certificate.
type Client struct {
	cfg    Config
	deps   Deps
	logger *slog.Logger

	mu sync.Mutex
	// obtained is when the current certificate was installed.
	obtained time.Time
	cancel   context.CancelFunc
	done     chan struct{}
	shutdown bool
}

// New validates cfg and returns a Client.
func New(cfg Config, deps Deps) (*Client, error) {
	var errs []error
	if cfg.Datacenter == "" || cfg.NodeName == "" {
		errs = append(errs, errors.New("a datacenter and a node name are required"))
	}
	if cfg.Servers == nil {
		errs = append(errs, errors.New("a Servers function is required"))
	}
	if cfg.CallTimeout <= 0 || cfg.RetryMin <= 0 || cfg.RetryMax < cfg.RetryMin {
		errs = append(errs, fmt.Errorf("CallTimeout and 0 < RetryMin <= RetryMax are required, got %v, %v, %v", cfg.CallTimeout, cfg.RetryMin, cfg.RetryMax))
	}
	if deps.TLS == nil {
		errs = append(errs, errors.New("Deps.TLS is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Domain == "" {
		cfg.Domain = "consul"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, deps: deps, logger: logger.With("component", "autoencrypt")}, nil
}

// Bootstrap obtains the first certificate, asking the servers in turn
// with a growing backoff until one signs or ctx ends.
func (c *Client) Bootstrap(ctx context.Context) error {
	if _, err := c.deps.TLS.AutoEncryptDialConfig(); err != nil {
		return err // no CA: nothing to retry
	}
	if len(c.cfg.Servers()) == 0 {
		return ErrNoServers
	}
	backoff := c.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := c.requestInsecure(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("autoencrypt: no certificate obtained: %w (last error: %v)", ctx.Err(), err)
		}
		c.logger.Warn("auto-encrypt certificate request failed; retrying", "attempt", attempt, "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("autoencrypt: no certificate obtained: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.cfg.RetryMax)
	}
}

// requestInsecure asks each server once over TLS without a client
// certificate.
func (c *Client) requestInsecure(ctx context.Context) error {
	addrs := c.cfg.Servers()
	if len(addrs) == 0 {
		return errors.New("no server addresses to ask (set -join or -retry-join)")
	}
	cfg, err := c.deps.TLS.AutoEncryptDialConfig()
	if err != nil {
		return err
	}
	var errs []error
	for _, addr := range addrs {
		err := c.request(ctx, func(ctx context.Context, args *structs.AutoEncryptSignRequest, reply *structs.AutoEncryptSignResponse) error {
			return rpcmux.CallInsecure(ctx, addr, cfg, c.cfg.SourceAddr, structs.MethodAutoEncryptSign, args, reply)
		})
		if err == nil {
			c.logger.Info("obtained an auto-encrypt certificate", "server", addr)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// request makes a key and a request, has call sign it and installs the
// result.
func (c *Client) request(ctx context.Context, call func(context.Context, *structs.AutoEncryptSignRequest, *structs.AutoEncryptSignResponse) error) error {
	csrPEM, keyPEM, err := generateCSR(c.cfg)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	args := &structs.AutoEncryptSignRequest{Datacenter: c.cfg.Datacenter, NodeName: c.cfg.NodeName, CSR: csrPEM}
	if c.cfg.Token != nil {
		args.Token = c.cfg.Token()
	}
	var reply structs.AutoEncryptSignResponse
	if err := call(cctx, args, &reply); err != nil {
		return err
	}
	if reply.IssuedCert.CertPEM == "" {
		return errors.New("server returned no certificate")
	}
	// Only the agent CA verifies servers: the signing root (reply.Roots)
	// only ever signs client certificates, so trusting it here would let
	// another client's certificate pass for a server's.
	if err := c.deps.TLS.SetAutoEncrypt([]byte(reply.IssuedCert.CertPEM), []byte(keyPEM), reply.ManualCARoots); err != nil {
		return err
	}
	c.mu.Lock()
	c.obtained = time.Now()
	c.mu.Unlock()
	return nil
}

// Start runs the renewal loop until Shutdown.
func (c *Client) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil || c.shutdown {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		c.renewLoop(ctx)
	}()
}

// renewAt is when a certificate valid until na, obtained at obtained (or
// valid from nb, if later), is renewed: half way through what was left.
// (Certificates are backdated a little for clock skew, so nb alone would
// renew short-lived ones too early.)
func renewAt(obtained, nb, na time.Time) time.Time {
	from := obtained
	if nb.After(from) {
		from = nb
	}
	return from.Add(na.Sub(from) / 2)
}

func (c *Client) renewLoop(ctx context.Context) {
	backoff := c.cfg.RetryMin
	for {
		wait := c.cfg.RetryMin
		if leaf := c.deps.TLS.AutoEncryptLeaf(); leaf != nil {
			c.mu.Lock()
			obtained := c.obtained
			c.mu.Unlock()
			wait = max(time.Until(renewAt(obtained, leaf.NotBefore, leaf.NotAfter)), c.cfg.RetryMin)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		for ctx.Err() == nil {
			err := c.renew(ctx)
			if err == nil {
				backoff = c.cfg.RetryMin
				break
			}
			c.logger.Warn("renewing the auto-encrypt certificate failed; retrying", "error", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, c.cfg.RetryMax)
		}
	}
}

// renew asks through the normal RPC path, then the first way.
func (c *Client) renew(ctx context.Context) error {
	if c.deps.RPC != nil {
		err := c.request(ctx, func(ctx context.Context, args *structs.AutoEncryptSignRequest, reply *structs.AutoEncryptSignResponse) error {
			return c.deps.RPC(ctx, structs.MethodAutoEncryptSign, args, reply)
		})
		if err == nil {
			c.logger.Info("renewed the auto-encrypt certificate")
			return nil
		}
		c.logger.Debug("renewal over RPC failed; asking the join addresses", "error", err)
	}
	return c.requestInsecure(ctx)
}

// Shutdown stops the renewal loop and waits for it within ctx.
func (c *Client) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	c.shutdown = true
	cancel, done := c.cancel, c.done
	c.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServerAddrs turns join addresses (host, host:port, [v6]:port) into
// server port addresses; cloud auto-join strings (key=value) are skipped.
func ServerAddrs(join []string, serverPort int) []string {
	var out []string
	seen := map[string]bool{}
	for _, j := range join {
		j = strings.TrimSpace(j)
		if j == "" || strings.Contains(j, "=") {
			continue
		}
		host := j
		if h, _, err := net.SplitHostPort(j); err == nil {
			host = h
		} else {
			host = strings.Trim(host, "[]")
		}
		addr := net.JoinHostPort(host, fmt.Sprint(serverPort))
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	return out
}
