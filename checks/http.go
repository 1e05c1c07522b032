package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"consulate/structs"
)

// httpCheck GETs (or Method) a URL: 2xx is passing, 429 warning, the rest
// critical. Output is Consul's "HTTP GET <url>: 200 OK Output: <body>".
type httpCheck struct {
	id      string
	url     string
	method  string
	header  http.Header
	body    string
	timeout time.Duration
	client  *http.Client
	n       Notifier
	maxOut  int
}

func newHTTPCheck(id string, ct *structs.CheckType, interval time.Duration, n Notifier, maxOut int) (*httpCheck, error) {
	u, err := url.Parse(ct.HTTP)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%w: check %q: bad HTTP URL %q", ErrInvalidCheck, id, ct.HTTP)
	}
	method := ct.Method
	if method == "" {
		method = http.MethodGet
	}
	h := make(http.Header, len(ct.Header))
	for k, vs := range ct.Header {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", "Consul Health Check")
	}
	if h.Get("Accept") == "" {
		h.Set("Accept", "text/plain, text/*, */*")
	}
	tr := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: ct.TLSSkipVerify, //nolint:gosec // the user asked for it
			ServerName:         ct.TLSServerName,
		},
	}
	timeout := httpTCPTimeout(ct.Timeout, interval)
	client := &http.Client{Transport: tr, Timeout: timeout}
	if ct.DisableRedirects {
		// The redirect itself is the result (a 3xx: critical).
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &httpCheck{
		id: id, url: ct.HTTP, method: method, header: h, body: ct.Body,
		timeout: timeout, n: n, maxOut: maxOut, client: client,
	}, nil
}

func (c *httpCheck) run(ctx context.Context) {
	status, output := c.probe(ctx)
	if ctx.Err() != nil {
		return // stopped mid-check; report nothing
	}
	c.n.UpdateCheck(c.id, status, output)
}

func (c *httpCheck) probe(ctx context.Context) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return structs.HealthCritical, err.Error()
	}
	req.Header = c.header.Clone()
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return structs.HealthCritical, err.Error()
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxOut)))
	if err != nil {
		return structs.HealthCritical, fmt.Sprintf("HTTP %s %s: error reading body: %v", c.method, c.url, err)
	}
	output := fmt.Sprintf("HTTP %s %s: %s Output: %s", c.method, c.url, resp.Status, buf)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return structs.HealthPassing, output
	case resp.StatusCode == http.StatusTooManyRequests:
		return structs.HealthWarning, output
	}
	return structs.HealthCritical, output
}
