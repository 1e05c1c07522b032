package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"
)

// defaultHTTPAddr is where the agent's HTTP API listens unless told otherwise.
const defaultHTTPAddr = "127.0.0.1:8500"

// Environment variables consulted, first match wins. Consul's names are
// honoured so existing shells and scripts keep working.
const (
	envHTTPAddr        = "CONSULATE_HTTP_ADDR"
	envHTTPAddrConsul  = "CONSUL_HTTP_ADDR"
	envHTTPToken       = "CONSULATE_HTTP_TOKEN"
	envHTTPTokenConsul = "CONSUL_HTTP_TOKEN"
)

// httpFlags are the flags of every command that talks to an agent.
func httpFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "http-addr", Usage: "address of the agent's HTTP API, host:port or http(s)://host:port (default from CONSULATE_HTTP_ADDR, CONSUL_HTTP_ADDR, then " + defaultHTTPAddr + ")"},
		&cli.StringFlag{Name: "token", Usage: "ACL token for the request (default from CONSULATE_HTTP_TOKEN, CONSUL_HTTP_TOKEN)"},
		&cli.StringFlag{Name: "token-file", Usage: "file holding the ACL token; wins over -token"},
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

// client builds an API client for the command's flags.
func (e *env) client(c *cli.Context) (*api.Client, error) {
	addr := e.httpAddr(c)
	cfg := &api.Config{Address: addr, Scheme: "http"}
	if strings.HasPrefix(addr, "https://") {
		cfg.Scheme = "https"
	}
	cfg.Token = c.String("token")
	if cfg.Token == "" {
		cfg.Token = e.lookup(envHTTPToken, envHTTPTokenConsul)
	}
	cfg.TokenFile = c.String("token-file")
	hc, err := api.NewHttpClient(http.DefaultTransport.(*http.Transport).Clone(), cfg.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("Error configuring HTTP client: %w", err)
	}
	hc.Transport = ctxTransport{ctx: c.Context, base: hc.Transport}
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
