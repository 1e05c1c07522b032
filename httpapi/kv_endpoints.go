package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"consulate/structs"
)

func (s *Server) kv(w http.ResponseWriter, r *http.Request) (any, error) {
	key := tail(r, "/v1/kv/")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		obj, err := s.kvGet(w, r, key)
		var udc *structs.ErrUnknownDC
		if errors.As(err, &udc) {
			// A 404 here means "no such key" to the official client, which
			// would hide the mistake; say it with a 400 instead.
			return nil, &structs.BadRequestError{Reason: udc.Error()}
		}
		return obj, err
	case http.MethodPut:
		return s.kvPut(w, r, key)
	case http.MethodDelete:
		return s.kvDelete(w, r, key)
	}
	return nil, &codedError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed"}
}

func (s *Server) kvGet(w http.ResponseWriter, r *http.Request, key string) (any, error) {
	recurse, keys := queryFlag(r, "recurse"), queryFlag(r, "keys")
	if key == "" && !recurse && !keys {
		return nil, badRequest("Missing key name")
	}
	if keys {
		args := structs.KeyListRequest{Prefix: key}
		if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
			return nil, err
		}
		args.Seperator = query(r).Get("separator")
		var out structs.IndexedKeyList
		if err := s.rpcRead(w, r, structs.MethodKVSListKeys, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
			return nil, err
		}
		if len(out.Keys) == 0 {
			w.WriteHeader(http.StatusNotFound)
			return nil, nil
		}
		return out.Keys, nil
	}
	args := structs.KeyRequest{Key: key}
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.DirEntry{}); err != nil {
		return nil, err
	}
	method := structs.MethodKVSGet
	if recurse {
		method = structs.MethodKVSList
	}
	var out structs.IndexedDirEntries
	if err := s.rpcRead(w, r, method, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	entries := out.Entries
	if f != nil {
		entries = nil
		for _, e := range out.Entries {
			if f.Match(e) {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) == 0 {
		w.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	if queryFlag(r, "raw") && !recurse {
		// Served as inert text so a browser never renders stored HTML.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		return rawBody(entries[0].Value), nil
	}
	return entries, nil
}

func parseUintParam(r *http.Request, name string) (uint64, bool, error) {
	v, ok := query(r)[name]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, true, badRequest("Invalid %s %q: must be an unsigned integer", name, v[0])
	}
	return n, true, nil
}

func (s *Server) kvPut(w http.ResponseWriter, r *http.Request, key string) (any, error) {
	if key == "" {
		return nil, badRequest("Missing key name")
	}
	args := structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: key}}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	q := query(r)
	flags, _, err := parseUintParam(r, "flags")
	if err != nil {
		return nil, err
	}
	args.DirEnt.Flags = flags
	cas, hasCAS, err := parseUintParam(r, "cas")
	if err != nil {
		return nil, err
	}
	_, acquire := q["acquire"]
	_, release := q["release"]
	switch {
	case acquire && release:
		return nil, badRequest("Conflicting flags: acquire and release")
	case (acquire || release) && hasCAS:
		return nil, badRequest("Conflicting flags: cas with acquire or release")
	case acquire:
		if args.DirEnt.Session = q.Get("acquire"); args.DirEnt.Session == "" {
			return nil, badRequest("Missing session for acquire")
		}
		args.Op = structs.KVLock
	case release:
		if args.DirEnt.Session = q.Get("release"); args.DirEnt.Session == "" {
			return nil, badRequest("Missing session for release")
		}
		args.Op = structs.KVUnlock
	case hasCAS:
		args.DirEnt.ModifyIndex = cas
		args.Op = structs.KVCAS
	}
	val, err := readBody(r, structs.MaxKVValueSize)
	if err != nil {
		return nil, err
	}
	if len(val) > 0 {
		args.DirEnt.Value = val
	}
	var ok bool
	if err := s.agent.RPC(r.Context(), structs.MethodKVSApply, &args, &ok); err != nil {
		return nil, err
	}
	return ok, nil
}

func (s *Server) kvDelete(w http.ResponseWriter, r *http.Request, key string) (any, error) {
	recurse := queryFlag(r, "recurse")
	if key == "" && !recurse {
		return nil, badRequest("Missing key name")
	}
	args := structs.KVSRequest{Op: structs.KVDelete, DirEnt: structs.DirEntry{Key: key}}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	cas, hasCAS, err := parseUintParam(r, "cas")
	if err != nil {
		return nil, err
	}
	switch {
	case recurse && hasCAS:
		return nil, badRequest("Conflicting flags: cas with recurse")
	case recurse:
		args.Op = structs.KVDeleteTree
	case hasCAS:
		args.Op = structs.KVDeleteCAS
		args.DirEnt.ModifyIndex = cas
	}
	var ok bool
	if err := s.agent.RPC(r.Context(), structs.MethodKVSApply, &args, &ok); err != nil {
		return nil, err
	}
	return ok, nil
}
