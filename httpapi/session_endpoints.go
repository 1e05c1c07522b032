package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"consulate/httpapi/filter"
	"consulate/structs"
)

// Session limits, as Consul's.
const (
	defaultLockDelay = 15 * time.Second
	maxLockDelay     = 60 * time.Second
	minSessionTTL    = 10 * time.Second
	maxSessionTTL    = 24 * time.Hour
)

// lockDelay decodes LockDelay: a duration string ("15s", "15000ms") or a
// number, which like Consul's is seconds below 1000 and nanoseconds above.
type lockDelay struct {
	set bool
	d   time.Duration
}

func (l *lockDelay) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	l.set = true
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid LockDelay %q: %v", s, err)
		}
		l.d = d
		return nil
	}
	n, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("invalid LockDelay %s", b)
	}
	if n < 1000 {
		l.d = time.Duration(n * float64(time.Second))
	} else {
		l.d = time.Duration(n)
	}
	return nil
}

type sessionBody struct {
	Name          string
	Node          string
	LockDelay     lockDelay
	Behavior      string
	TTL           string
	Checks        []string
	NodeChecks    []string
	ServiceChecks []structs.ServiceCheck
	Namespace     string
	Partition     string
}

func (s *Server) sessionCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	var body sessionBody
	if err := s.decodeBody(r, &body, true, true); err != nil {
		return nil, err
	}
	args := structs.SessionRequest{Op: structs.SessionCreate}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	sess := structs.Session{
		Name: body.Name, Node: body.Node, Behavior: body.Behavior, TTL: body.TTL,
		NodeChecks: body.NodeChecks, ServiceChecks: body.ServiceChecks, LockDelay: defaultLockDelay,
	}
	if sess.Node == "" {
		sess.Node = s.agent.Self().NodeName
	}
	if body.Checks != nil {
		sess.NodeChecks = append(sess.NodeChecks, body.Checks...)
	}
	if body.NodeChecks == nil && body.Checks == nil {
		sess.NodeChecks = []string{structs.SerfCheckID}
	}
	if body.LockDelay.set {
		sess.LockDelay = body.LockDelay.d
	}
	if sess.LockDelay < 0 || sess.LockDelay > maxLockDelay {
		return nil, badRequest("Invalid LockDelay %s: must be between 0s and %s", sess.LockDelay, maxLockDelay)
	}
	switch sess.Behavior {
	case "":
		sess.Behavior = structs.SessionKeysRelease
	case structs.SessionKeysRelease, structs.SessionKeysDelete:
	default:
		return nil, badRequest("Invalid Behavior setting '%s'", sess.Behavior)
	}
	if sess.TTL != "" {
		ttl, err := time.ParseDuration(sess.TTL)
		if err != nil {
			return nil, badRequest("Session TTL '%s' invalid: %v", sess.TTL, err)
		}
		minTTL := s.cfg.SessionTTLMin
		if minTTL <= 0 {
			minTTL = minSessionTTL
		}
		if ttl != 0 && (ttl < minTTL || ttl > maxSessionTTL) {
			return nil, badRequest("Invalid Session TTL '%s', must be between [%s=%s]", sess.TTL, minTTL, maxSessionTTL)
		}
	}
	args.Session = sess
	var id string
	if err := s.agent.RPC(r.Context(), structs.MethodSessionApply, &args, &id); err != nil {
		return nil, err
	}
	return map[string]string{"ID": id}, nil
}

func (s *Server) sessionDestroy(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/session/destroy/")
	if id == "" {
		return nil, badRequest("Missing session")
	}
	args := structs.SessionRequest{Op: structs.SessionDestroy, Session: structs.Session{ID: id}}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	var out string
	if err := s.agent.RPC(r.Context(), structs.MethodSessionApply, &args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func nonNilSessions(in structs.Sessions) structs.Sessions {
	if in == nil {
		return structs.Sessions{}
	}
	return in
}

func (s *Server) sessionInfo(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.SessionSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.Session{}); err != nil {
		return nil, err
	}
	if args.SessionID = tail(r, "/v1/session/info/"); args.SessionID == "" {
		return nil, badRequest("Missing session")
	}
	var out structs.IndexedSessions
	if err := s.rpcRead(w, r, structs.MethodSessionGet, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	return nonNilSessions(filter.Slice(f, out.Sessions)), nil
}

func (s *Server) sessionNode(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.NodeSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.Session{}); err != nil {
		return nil, err
	}
	if args.Node = tail(r, "/v1/session/node/"); args.Node == "" {
		return nil, badRequest("Missing node name")
	}
	var out structs.IndexedSessions
	if err := s.rpcRead(w, r, structs.MethodSessionNodeList, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	return nonNilSessions(filter.Slice(f, out.Sessions)), nil
}

func (s *Server) sessionList(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.Session{}); err != nil {
		return nil, err
	}
	var out structs.IndexedSessions
	if err := s.rpcRead(w, r, structs.MethodSessionList, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	return nonNilSessions(filter.Slice(f, out.Sessions)), nil
}

func (s *Server) sessionRenew(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.SessionSpecificRequest
	args.Datacenter = query(r).Get("dc")
	args.Token = token(r)
	if args.SessionID = tail(r, "/v1/session/renew/"); args.SessionID == "" {
		return nil, badRequest("Missing session")
	}
	var out structs.IndexedSessions
	if err := s.agent.RPC(r.Context(), structs.MethodSessionRenew, &args, &out); err != nil {
		return nil, err
	}
	if len(out.Sessions) == 0 {
		return nil, notFound("Session id '%s' not found", args.SessionID)
	}
	return out.Sessions, nil
}
