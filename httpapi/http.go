package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	"consulate/httpapi/filter"
	"consulate/structs"
)

// handlerFunc is an endpoint: it returns the value to encode as JSON (nil
// for no body) or an error that maps to a status code.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

type endpoint struct {
	methods []string
	fn      handlerFunc
	// pathLabel is Consul's "path" label of consul.api.http: the route's
	// pattern without its leading slash, "/" made "_" ("v1_kv_").
	pathLabel string
}

type prefixRoute struct {
	prefix string
	ep     endpoint
}

// router dispatches on exact paths, then on the longest prefix. It does
// not clean paths (KV keys may hold "//"), unlike http.ServeMux.
type router struct {
	exact    map[string]endpoint
	prefixes []prefixRoute
	s        *Server
	other    http.Handler
}

func (rt *router) handle(path string, fn handlerFunc, methods ...string) {
	ep := endpoint{methods: methods, fn: fn, pathLabel: strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_")}
	if strings.HasSuffix(path, "/") {
		rt.prefixes = append(rt.prefixes, prefixRoute{path, ep})
		sort.Slice(rt.prefixes, func(i, j int) bool { return len(rt.prefixes[i].prefix) > len(rt.prefixes[j].prefix) })
		return
	}
	rt.exact[path] = ep
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	ep, ok := rt.exact[path]
	if !ok {
		for _, p := range rt.prefixes {
			if strings.HasPrefix(path, p.prefix) {
				ep, ok = p.ep, true
				break
			}
		}
	}
	if !ok {
		if rt.other != nil && !strings.HasPrefix(path, "/v1/") {
			rt.other.ServeHTTP(w, r)
			return
		}
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	rt.s.serve(w, r, ep)
}

// codedError carries its own status code.
type codedError struct {
	code int
	msg  string
}

func (e *codedError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &structs.BadRequestError{Reason: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &codedError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// statusFor maps an error to Consul's status code.
func statusFor(err error) int {
	var ce *codedError
	var bad *structs.BadRequestError
	var udc *structs.ErrUnknownDC
	var fe *filterError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.As(err, &bad), errors.As(err, &fe), errors.Is(err, filter.ErrInvalid):
		return http.StatusBadRequest
	case errors.As(err, &udc):
		return http.StatusNotFound
	case errors.Is(err, structs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, structs.ErrPermissionDenied), errors.Is(err, structs.ErrACLNotFound):
		return http.StatusForbidden
	case errors.Is(err, structs.ErrRateLimited):
		return http.StatusTooManyRequests
	}
	// ErrNoLeader, ErrNoDCPath, ErrNoServers, ErrUnknownMethod and the rest.
	return http.StatusInternalServerError
}

type filterError struct{ err error }

func (e *filterError) Error() string {
	return "Failed to create boolean expression evaluator: " + e.err.Error()
}
func (e *filterError) Unwrap() error { return e.err }

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ep endpoint) {
	start := time.Now()
	defer func() {
		gometrics.MeasureSinceWithLabels([]string{"api", "http"}, start,
			[]gometrics.Label{{Name: "method", Value: r.Method}, {Name: "path", Value: ep.pathLabel}})
	}()
	allowed := false
	for _, m := range ep.methods {
		if r.Method == m || (r.Method == http.MethodHead && m == http.MethodGet) {
			allowed = true
			break
		}
	}
	if !allowed {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", strings.Join(append([]string{"OPTIONS"}, ep.methods...), ","))
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Allow", strings.Join(ep.methods, ","))
		http.Error(w, fmt.Sprintf("method %s not allowed", r.Method), http.StatusMethodNotAllowed)
		return
	}
	if r.Form == nil {
		// The query, parsed once for every query(r) of the request (no
		// handler parses forms).
		r.Form = r.URL.Query()
	}
	s.limitBodyTime(w, r, s.cfg.BodyReadTimeout)
	obj, err := ep.fn(w, r)
	if err != nil && errors.Is(context.Cause(r.Context()), errDraining) {
		err = &codedError{http.StatusServiceUnavailable, errDraining.Error()}
	}
	if err != nil {
		code := statusFor(err)
		if code >= 500 {
			s.logger.Error("request error", "method", r.Method, "url", r.URL.Path, "error", err)
		} else {
			s.logger.Debug("request rejected", "method", r.Method, "url", r.URL.Path, "code", code, "error", err)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Del("X-Consul-Index")
		w.WriteHeader(code)
		io.WriteString(w, err.Error())
		return
	}
	s.logger.Debug("request complete", "method", r.Method, "url", r.URL.Path, "duration", time.Since(start))
	if obj == nil {
		return
	}
	if raw, ok := obj.(rawBody); ok {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.Write(raw)
		return
	}
	_, pretty := query(r)["pretty"]
	b, err := encodeJSON(obj, pretty)
	if err != nil {
		s.logger.Error("encoding response", "url", r.URL.Path, "error", err)
		http.Error(w, "failed to encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// rawBody is written as is (KV ?raw, prometheus text).
type rawBody []byte

// query is the request's query parameters: parsed once by serve (kept in
// r.Form, which no handler fills otherwise), else parsed now. Callers
// must not modify the values.
func query(r *http.Request) url.Values {
	if r.Form != nil {
		return r.Form
	}
	return r.URL.Query()
}

// queryFlag reports whether a flag parameter (?stale, ?recurse) is present
// and not explicitly false.
func queryFlag(r *http.Request, name string) bool {
	v, ok := query(r)[name]
	if !ok {
		return false
	}
	if len(v) == 0 || v[0] == "" {
		return true
	}
	b, err := strconv.ParseBool(v[0])
	return err != nil || b
}

// token is the caller's ACL token, in Consul's order: ?token=, then
// X-Consul-Token, then "Authorization: Bearer" (scheme case-insensitive).
// "" when none is given (the agent's default token applies).
func token(r *http.Request) string {
	if t := query(r).Get("token"); t != "" {
		return t
	}
	if t := r.Header.Get("X-Consul-Token"); t != "" {
		return t
	}
	if scheme, rest, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " "); ok && strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(rest)
	}
	return ""
}

// parseWait reads ?wait=: a Go duration ("10s", "100ms") or a bare number
// of seconds; negative or unparsable values are rejected, large ones
// clamped to MaxQueryTime.
func (s *Server) parseWait(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.ParseUint(v, 10, 32)
		if nerr != nil {
			return 0, badRequest("Invalid wait time %q: want a duration such as \"10s\"", v)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return 0, badRequest("Invalid wait time %q: must not be negative", v)
	}
	return min(d, s.cfg.MaxQueryTime), nil
}

// parseRead fills the datacenter and query options of a read from the
// URL and compiles ?filter=.
func (s *Server) parseRead(r *http.Request, dc *string, q *structs.QueryOptions) (*filter.Expr, error) {
	vals := query(r)
	if dc != nil {
		*dc = vals.Get("dc")
	}
	q.Token = token(r)
	q.AllowStale = queryFlag(r, "stale")
	q.RequireConsistent = queryFlag(r, "consistent")
	if v := vals.Get("max_stale"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, badRequest("Invalid max_stale value %q", v)
		}
		q.MaxStaleDuration = d
		q.AllowStale = true
	}
	if q.AllowStale && q.RequireConsistent {
		return nil, badRequest("Cannot specify ?stale with ?consistent, conflicting semantics.")
	}
	if queryFlag(r, "leader") && (q.AllowStale || q.RequireConsistent) {
		return nil, badRequest("Cannot specify ?leader with ?stale or ?consistent, conflicting semantics.")
	}
	if _, ok := vals["cached"]; ok && !s.cfg.DisableCache {
		q.UseCache = true
		if q.RequireConsistent {
			return nil, badRequest("Cannot specify ?cached with ?consistent, conflicting semantics.")
		}
		if err := parseCacheControl(r, q); err != nil {
			return nil, err
		}
	}
	if v := vals.Get("index"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest("Invalid index %q: must be an unsigned 64-bit integer", v)
		}
		q.MinQueryIndex = idx
		q.MaxQueryTime = s.cfg.DefaultQueryTime
	}
	if v, ok := vals["wait"]; ok {
		d, err := s.parseWait(v[0])
		if err != nil {
			return nil, err
		}
		q.MaxQueryTime = d
	}
	if v := vals.Get("filter"); v != "" {
		e, err := filter.Compile(v)
		if err != nil {
			return nil, &filterError{err}
		}
		q.Filter = v
		return e, nil
	}
	return nil, nil
}

// parseWrite reads ?dc= and the token of a write.
func parseWrite(r *http.Request, dc *string, w *structs.WriteRequest) {
	if dc != nil {
		*dc = query(r).Get("dc")
	}
	if w != nil {
		w.Token = token(r)
	}
}

// The canonical forms of the meta headers (what Header.Set would compute
// on every call) and the shared values of those with few: set as map
// entries directly, the wire is the same without the per-request work.
// Nothing modifies a header's values in place (Set replaces, Add appends
// to a full slice, so copies).
var (
	hdrIndex       = http.CanonicalHeaderKey("X-Consul-Index")
	hdrKnownLeader = http.CanonicalHeaderKey("X-Consul-KnownLeader")
	hdrLastContact = http.CanonicalHeaderKey("X-Consul-LastContact")
	hdrConsistency = http.CanonicalHeaderKey("X-Consul-Effective-Consistency")
	hdrFiltered    = http.CanonicalHeaderKey("X-Consul-Results-Filtered-By-ACLs")
	valTrue        = []string{"true"}
	valFalse       = []string{"false"}
	valLevels      = map[string][]string{"leader": {"leader"}, "stale": {"stale"}, "consistent": {"consistent"}}
	valJSON        = []string{"application/json"}
)

// setMeta writes the blocking-query and consistency headers.
func setMeta(w http.ResponseWriter, q *structs.QueryOptions, m *structs.QueryMeta) {
	idx := m.Index
	if idx == 0 {
		idx = 1 // a zero index would make clients busy-loop
	}
	h := w.Header()
	h[hdrIndex] = []string{strconv.FormatUint(idx, 10)}
	if m.KnownLeader {
		h[hdrKnownLeader] = valTrue
	} else {
		h[hdrKnownLeader] = valFalse
	}
	if ms := m.LastContact.Milliseconds(); ms == 0 {
		h[hdrLastContact] = valZero
	} else {
		h[hdrLastContact] = []string{strconv.FormatInt(ms, 10)}
	}
	level := m.ConsistencyLevel
	if level == "" {
		switch {
		case q.RequireConsistent:
			level = "consistent"
		case q.AllowStale:
			level = "stale"
		default:
			level = "leader"
		}
	}
	if v, ok := valLevels[level]; ok {
		h[hdrConsistency] = v
	} else {
		h[hdrConsistency] = []string{level}
	}
	if m.ResultsFilteredByACLs {
		h[hdrFiltered] = valTrue
	}
}

var valZero = []string{"0"}

// parseCacheControl reads the Cache-Control directives a ?cached read
// honours (max-age, stale-if-error, must-revalidate; in seconds, as
// Consul's agent cache).
func parseCacheControl(r *http.Request, q *structs.QueryOptions) error {
	raw := r.Header.Get("Cache-Control")
	if raw == "" {
		return nil
	}
	seconds := func(v string) (time.Duration, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, badRequest("Invalid Cache-Control header.")
		}
		return time.Duration(n) * time.Second, nil
	}
	for _, d := range strings.Split(raw, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		var err error
		switch {
		case d == "must-revalidate":
			q.MustRevalidate = true
		case strings.HasPrefix(d, "max-age="):
			q.MaxAge, err = seconds(strings.TrimPrefix(d, "max-age="))
			if err == nil && q.MaxAge == 0 {
				// max-age=0 asks for an answer no older than now: only
				// the servers give that (MaxAge 0 alone means no limit).
				q.MustRevalidate = true
			}
		case strings.HasPrefix(d, "stale-if-error="):
			q.StaleIfError, err = seconds(strings.TrimPrefix(d, "stale-if-error="))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// setCacheMeta sets the headers of a read that may be answered from the
// agent cache (?cached on an endpoint that supports it): X-Cache, and
// Age (whole seconds) on a hit.
func setCacheMeta(w http.ResponseWriter, q *structs.QueryOptions, m *structs.QueryMeta) {
	if !q.UseCache {
		return
	}
	if !m.CacheHit {
		w.Header().Set("X-Cache", "MISS")
		return
	}
	w.Header().Set("X-Cache", "HIT")
	w.Header().Set("Age", strconv.FormatInt(int64(m.CacheAge.Round(time.Second)/time.Second), 10))
}

// setFilter validates the filter against the element type of the result.
func validateFilter(e *filter.Expr, sample any) error {
	if e == nil {
		return nil
	}
	if err := e.Validate(reflect.TypeOf(sample)); err != nil {
		return &filterError{err}
	}
	return nil
}

// errTooLarge is a 413.
func errTooLarge(n, limit int64) error {
	size := "more than " + strconv.FormatInt(limit, 10)
	if n >= 0 {
		size = strconv.FormatInt(n, 10)
	}
	return &codedError{http.StatusRequestEntityTooLarge,
		fmt.Sprintf("Request body(%s bytes) too large, max size: %d bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.", size, limit)}
}

// deadlineBody is a request body read under a connection read deadline.
// Once the body has been read to its end, net/http clears the deadline
// itself as it starts its background read (which notices a client going
// away during a long blocking query), so the deadline never outlives the
// body; done records that point, after which no deadline may be set.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.done = true
	}
	return n, err
}

// limitBodyTime puts a read deadline of d from now on the request's body,
// replacing any set before (the snapshot endpoint allows more). A request
// without a body is left alone: a blocking GET has nothing more to read.
// Where the connection cannot take deadlines (tests' recorders), nothing
// changes.
func (s *Server) limitBodyTime(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || d <= 0 {
		return
	}
	if b, ok := r.Body.(*deadlineBody); ok {
		if !b.done {
			b.timeout = d
			_ = b.rc.SetReadDeadline(time.Now().Add(d))
		}
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: d}
}

// readBody reads at most limit bytes of the body; more is a 413, and a
// body that does not arrive within the body read timeout is a 408.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge(r.ContentLength, limit)
	}
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		if db, ok := r.Body.(*deadlineBody); ok && errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, &codedError{http.StatusRequestTimeout,
				fmt.Sprintf("Request body not received within %s", db.timeout)}
		}
		return nil, badRequest("Failed to read request body: %v", err)
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge(-1, limit)
	}
	return b, nil
}

// decodeBody decodes a JSON body into out, rejecting unknown fields and
// trailing data when strict. An empty body leaves out alone when optional.
func (s *Server) decodeBody(r *http.Request, out any, optional, strict bool) error {
	b, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return badRequest("Request decode failed: empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(out); err != nil {
		return badRequest("Request decode failed: %s", describeJSONError(err))
	}
	if dec.More() {
		return badRequest("Request decode failed: trailing data after JSON value")
	}
	return nil
}

func describeJSONError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("field %s: cannot use JSON %s as %s", field, te.Value, te.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of JSON input"
	}
	return err.Error()
}

// tail returns the path after prefix ("" when the path is the prefix
// without its trailing slash).
func tail(r *http.Request, prefix string) string {
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		return ""
	}
	return rest
}
