package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

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

func validVerb(v structs.KVOp) bool {
	switch v {
	case structs.KVSet, structs.KVDelete, structs.KVDeleteCAS, structs.KVDeleteTree, structs.KVCAS,
		structs.KVLock, structs.KVUnlock, structs.KVGet, structs.KVGetTree, structs.KVCheckSession,
		structs.KVCheckIndex, structs.KVCheckNotExists:
		return true
	}
	return false
}

func isSet(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
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
	args := structs.TxnRequest{}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	for i, op := range ops {
		if op == nil || op.KV == nil {
			if op != nil && (isSet(op.Node) || isSet(op.Service) || isSet(op.Check) || isSet(op.Session)) {
				return nil, badRequest("Operation %d: only KV operations are supported", i)
			}
			return nil, badRequest("Operation %d: missing KV operation", i)
		}
		kv := op.KV
		verb := structs.KVOp(kv.Verb)
		if !validVerb(verb) {
			return nil, badRequest("Operation %d: invalid KV verb %q", i, kv.Verb)
		}
		if len(kv.Value) > structs.MaxKVValueSize {
			return nil, &codedError{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("Value for key %q is too large (%d > %d bytes)", kv.Key, len(kv.Value), structs.MaxKVValueSize)}
		}
		args.Ops = append(args.Ops, &structs.TxnOp{KV: &structs.TxnKVOp{
			Verb: verb,
			DirEnt: structs.DirEntry{Key: kv.Key, Value: kv.Value, Flags: kv.Flags,
				ModifyIndex: kv.Index, Session: kv.Session},
		}})
	}
	var out structs.TxnResponse
	if err := s.agent.RPC(r.Context(), structs.MethodTxnApply, &args, &out); err != nil {
		return nil, err
	}
	if out.Index > 0 {
		w.Header().Set("X-Consul-Index", strconv.FormatUint(out.Index, 10))
	}
	w.Header().Set("X-Consul-KnownLeader", "true")
	w.Header().Set("X-Consul-LastContact", "0")
	if len(out.Errors) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(txnReply{Results: out.Results, Errors: out.Errors})
		return nil, nil
	}
	return txnReply{Results: out.Results, Errors: out.Errors}, nil
}

// txnReply is api.TxnResponse.
type txnReply struct {
	Results []*structs.TxnResult
	Errors  []*structs.TxnError
}
