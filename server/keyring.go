package server

import (
	"context"
	"errors"
	"sort"
	"sync"

	"consulate/acl"
	"consulate/structs"
)

// Keyring applies a gossip keyring operation to one pool; lan.Pool and
// wan.Pool implement it. It answers with the pool's counts and sets Error
// when a member failed or did not answer.
type Keyring interface {
	KeyringOperation(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse
}

// KeyringFunc adapts a function to Keyring; a nil answer means the pool
// does not exist (yet) and is left out.
type KeyringFunc func(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse

// KeyringOperation implements Keyring.
func (f KeyringFunc) KeyringOperation(ctx context.Context, op structs.KeyringOp, key string) *structs.KeyringResponse {
	return f(ctx, op, key)
}

// ErrNoKeyring is returned by Internal.KeyringOperation on a server built
// without Deps.LANKeyring.
var ErrNoKeyring = errors.New("server: the gossip keyring is not wired on this server")

// maxRelayFactor is Consul's bound on relay-factor.
const maxRelayFactor = 5

// keyringOperation applies a keyring operation as Consul does: the first
// server to get the request does the WAN pool (which holds every server
// of every datacenter) and its own LAN pool, and relays the request to a
// server of each other known datacenter for that datacenter's LAN pool
// (Forwarded set, so the WAN pool is done once). LocalOnly lists this
// datacenter's LAN pool only.
func (s *Server) keyringOperation(ctx context.Context, args *structs.KeyringRequest, reply *structs.KeyringResponses) error {
	switch args.Operation {
	case structs.KeyringList:
	case structs.KeyringInstall, structs.KeyringUse, structs.KeyringRemove:
		if args.Key == "" {
			return badRequest("Key is required")
		}
		if args.LocalOnly {
			return badRequest("local-only can only be set for list requests")
		}
	default:
		return badRequest("unknown keyring operation %q", args.Operation)
	}
	access := acl.AccessWrite
	if args.Operation == structs.KeyringList {
		access = acl.AccessRead
	}
	if err := s.checkToken(args.Token, acl.ResourceKeyring, "", access); err != nil {
		return err
	}
	if args.RelayFactor > maxRelayFactor {
		return badRequest("Relay factor must be in range: [0, %d]", maxRelayFactor)
	}
	if s.lanKeyring == nil {
		return ErrNoKeyring
	}
	if args.Forwarded || args.LocalOnly {
		reply.Responses = append(reply.Responses, s.lanKeyring.KeyringOperation(ctx, args.Operation, args.Key))
		return nil
	}
	if s.wanKeyring != nil {
		if r := s.wanKeyring.KeyringOperation(ctx, args.Operation, args.Key); r != nil {
			reply.Responses = append(reply.Responses, r)
		}
	}
	// This datacenter's LAN pool and the other datacenters' at once: each
	// is a gossip query that waits for its members.
	var remote []string
	if s.forwarder != nil {
		for _, dc := range s.forwarder.KnownDatacenters() {
			if dc != s.cfg.Datacenter {
				remote = append(remote, dc)
			}
		}
		sort.Strings(remote)
	}
	results := make([][]*structs.KeyringResponse, len(remote))
	var wg sync.WaitGroup
	for i, dc := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fwd := *args
			fwd.Datacenter = dc
			fwd.Forwarded = true
			var r structs.KeyringResponses
			if err := s.forwarder.ForwardDC(ctx, structs.Datacenter(dc), structs.MethodKeyringOperation, &fwd, &r); err != nil {
				results[i] = []*structs.KeyringResponse{{Datacenter: dc, Error: err.Error(),
					Keys: map[string]int{}, PrimaryKeys: map[string]int{}}}
				return
			}
			results[i] = r.Responses
		}()
	}
	reply.Responses = append(reply.Responses, s.lanKeyring.KeyringOperation(ctx, args.Operation, args.Key))
	wg.Wait()
	for _, rs := range results {
		reply.Responses = append(reply.Responses, rs...)
	}
	return nil
}
