package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"consulate/structs"
)

// maxTxnOps bounds one transaction, as Consul does.
const maxTxnOps = 128

type txnKVBody struct {
	Verb      string
	Key       string
	Value     []byte
	Flags     uint64
	Index     uint64
	Session   string
	Namespace string
	Partition string
}

type txnOpBody struct {
	KV      *txnKVBody
	Node    json.RawMessage
	Service json.RawMessage
	Check   json.RawMessage
	Session json.RawMessage
}

// The catalog parts of an operation, as the official client sends them
// (api.NodeTxnOp, api.ServiceTxnOp, api.CheckTxnOp, api.SessionTxnOp);
// fields Consulate does not keep are accepted and dropped, as Consul's
// own conversion drops them.
type txnNodeBody struct {
	Verb string
	Node struct {
		ID              string
		Node            string
		Address         string
		Datacenter      string
		TaggedAddresses map[string]string
		Meta            map[string]string
		ModifyIndex     uint64
	}
}

type txnServiceBody struct {
	Verb    string
	Node    string
	Service struct {
		Kind              string
		ID                string
		Service           string
		Tags              []string
		Address           string
		TaggedAddresses   map[string]structs.ServiceAddress
		Meta              map[string]string
		Port              int
		Weights           structs.Weights
		EnableTagOverride bool
		ModifyIndex       uint64
	}
}

type txnCheckBody struct {
	Verb  string
	Check struct {
		Node        string
		CheckID     string
		Name        string
		Status      string
		Notes       string
		Output      string
		ServiceID   string
		ServiceName string
		ServiceTags []string
		Type        string
		Definition  struct {
			HTTP                           string
			Header                         map[string][]string
			Method                         string
			Body                           string
			TLSSkipVerify                  bool
			TCP                            string
			Interval                       txnDuration
			Timeout                        txnDuration
			DeregisterCriticalServiceAfter txnDuration
		}
		ModifyIndex uint64
	}
}

type txnSessionBody struct {
	Verb    string
	Session struct {
		ID   string
		Node string
	}
}

// txnDuration reads a check definition's duration, sent as a string
// ("10s", api.ReadableDuration) or as nanoseconds.
type txnDuration string

func (d *txnDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if s != "" {
			if _, err := time.ParseDuration(s); err != nil {
				return err
			}
		}
		*d = txnDuration(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if n != 0 {
		*d = txnDuration(time.Duration(n).String())
	}
	return nil
}

func validVerb(v structs.KVOp) bool {
	switch v {
	case structs.KVSet, structs.KVDelete, structs.KVDeleteCAS, structs.KVDeleteTree, structs.KVCAS,
		structs.KVLock, structs.KVUnlock, structs.KVGet, structs.KVGetOrEmpty, structs.KVGetTree, structs.KVCheckSession,
		structs.KVCheckIndex, structs.KVCheckNotExists:
		return true
	}
	return false
}

func validCatalogVerb(v string) bool {
	switch v {
	case structs.TxnGet, structs.TxnSet, structs.TxnCAS, structs.TxnDelete, structs.TxnDeleteCAS:
		return true
	}
	return false
}

func isSet(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// convertTxnOp turns operation i of the body into the RPC's form.
func convertTxnOp(i int, op *txnOpBody) (*structs.TxnOp, error) {
	if op == nil {
		return nil, badRequest("Operation %d: missing operation", i)
	}
	parts := 0
	for _, set := range []bool{op.KV != nil, isSet(op.Node), isSet(op.Service), isSet(op.Check), isSet(op.Session)} {
		if set {
			parts++
		}
	}
	if parts != 1 {
		return nil, badRequest("Operation %d: must have exactly one of KV, Node, Service, Check or Session", i)
	}
	decode := func(raw json.RawMessage, v any) error {
		if err := json.Unmarshal(raw, v); err != nil {
			return badRequest("Operation %d: Failed to parse body: %s", i, describeJSONError(err))
		}
		return nil
	}
	switch {
	case op.KV != nil:
		kv := op.KV
		verb := structs.KVOp(kv.Verb)
		if !validVerb(verb) {
			return nil, badRequest("Operation %d: invalid KV verb %q", i, kv.Verb)
		}
		if len(kv.Value) > structs.MaxKVValueSize {
			return nil, &codedError{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Value for key %q is too large (%d > %d bytes)", kv.Key, len(kv.Value), structs.MaxKVValueSize)}
		}
		return &structs.TxnOp{KV: &structs.TxnKVOp{
			Verb: verb,
			DirEnt: structs.DirEntry{Key: kv.Key, Value: kv.Value, Flags: kv.Flags,
				ModifyIndex: kv.Index, Session: kv.Session},
		}}, nil
	case isSet(op.Node):
		var b txnNodeBody
		if err := decode(op.Node, &b); err != nil {
			return nil, err
		}
		if !validCatalogVerb(b.Verb) {
			return nil, badRequest("Operation %d: invalid Node verb %q", i, b.Verb)
		}
		n := b.Node
		return &structs.TxnOp{Node: &structs.TxnNodeOp{Verb: b.Verb, Node: structs.Node{
			ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter,
			TaggedAddresses: n.TaggedAddresses, Meta: n.Meta, ModifyIndex: n.ModifyIndex,
		}}}, nil
	case isSet(op.Service):
		var b txnServiceBody
		if err := decode(op.Service, &b); err != nil {
			return nil, err
		}
		if !validCatalogVerb(b.Verb) {
			return nil, badRequest("Operation %d: invalid Service verb %q", i, b.Verb)
		}
		sv := b.Service
		w := sv.Weights
		return &structs.TxnOp{Service: &structs.TxnServiceOp{Verb: b.Verb, Node: b.Node, Service: structs.NodeService{
			Kind: sv.Kind, ID: sv.ID, Service: sv.Service, Tags: sv.Tags, Address: sv.Address,
			TaggedAddresses: sv.TaggedAddresses, Meta: sv.Meta, Port: sv.Port, Weights: &w,
			EnableTagOverride: sv.EnableTagOverride, ModifyIndex: sv.ModifyIndex,
		}}}, nil
	case isSet(op.Check):
		var b txnCheckBody
		if err := decode(op.Check, &b); err != nil {
			return nil, err
		}
		if !validCatalogVerb(b.Verb) {
			return nil, badRequest("Operation %d: invalid Check verb %q", i, b.Verb)
		}
		c := b.Check
		d := c.Definition
		return &structs.TxnOp{Check: &structs.TxnCheckOp{Verb: b.Verb, Check: structs.HealthCheck{
			Node: c.Node, CheckID: c.CheckID, Name: c.Name, Status: c.Status, Notes: c.Notes, Output: c.Output,
			ServiceID: c.ServiceID, ServiceName: c.ServiceName, ServiceTags: c.ServiceTags, Type: c.Type,
			Definition: structs.HealthCheckDefinition{HTTP: d.HTTP, Header: d.Header, Method: d.Method, Body: d.Body,
				TLSSkipVerify: d.TLSSkipVerify, TCP: d.TCP, Interval: string(d.Interval), Timeout: string(d.Timeout),
				DeregisterCriticalServiceAfter: string(d.DeregisterCriticalServiceAfter)},
			ModifyIndex: c.ModifyIndex,
		}}}, nil
	default:
		var b txnSessionBody
		if err := decode(op.Session, &b); err != nil {
			return nil, err
		}
		if b.Verb != structs.TxnDelete {
			return nil, badRequest("Operation %d: invalid Session verb %q", i, b.Verb)
		}
		if b.Session.ID == "" {
			return nil, badRequest("Operation %d: Must provide session ID", i)
		}
		return &structs.TxnOp{Session: &structs.TxnSessionOp{Verb: b.Verb,
			Session: structs.Session{ID: b.Session.ID, Node: b.Session.Node}}}, nil
	}
}

func (s *Server) txn(w http.ResponseWriter, r *http.Request) (any, error) {
	// Like Consul's txn_max_req_len (512 KiB): one maximum-size value,
	// base64-encoded, plus the JSON around the operations.
	limit := s.cfg.MaxBodyBytes + structs.MaxKVValueSize*4/3
	b, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	var ops []*txnOpBody
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("Request decode failed: empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ops); err != nil {
		return nil, badRequest("Failed to parse body: %s", describeJSONError(err))
	}
	if len(ops) > maxTxnOps {
		return nil, &codedError{http.StatusRequestEntityTooLarge,
			fmt.Sprintf("Transaction contains too many operations (%d > %d)", len(ops), maxTxnOps)}
	}
	conv := make([]*structs.TxnOp, 0, len(ops))
	readOnly := true
	for i, op := range ops {
		o, err := convertTxnOp(i, op)
		if err != nil {
			return nil, err
		}
		readOnly = readOnly && o.IsRead()
		conv = append(conv, o)
	}
	var results []*structs.TxnResult
	var errs []*structs.TxnError
	if readOnly && len(conv) > 0 {
		// As Consul: a transaction without writes is a read, served by
		// any server under ?stale, without Raft.
		args := structs.TxnReadRequest{Ops: conv}
		if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
			return nil, err
		}
		args.MinQueryIndex, args.MaxQueryTime, args.UseCache = 0, 0, false
		var out structs.TxnReadResponse
		if err := s.rpcRead(w, r, structs.MethodTxnRead, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
			return nil, err
		}
		results, errs = out.Results, out.Errors
	} else {
		args := structs.TxnRequest{Ops: conv}
		parseWrite(r, &args.Datacenter, &args.WriteRequest)
		var out structs.TxnResponse
		if err := s.agent.RPC(r.Context(), structs.MethodTxnApply, &args, &out); err != nil {
			return nil, err
		}
		if out.Index > 0 {
			w.Header().Set("X-Consul-Index", strconv.FormatUint(out.Index, 10))
		}
		results, errs = out.Results, out.Errors
	}
	if len(errs) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(txnReply{Results: results, Errors: errs})
		return nil, nil
	}
	return txnReply{Results: results, Errors: errs}, nil
}

// txnReply is api.TxnResponse.
type txnReply struct {
	Results []*structs.TxnResult
	Errors  []*structs.TxnError
}
