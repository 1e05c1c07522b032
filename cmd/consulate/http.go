package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// defaultHTTPAddr is where the agent's HTTP API listens unless told otherwise.
const defaultHTTPAddr = "127.0.0.1:8500"

// Environment variables consulted, first match wins. Consul's names are
// honoured so existing shells and scripts keep working; each CONSUL_X
// also has a CONSULATE_X, which wins.
const (
	envHTTPAddr        = "CONSULATE_HTTP_ADDR"
	envHTTPAddrConsul  = "CONSUL_HTTP_ADDR"
	envHTTPToken       = "CONSULATE_HTTP_TOKEN"
	envHTTPTokenConsul = "CONSUL_HTTP_TOKEN"
)

// httpFlags are the flags of every command that talks to an agent. Each
// flag overrides its environment variable, as in Consul.
func httpFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "http-addr", Usage: "address of the agent's HTTP API, host:port, http(s)://host:port or unix:///path/to/socket (default from CONSULATE_HTTP_ADDR, CONSUL_HTTP_ADDR, then " + defaultHTTPAddr + "); CONSUL_HTTP_SSL=true selects https"},
		&cli.StringFlag{Name: "token", Usage: "ACL token for the request (default from CONSULATE_HTTP_TOKEN, CONSUL_HTTP_TOKEN)"},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the ACL token; wins over -token (default from CONSUL_HTTP_TOKEN_FILE)"},
		&cli.StringFlag{Name: "ca-file", Usage: "PEM file of the CA that signed the agent's HTTPS certificate (default from CONSUL_CACERT)"},
		&cli.StringFlag{Name: "ca-path", Usage: "directory of PEM CA certificates (default from CONSUL_CAPATH)"},
		&cli.StringFlag{Name: "client-cert", Usage: "PEM client certificate, for agents with verify_incoming (default from CONSUL_CLIENT_CERT)"},
		&cli.StringFlag{Name: "client-key", Usage: "PEM key of -client-cert (default from CONSUL_CLIENT_KEY)"},
		&cli.StringFlag{Name: "tls-server-name", Usage: "server name to verify in the agent's certificate (default from CONSUL_TLS_SERVER_NAME, else the host of -http-addr)"},
	}
}

// serverFlags are added to commands that read or write server state.
func serverFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "datacenter", Usage: "datacenter to query (default: the agent's)"},
		&cli.BoolFlag{Name: "stale", Usage: "allow any server to answer, even without a leader"},
	}
}

// withFlags concatenates flag lists.
func withFlags(lists ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// lookup returns the first non-empty variable among names.
func (e *env) lookup(names ...string) string {
	for _, n := range names {
		if v := e.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// httpAddr resolves the agent address: flag, then environment, then default.
func (e *env) httpAddr(c *cli.Context) string {
	return e.resolveHTTPAddr(c.String("http-addr"))
}

func (e *env) resolveHTTPAddr(flagVal string) string {
	if flagVal != "" {
		return flagVal
	}
	if a := e.lookup(envHTTPAddr, envHTTPAddrConsul); a != "" {
		return a
	}
	return defaultHTTPAddr
}

// setting returns the flag's value when set, else the first environment
// variable set among CONSULATE_<name> and CONSUL_<name>.
func (e *env) setting(c *cli.Context, flag, name string) string {
	if v := c.String(flag); v != "" {
		return v
	}
	return e.lookup("CONSULATE_"+name, "CONSUL_"+name)
}

// envBool parses a boolean environment setting (CONSUL_HTTP_SSL,
// CONSUL_HTTP_SSL_VERIFY); def when unset.
func (e *env) envBool(name string, def bool) (bool, error) {
	v := e.lookup("CONSULATE_"+name, "CONSUL_"+name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("Error parsing CONSUL_%s %q: %w", name, v, err)
	}
	return b, nil
}

// client builds an API client for the command's flags and environment.
func (e *env) client(c *cli.Context) (*api.Client, error) {
	return e.clientCtx(c, c.Context, "")
}

// clientCtx is client with requests bound to ctx instead of the command's
// context: commands that must clean up after an interrupt (lock, exec)
// pass one that the interrupt does not cancel. A non-empty dc becomes the
// client's default datacenter (for client helpers that take no options,
// such as api.Lock).
func (e *env) clientCtx(c *cli.Context, ctx context.Context, dc string) (*api.Client, error) {
	addr := e.httpAddr(c)
	cfg := &api.Config{Address: addr, Scheme: "http", Datacenter: dc}
	ssl, err := e.envBool("HTTP_SSL", false)
	if err != nil {
		return nil, err
	}
	verify, err := e.envBool("HTTP_SSL_VERIFY", true)
	if err != nil {
		return nil, err
	}
	// As the official client: https:// or CONSUL_HTTP_SSL selects TLS,
	// and an explicit http:// does not turn it off.
	if ssl || strings.HasPrefix(addr, "https://") {
		cfg.Scheme = "https"
	}
	cfg.TLSConfig = api.TLSConfig{
		Address:            e.setting(c, "tls-server-name", "TLS_SERVER_NAME"),
		CAFile:             e.setting(c, "ca-file", "CACERT"),
		CAPath:             e.setting(c, "ca-path", "CAPATH"),
		CertFile:           e.setting(c, "client-cert", "CLIENT_CERT"),
		KeyFile:            e.setting(c, "client-key", "CLIENT_KEY"),
		InsecureSkipVerify: !verify,
	}
	// Flags win over the environment; within each, the token file wins
	// over the token (the official client reads the file last).
	switch {
	case c.String("token-file") != "":
		cfg.TokenFile = c.String("token-file")
	case c.String("token") != "":
		cfg.Token = c.String("token")
	default:
		cfg.Token = e.lookup(envHTTPToken, envHTTPTokenConsul)
		cfg.TokenFile = e.lookup("CONSULATE_HTTP_TOKEN_FILE", "CONSUL_HTTP_TOKEN_FILE")
	}
	// The TLS config is set here, not left to NewHttpClient: that only
	// fills a nil one, and the default transport's clone carries a
	// non-nil one once the default transport has been used.
	tc, err := api.SetupTLSConfig(&cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("Error configuring HTTP client: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	if sock, ok := strings.CutPrefix(addr, "unix://"); ok {
		// As the official client does for unix://, but on this
		// transport, so the command's context still ends its requests.
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}
		cfg.Address = sock
	}
	hc, err := api.NewHttpClient(tr, cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("Error configuring HTTP client: %w", err)
	}
	hc.Transport = ctxTransport{ctx: ctx, base: hc.Transport}
	cfg.HttpClient = hc
	cl, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("Error connecting to agent at %s: %w", addr, err)
	}
	return cl, nil
}

// ctxTransport gives requests made without a context (several client
// methods take no options) the command's context, so an interrupt or a
// caller's deadline ends every request, not only those with QueryOptions.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.ctx != nil && r.Context().Done() == nil {
		r = r.WithContext(t.ctx)
	}
	return t.base.RoundTrip(r)
}

// queryOpts carries -datacenter, -stale and the command's context.
func queryOpts(c *cli.Context) *api.QueryOptions {
	q := &api.QueryOptions{Datacenter: c.String("datacenter"), AllowStale: c.Bool("stale")}
	return q.WithContext(c.Context)
}

// writeOpts carries -datacenter and the command's context.
func writeOpts(c *cli.Context) *api.WriteOptions {
	w := &api.WriteOptions{Datacenter: c.String("datacenter")}
	return w.WithContext(c.Context)
}

// withClient wraps the action of a command that takes no arguments and
// talks to the agent: it checks the arguments and builds the client.
func (e *env) withClient(fn func(c *cli.Context, cl *api.Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := noArgs(c); err != nil {
			return err
		}
		cl, err := e.client(c)
		if err != nil {
			return err
		}
		return fn(c, cl)
	}
}
