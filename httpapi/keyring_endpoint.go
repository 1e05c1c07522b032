package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"consulate/acl"
	"consulate/structs"
)

// maxKeyringBody bounds the {"Key": "..."} body of a keyring change.
const maxKeyringBody = 4096

// operatorKeyring serves /v1/operator/keyring: GET lists the keys of the
// WAN pool and every datacenter's LAN pool (?local-only: this
// datacenter's LAN pool), POST installs, PUT makes primary and DELETE
// removes the body's key. Any pool reporting an error makes it a 500
// naming the pools and members, as Consul does.
func (s *Server) operatorKeyring(w http.ResponseWriter, r *http.Request) (any, error) {
	args := structs.KeyringRequest{}
	args.Token = token(r)
	q := query(r)
	if v := q.Get("relay-factor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			return nil, badRequest("Error parsing relay factor: %v", err)
		}
		if n > 5 {
			return nil, badRequest("Relay factor must be in range: [0, 5]")
		}
		args.RelayFactor = uint8(n)
	}
	if v, ok := q["local-only"]; ok {
		lo := true // ?local-only alone means true
		if v[0] != "" {
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return nil, badRequest("Error parsing local-only: %v", err)
			}
			lo = b
		}
		if lo && r.Method != http.MethodGet {
			return nil, badRequest("local-only can only be set for list requests")
		}
		args.LocalOnly = lo
	}
	switch r.Method {
	case http.MethodGet:
		args.Operation = structs.KeyringList
	default:
		body, err := readBody(r, maxKeyringBody)
		if err != nil {
			return nil, err
		}
		var in struct{ Key string }
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, badRequest("Request decode failed: %v", err)
		}
		args.Key = in.Key
		switch r.Method {
		case http.MethodPost:
			args.Operation = structs.KeyringInstall
		case http.MethodPut:
			args.Operation = structs.KeyringUse
		default:
			args.Operation = structs.KeyringRemove
		}
	}
	access := acl.AccessWrite
	if args.Operation == structs.KeyringList {
		access = acl.AccessRead
	}
	if err := s.authorizeFor(r, acl.ResourceKeyring, "", access); err != nil {
		return nil, err
	}
	var out structs.KeyringResponses
	if err := s.agent.RPC(r.Context(), structs.MethodKeyringOperation, &args, &out); err != nil {
		return nil, err
	}
	if err := keyringErrors(out.Responses); err != nil {
		return nil, err
	}
	if args.Operation != structs.KeyringList {
		return nil, nil
	}
	if out.Responses == nil {
		out.Responses = []*structs.KeyringResponse{}
	}
	return out.Responses, nil
}

// keyringErrors gathers the pools' errors, each followed by its members'
// messages, in the multi-error shape Consul prints.
func keyringErrors(rs []*structs.KeyringResponse) error {
	var errs []string
	for _, r := range rs {
		if r.Error == "" {
			continue
		}
		pool := r.Datacenter + " (LAN)"
		if r.WAN {
			pool = "WAN"
		}
		if r.Segment != "" {
			pool += fmt.Sprintf(" [segment: %s]", r.Segment)
		}
		errs = append(errs, fmt.Sprintf("%s error: %s", pool, r.Error))
		for node, msg := range r.Messages {
			errs = append(errs, fmt.Sprintf("%s: %s", node, msg))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d error(s) occurred:\n\t* %s", len(errs), strings.Join(errs, "\n\t* "))
}
