package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"consulate/structs"
)

// duration decodes Consul's durations: a Go duration string ("10s"), or
// a JSON number of nanoseconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %v", s, err)
		}
		*d = duration(v)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s: want a string such as \"10s\" or integer nanoseconds", b)
	}
	*d = duration(n)
	return nil
}

// checkBody is a check as /v1/agent/service/register (Check, Checks) and
// /v1/agent/check/register accept it: api.AgentServiceCheck plus
// api.AgentCheckRegistration's ID, ServiceID and Notes.
type checkBody struct {
	ID        string
	CheckID   string
	Name      string
	Notes     string
	ServiceID string
	Status    string

	ScriptArgs                     []string
	Args                           []string
	Script                         string
	HTTP                           string
	Header                         map[string][]string
	Method                         string
	Body                           string
	TLSSkipVerify                  bool
	TLSServerName                  string
	DisableRedirects               bool
	OutputMaxSize                  int
	TCP                            string
	Interval                       duration
	Timeout                        duration
	TTL                            duration
	DeregisterCriticalServiceAfter duration

	// The other kinds. A Docker check registers and stays critical
	// (nothing here runs Docker); TCPUseTLS is refused, so a client that
	// asks for it learns it at once. H2PingUseTLS is true when absent, as
	// in Consul (the client omits false).
	DockerContainerID string
	Shell             string
	GRPC              string
	GRPCUseTLS        bool
	UDP               string
	H2PING            string
	H2PingUseTLS      *bool
	TCPUseTLS         bool
	AliasNode         string
	AliasService      string
	OSService         string
	// Consecutive results before the status flips (checks.thresholds).
	SuccessBeforePassing   int
	FailuresBeforeWarning  int
	FailuresBeforeCritical int
	Namespace              string
	Partition              string
	// Token is accepted, as Consul's CheckDefinition has it, and not
	// used: the check syncs with the request's token, as in Consul.
	Token string
}

// checkType validates the body and converts it.
func (c *checkBody) checkType() (*structs.CheckType, error) {
	if c.TCPUseTLS {
		return nil, badRequest("Invalid check: TCPUseTLS is not supported")
	}
	id := c.CheckID
	if id == "" {
		id = c.ID
	}
	args := c.ScriptArgs
	if len(args) == 0 {
		args = c.Args
	}
	ct := &structs.CheckType{
		CheckID: id, Name: c.Name, Notes: c.Notes, ServiceID: c.ServiceID, Status: c.Status,
		HTTP: c.HTTP, Header: c.Header, Method: c.Method, Body: c.Body, TLSSkipVerify: c.TLSSkipVerify,
		TCP: c.TCP, Args: args, Script: c.Script, TTL: time.Duration(c.TTL),
		Interval: time.Duration(c.Interval), Timeout: time.Duration(c.Timeout),
		DeregisterCriticalServiceAfter: time.Duration(c.DeregisterCriticalServiceAfter),

		TLSServerName: c.TLSServerName, DisableRedirects: c.DisableRedirects, OutputMaxSize: c.OutputMaxSize,
		SuccessBeforePassing: c.SuccessBeforePassing, FailuresBeforeWarning: c.FailuresBeforeWarning,
		FailuresBeforeCritical: c.FailuresBeforeCritical,

		UDP: c.UDP, H2PING: c.H2PING, H2PingUseTLS: c.H2PING != "" && (c.H2PingUseTLS == nil || *c.H2PingUseTLS),
		GRPC: c.GRPC, GRPCUseTLS: c.GRPCUseTLS, OSService: c.OSService,
		DockerContainerID: c.DockerContainerID, Shell: c.Shell,
		AliasNode: c.AliasNode, AliasService: c.AliasService,
	}
	if c.SuccessBeforePassing < 0 || c.FailuresBeforeWarning < 0 || c.FailuresBeforeCritical < 0 || c.OutputMaxSize < 0 {
		return nil, badRequest("Invalid check: SuccessBeforePassing, FailuresBeforeWarning, FailuresBeforeCritical and OutputMaxSize must not be negative")
	}
	switch ct.Status {
	case "", structs.HealthPassing, structs.HealthWarning, structs.HealthCritical:
	default:
		return nil, badRequest("Invalid check: Status %q is not one of passing, warning, critical", ct.Status)
	}
	kinds := 0
	for _, set := range []bool{
		ct.HTTP != "", ct.TCP != "", ct.UDP != "", ct.H2PING != "", ct.GRPC != "", ct.OSService != "",
		ct.DockerContainerID != "", ct.AliasNode != "" || ct.AliasService != "", (len(ct.Args) > 0 || ct.Script != "") && ct.DockerContainerID == "", ct.TTL != 0,
	} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return nil, badRequest("Invalid check: must provide TTL, AliasService/AliasNode, or one of HTTP, TCP, UDP, H2PING, GRPC, OSService, DockerContainerID, ScriptArgs with an Interval")
	case kinds > 1:
		return nil, badRequest("Invalid check: provide only one of TTL, AliasService/AliasNode, HTTP, TCP, UDP, H2PING, GRPC, OSService, DockerContainerID, ScriptArgs")
	case ct.DockerContainerID != "" && len(ct.Args) == 0 && ct.Script == "":
		return nil, badRequest("Invalid check: DockerContainerID needs ScriptArgs")
	case ct.TTL < 0, ct.Interval < 0, ct.Timeout < 0, ct.DeregisterCriticalServiceAfter < 0:
		return nil, badRequest("Invalid check: durations must not be negative")
	case ct.TTL == 0 && ct.Interval == 0 && ct.AliasNode == "" && ct.AliasService == "":
		return nil, badRequest("Invalid check: Interval must be > 0 for Script, HTTP, TCP, UDP, H2PING, GRPC, OSService or Docker checks")
	}
	return ct, nil
}

// serviceBody is api.AgentServiceRegistration.
type serviceBody struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Port              int
	Address           string
	SocketPath        string
	TaggedAddresses   map[string]structs.ServiceAddress
	EnableTagOverride bool
	Meta              map[string]string
	Weights           *structs.Weights
	Check             *checkBody
	Checks            []*checkBody
	Namespace         string
	Partition         string
	Proxy             json.RawMessage
	Connect           json.RawMessage
	Locality          json.RawMessage
	Ports             json.RawMessage
	// Token is accepted, as Consul's ServiceDefinition has it, and not
	// used: Consul registers the service with the request's token
	// (X-Consul-Token, Authorization: Bearer, ?token=; the default token
	// when none), so that is what it syncs with here too.
	Token string
}

func (b *serviceBody) definition() (*structs.ServiceDefinition, error) {
	if b.Name == "" {
		return nil, badRequest("Missing service name")
	}
	switch b.Kind {
	case "", "typical":
	default:
		return nil, badRequest("Invalid service: Kind %q is not supported", b.Kind)
	}
	for name, raw := range map[string]json.RawMessage{"Proxy": b.Proxy, "Connect": b.Connect, "Ports": b.Ports} {
		if len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, badRequest("Invalid service: %s is not supported", name)
		}
	}
	if b.SocketPath != "" {
		return nil, badRequest("Invalid service: SocketPath is not supported")
	}
	if b.Port < 0 || b.Port > 65535 {
		return nil, badRequest("Invalid service: Port %d out of range", b.Port)
	}
	if b.Weights != nil && (b.Weights.Passing < 1 || b.Weights.Warning < 0) {
		return nil, badRequest("Passing weight must be greater than 0 and warning weight must not be negative")
	}
	def := &structs.ServiceDefinition{
		ID: b.ID, Name: b.Name, Tags: b.Tags, Address: b.Address, TaggedAddresses: b.TaggedAddresses,
		Meta: b.Meta, Port: b.Port, Weights: b.Weights, EnableTagOverride: b.EnableTagOverride,
	}
	if def.ID == "" {
		def.ID = def.Name
	}
	var bodies []*checkBody
	if b.Check != nil {
		bodies = append(bodies, b.Check)
	}
	bodies = append(bodies, b.Checks...)
	for i, cb := range bodies {
		if cb == nil {
			continue
		}
		ct, err := cb.checkType()
		if err != nil {
			return nil, err
		}
		// Consul's defaults for service checks.
		if ct.CheckID == "" {
			ct.CheckID = "service:" + def.ID
			if len(bodies) > 1 {
				ct.CheckID += ":" + strconv.Itoa(i+1)
			}
		}
		if ct.Name == "" {
			ct.Name = "Service '" + def.Name + "' check"
		}
		ct.ServiceID = def.ID
		def.Checks = append(def.Checks, ct)
	}
	return def, nil
}

// userDataKeys are object keys whose children are user data and keep
// their spelling.
var userDataKeys = map[string]bool{
	"meta": true, "nodemeta": true, "servicemeta": true, "header": true, "taggedaddresses": true,
}

// normalizeKeys rewrites snake_case keys ("enable_tag_override") to a form
// encoding/json matches case-insensitively ("enabletagoverride"), leaving
// user data (Meta, Header, TaggedAddresses) alone, as Consul accepts both.
func normalizeKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			nk := k
			if strings.Contains(k, "_") {
				nk = strings.ReplaceAll(k, "_", "")
			}
			if userDataKeys[strings.ToLower(nk)] {
				out[nk] = val
			} else {
				out[nk] = normalizeKeys(val)
			}
		}
		return out
	case []any:
		for i := range t {
			t[i] = normalizeKeys(t[i])
		}
		return t
	}
	return v
}

// decodeStrict decodes raw into out after normalizing snake_case keys,
// rejecting unknown fields.
func decodeStrict(raw []byte, out any) error {
	var generic any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&generic); err != nil {
		return badRequest("Request decode failed: %s", describeJSONError(err))
	}
	if d.More() {
		return badRequest("Request decode failed: trailing data after JSON value")
	}
	norm, err := json.Marshal(normalizeKeys(generic))
	if err != nil {
		return badRequest("Request decode failed: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(norm))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return badRequest("Request decode failed: %s", describeJSONError(err))
	}
	return nil
}

// readStrict reads the body (bounded) and decodes it strictly; an empty
// body is an error unless optional.
func (s *Server) readStrict(r *http.Request, out any, optional bool) error {
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
	return decodeStrict(b, out)
}
