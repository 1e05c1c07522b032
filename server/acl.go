package server

// ACL endpoints (ACL.*). Replies: TokenSet and Bootstrap answer
// *structs.ACLToken, PolicySet *structs.ACLPolicy, RoleSet *structs.ACLRole
// (the stored object, as Consul); the deletes answer *string (the ID);
// reads and lists answer the structs.ACL*Response types, with a nil object
// when it does not exist. With ACLs off every endpoint fails with
// structs.ErrACLDisabled (joined with a *structs.BadRequestError).
//
// Writes of policies, roles, global tokens and the bootstrap run in the
// primary datacenter: a secondary forwards them there through the
// Forwarder. Local tokens are written in their own datacenter. Reads are
// answered from the local state (in a secondary, the replica).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"consulate/acl"
	"consulate/catalog"
	"consulate/structs"
)

// ACLBootstrapResetFile is the file in the data dir whose content (a Raft
// index) allows one more ACL bootstrap, as Consul's acl-bootstrap-reset.
const ACLBootstrapResetFile = "acl-bootstrap-reset"

// aclAccess is the access an ACL endpoint needs of the caller's token.
type aclAccess string

const (
	aclRead  aclAccess = "read"
	aclWrite aclAccess = "write"
)

// authorize is the one hook where the ACL endpoints check the caller's
// token (secret) for access to resource/name, with this server's state
// (see authz.go).
func (s *Server) authorize(secret, resource, name string, access aclAccess) error {
	a := acl.AccessRead
	if access == aclWrite {
		a = acl.AccessWrite
	}
	return s.checkToken(secret, acl.Resource(resource), name, a)
}

// redactSecrets reports whether the caller's token lacks acl:write, so
// the tokens it reads show their SecretID as "<hidden>" (as Consul).
func (s *Server) redactSecrets(secret string) bool {
	z, err := s.authorizer(secret)
	return err != nil || !z.isManagement()
}

// redactToken returns t with its secret hidden.
func redactToken(t *structs.ACLToken) *structs.ACLToken {
	if t == nil {
		return nil
	}
	cp := *t
	cp.SecretID = redactedToken
	return &cp
}

// validateRules checks a policy's rules (HCL or JSON) with package acl's
// parser: a bad rule is a 400 naming its line.
func (s *Server) validateRules(rules string) error {
	if _, err := acl.ParsePolicy(rules); err != nil {
		return &structs.BadRequestError{Reason: "Failed to parse ACL rules: " + err.Error()}
	}
	return nil
}

// notFoundError is an object that does not exist, with Consul's text;
// errors.Is(err, structs.ErrNotFound) holds.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == structs.ErrNotFound }

func notFound(format string, a ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, a...)}
}

func aclDisabled() error {
	return &requestError{bad: &structs.BadRequestError{Reason: structs.ErrACLDisabled.Error()}, cause: structs.ErrACLDisabled}
}

// primaryDC is the authoritative ACL datacenter.
func (s *Server) primaryDC() string {
	if s.cfg.PrimaryDatacenter == "" {
		return s.cfg.Datacenter
	}
	return s.cfg.PrimaryDatacenter
}

func (s *Server) inPrimaryDC() bool { return s.primaryDC() == s.cfg.Datacenter }

func tokenExpired(t *structs.ACLToken, now time.Time) bool {
	return t != nil && t.ExpirationTime != nil && !t.ExpirationTime.IsZero() && !t.ExpirationTime.After(now)
}

var validACLName = regexp.MustCompile(`^[A-Za-z0-9\-_]{1,128}$`)

// aclWrite runs fn on the leader of the datacenter the write belongs to:
// the primary when toPrimary and this is a secondary (dc is set to it and
// the request forwarded), else the local leader.
func (s *Server) aclWrite(ctx context.Context, method structs.Method, args any, dc *string, reply any, toPrimary bool, fn func() error) error {
	if !s.cfg.ACLsEnabled {
		return aclDisabled()
	}
	if toPrimary && !s.inPrimaryDC() {
		if s.forwarder == nil {
			return &structs.ErrUnknownDC{DC: s.primaryDC(), Known: []string{s.cfg.Datacenter}}
		}
		*dc = s.primaryDC()
		return s.forwarder.ForwardDC(ctx, structs.Datacenter(*dc), method, args, reply)
	}
	if !s.IsLeader() {
		return s.forwardLeader(ctx, method, args, reply, nil)
	}
	if err := s.waitLeaderReady(ctx); err != nil {
		return err
	}
	return fn()
}

// aclRead runs a read, after the ACLs-enabled and authorization checks.
func (s *Server) aclRead(ctx context.Context, opts *structs.QueryOptions, meta *structs.QueryMeta,
	fn func(ws memdb.WatchSet, st *catalog.Store) error) error {
	if !s.cfg.ACLsEnabled {
		return aclDisabled()
	}
	return s.blockingQuery(ctx, opts, meta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Checked on every wake, so a token revoked while it waits
		// stops reading at once.
		if err := s.authorize(opts.Token, "acl", "", aclRead); err != nil {
			return err
		}
		return fn(ws, st)
	})
}

// aclReadUnchecked is aclRead without the authorization hook.
func (s *Server) aclReadUnchecked(ctx context.Context, opts *structs.QueryOptions, meta *structs.QueryMeta,
	fn func(ws memdb.WatchSet, st *catalog.Store) error) error {
	if !s.cfg.ACLsEnabled {
		return aclDisabled()
	}
	return s.blockingQuery(ctx, opts, meta, fn)
}

func newUUID() (string, error) { return uuid.GenerateUUID() }

func isUUID(s string) bool {
	_, err := uuid.ParseUUID(s)
	return err == nil
}

// --- tokens ---

func (s *Server) aclTokenSet(ctx context.Context, args *structs.ACLTokenSetRequest, reply *structs.ACLToken) error {
	return s.aclWrite(ctx, structs.MethodACLTokenSet, args, &args.Datacenter, reply, !args.ACLToken.Local, func() error {
		if err := s.authorize(args.WriteRequest.Token, "acl", "", aclWrite); err != nil {
			return err
		}
		t, err := s.prepareToken(args)
		if err != nil {
			return err
		}
		if _, err := s.raftApply(catalog.ACLTokenSetType, &catalog.ACLTokenBatchSetRequest{
			Tokens: []*structs.ACLToken{t}, Create: args.Create}); err != nil {
			return err
		}
		_, stored, err := s.State().ACLTokenGetByAccessor(nil, t.AccessorID)
		if err != nil {
			return err
		}
		if stored == nil {
			return fmt.Errorf("token %q not stored", t.AccessorID)
		}
		*reply = *stored
		return nil
	})
}

// prepareToken checks a token write against the state and fills what the
// server chooses: IDs, CreateTime, ExpirationTime.
func (s *Server) prepareToken(args *structs.ACLTokenSetRequest) (*structs.ACLToken, error) {
	t := args.ACLToken
	st := s.State()
	now := time.Now()
	if args.Create {
		switch {
		case t.AccessorID == "":
			id, err := newUUID()
			if err != nil {
				return nil, err
			}
			t.AccessorID = id
		case !isUUID(t.AccessorID):
			return nil, badRequest("Invalid Token: AccessorID is not a valid UUID")
		default:
			if _, old, err := st.ACLTokenGetByAccessor(nil, t.AccessorID); err != nil {
				return nil, err
			} else if old != nil || t.AccessorID == structs.ACLTokenAnonymousID {
				return nil, badRequest("Invalid Token: AccessorID is already in use")
			}
		}
		switch {
		case t.SecretID == "":
			id, err := newUUID()
			if err != nil {
				return nil, err
			}
			t.SecretID = id
		case !isUUID(t.SecretID):
			return nil, badRequest("Invalid Token: SecretID is not a valid UUID")
		default:
			if _, old, err := st.ACLTokenGetBySecret(nil, t.SecretID); err != nil {
				return nil, err
			} else if old != nil {
				return nil, badRequest("Invalid Token: SecretID is already in use")
			}
		}
		minTTL := s.cfg.ACLTokenMinExpirationTTL
		if t.ExpirationTTL < 0 {
			return nil, badRequest("Token Expiration TTL '%s' should be > 0", t.ExpirationTTL)
		}
		if t.ExpirationTTL > 0 && t.ExpirationTTL < minTTL {
			return nil, badRequest("Token Expiration TTL '%s' should be > %s", t.ExpirationTTL, minTTL)
		}
		if t.ExpirationTTL > 0 {
			if t.ExpirationTime != nil && !t.ExpirationTime.IsZero() {
				return nil, badRequest("Token Expiration TTL and Expiration Time cannot both be set")
			}
			exp := now.Add(t.ExpirationTTL)
			t.ExpirationTime = &exp
		}
		if t.ExpirationTime != nil && t.ExpirationTime.IsZero() {
			t.ExpirationTime = nil
		}
		if t.ExpirationTime != nil && !t.ExpirationTime.After(now) {
			return nil, badRequest("ExpirationTime cannot be in the past")
		}
		if t.ExpirationTime != nil && t.ExpirationTime.Before(now.Add(minTTL)) {
			return nil, badRequest("ExpirationTime cannot be less than %s in the future", minTTL)
		}
		t.CreateTime = now
	} else {
		if t.AccessorID == "" {
			return nil, badRequest("Invalid Token: AccessorID is required to update a token")
		}
		_, old, err := st.ACLTokenGetByAccessor(nil, t.AccessorID)
		if err != nil {
			return nil, err
		}
		if old == nil || tokenExpired(old, now) {
			return nil, notFound("Cannot find token %q", t.AccessorID)
		}
		if t.SecretID == "" {
			t.SecretID = old.SecretID
		} else if t.SecretID != old.SecretID {
			return nil, badRequest("Changing a token's SecretID is not permitted")
		}
		if t.Local != old.Local {
			return nil, badRequest("Cannot toggle local mode of %s", t.AccessorID)
		}
		if (t.ExpirationTime != nil && !t.ExpirationTime.IsZero() && (old.ExpirationTime == nil || !t.ExpirationTime.Equal(*old.ExpirationTime))) ||
			(t.ExpirationTTL != 0 && t.ExpirationTTL != old.ExpirationTTL) {
			return nil, badRequest("Cannot change expiration time of %s", t.AccessorID)
		}
		t.ExpirationTime, t.ExpirationTTL = old.ExpirationTime, old.ExpirationTTL
		t.CreateTime = old.CreateTime
	}
	return &t, nil
}

func (s *Server) aclTokenRead(ctx context.Context, args *structs.ACLTokenGetRequest, reply *structs.ACLTokenResponse) error {
	read := s.aclRead
	if args.BySecret {
		// token/self: the secret is its own credential, no acl:read needed.
		read = s.aclReadUnchecked
		if args.TokenID == "" {
			// No token given: the agent filled in its default one, as
			// Consul reads token/self with it.
			args.TokenID = args.Token
		}
	}
	return read(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		var idx uint64
		var t *structs.ACLToken
		var err error
		if args.BySecret {
			idx, t, err = st.ACLTokenGetBySecret(ws, args.TokenID)
		} else {
			idx, t, err = st.ACLTokenGetByAccessor(ws, args.TokenID)
		}
		if err != nil {
			return err
		}
		if tokenExpired(t, time.Now()) {
			t = nil
		}
		if !args.BySecret && s.redactSecrets(args.Token) {
			t = redactToken(t)
		}
		reply.Index, reply.Token = idx, t
		return nil
	})
}

func (s *Server) aclTokenList(ctx context.Context, args *structs.ACLTokenListRequest, reply *structs.ACLTokensResponse) error {
	local, global := args.IncludeLocal, args.IncludeGlobal
	if !local && !global {
		local, global = true, true
	}
	return s.aclRead(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, all, err := st.ACLTokenList(ws, local, global, args.Policy, args.Role)
		if err != nil {
			return err
		}
		now := time.Now()
		redact := s.redactSecrets(args.Token)
		out := all[:0]
		for _, t := range all {
			if !tokenExpired(t, now) {
				if redact {
					t = redactToken(t)
				}
				out = append(out, t)
			}
		}
		reply.Index, reply.Tokens = idx, out
		return nil
	})
}

func (s *Server) aclTokenDelete(ctx context.Context, args *structs.ACLTokenDeleteRequest, reply *string) error {
	if !s.cfg.ACLsEnabled {
		return aclDisabled()
	}
	// A token this datacenter does not hold as local belongs to the
	// primary (a global token, maybe not replicated yet).
	_, t, err := s.State().ACLTokenGetByAccessor(nil, args.TokenID)
	if err != nil {
		return err
	}
	toPrimary := t == nil || !t.Local
	return s.aclWrite(ctx, structs.MethodACLTokenDelete, args, &args.Datacenter, reply, toPrimary, func() error {
		if err := s.authorize(args.Token, "acl", "", aclWrite); err != nil {
			return err
		}
		if args.TokenID == structs.ACLTokenAnonymousID {
			return badRequest("Deletion of the builtin anonymous token is not permitted")
		}
		_, t, err := s.State().ACLTokenGetByAccessor(nil, args.TokenID)
		if err != nil {
			return err
		}
		if t == nil {
			return fmt.Errorf("%w: cannot find token %q", structs.ErrACLNotFound, args.TokenID)
		}
		if _, err := s.raftApply(catalog.ACLTokenDeleteType, &catalog.ACLTokenBatchDeleteRequest{AccessorIDs: []string{args.TokenID}}); err != nil {
			return err
		}
		*reply = args.TokenID
		return nil
	})
}

// --- policies ---

func (s *Server) aclPolicySet(ctx context.Context, args *structs.ACLPolicySetRequest, reply *structs.ACLPolicy) error {
	return s.aclWrite(ctx, structs.MethodACLPolicySet, args, &args.Datacenter, reply, true, func() error {
		if err := s.authorize(args.Token, "acl", "", aclWrite); err != nil {
			return err
		}
		p := args.Policy
		st := s.State()
		if p.ID == "" {
			id, err := newUUID()
			if err != nil {
				return err
			}
			p.ID = id
		} else {
			_, old, err := st.ACLPolicyGetByID(nil, p.ID)
			if err != nil {
				return err
			}
			if old == nil {
				return notFound("Cannot find policy %s", p.ID)
			}
		}
		if !validACLName.MatchString(p.Name) {
			return badRequest("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed")
		}
		if err := s.validateRules(p.Rules); err != nil {
			return badRequest("Failed to parse policy: %v", err)
		}
		if _, err := s.raftApply(catalog.ACLPolicySetType, &catalog.ACLPolicyBatchSetRequest{Policies: []*structs.ACLPolicy{&p}}); err != nil {
			return err
		}
		_, stored, err := s.State().ACLPolicyGetByID(nil, p.ID)
		if err != nil {
			return err
		}
		if stored == nil {
			return fmt.Errorf("policy %q not stored", p.ID)
		}
		*reply = *stored
		return nil
	})
}

func (s *Server) aclPolicyRead(ctx context.Context, args *structs.ACLPolicyGetRequest, reply *structs.ACLPolicyResponse) error {
	return s.aclRead(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		var err error
		if args.ByName {
			reply.Index, reply.Policy, err = st.ACLPolicyGetByName(ws, args.PolicyID)
		} else {
			reply.Index, reply.Policy, err = st.ACLPolicyGetByID(ws, args.PolicyID)
		}
		return err
	})
}

func (s *Server) aclPolicyList(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.ACLPoliciesResponse) error {
	return s.aclRead(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		var err error
		reply.Index, reply.Policies, err = st.ACLPolicyList(ws)
		return err
	})
}

func (s *Server) aclPolicyDelete(ctx context.Context, args *structs.ACLPolicyDeleteRequest, reply *string) error {
	return s.aclWrite(ctx, structs.MethodACLPolicyDelete, args, &args.Datacenter, reply, true, func() error {
		if err := s.authorize(args.Token, "acl", "", aclWrite); err != nil {
			return err
		}
		if args.PolicyID == structs.ACLPolicyGlobalManagementID {
			return badRequest("Delete operation not permitted on the builtin global-management policy")
		}
		_, p, err := s.State().ACLPolicyGetByID(nil, args.PolicyID)
		if err != nil {
			return err
		}
		if p != nil {
			if _, err := s.raftApply(catalog.ACLPolicyDeleteType, &catalog.ACLPolicyBatchDeleteRequest{PolicyIDs: []string{args.PolicyID}}); err != nil {
				return err
			}
		}
		*reply = args.PolicyID
		return nil
	})
}

// --- roles ---

func (s *Server) aclRoleSet(ctx context.Context, args *structs.ACLRoleSetRequest, reply *structs.ACLRole) error {
	return s.aclWrite(ctx, structs.MethodACLRoleSet, args, &args.Datacenter, reply, true, func() error {
		if err := s.authorize(args.Token, "acl", "", aclWrite); err != nil {
			return err
		}
		r := args.Role
		if r.ID == "" {
			id, err := newUUID()
			if err != nil {
				return err
			}
			r.ID = id
		} else {
			_, old, err := s.State().ACLRoleGetByID(nil, r.ID)
			if err != nil {
				return err
			}
			if old == nil {
				return notFound("Cannot find role %s", r.ID)
			}
		}
		if !validACLName.MatchString(r.Name) {
			return badRequest("Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed")
		}
		if _, err := s.raftApply(catalog.ACLRoleSetType, &catalog.ACLRoleBatchSetRequest{Roles: []*structs.ACLRole{&r}}); err != nil {
			return err
		}
		_, stored, err := s.State().ACLRoleGetByID(nil, r.ID)
		if err != nil {
			return err
		}
		if stored == nil {
			return fmt.Errorf("role %q not stored", r.ID)
		}
		*reply = *stored
		return nil
	})
}

func (s *Server) aclRoleRead(ctx context.Context, args *structs.ACLRoleGetRequest, reply *structs.ACLRoleResponse) error {
	return s.aclRead(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		var err error
		if args.ByName {
			reply.Index, reply.Role, err = st.ACLRoleGetByName(ws, args.RoleID)
		} else {
			reply.Index, reply.Role, err = st.ACLRoleGetByID(ws, args.RoleID)
		}
		return err
	})
}

func (s *Server) aclRoleList(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.ACLRolesResponse) error {
	return s.aclRead(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		var err error
		reply.Index, reply.Roles, err = st.ACLRoleList(ws, "")
		return err
	})
}

func (s *Server) aclRoleDelete(ctx context.Context, args *structs.ACLRoleDeleteRequest, reply *string) error {
	return s.aclWrite(ctx, structs.MethodACLRoleDelete, args, &args.Datacenter, reply, true, func() error {
		if err := s.authorize(args.Token, "acl", "", aclWrite); err != nil {
			return err
		}
		_, r, err := s.State().ACLRoleGetByID(nil, args.RoleID)
		if err != nil {
			return err
		}
		if r != nil {
			if _, err := s.raftApply(catalog.ACLRoleDeleteType, &catalog.ACLRoleBatchDeleteRequest{RoleIDs: []string{args.RoleID}}); err != nil {
				return err
			}
		}
		*reply = args.RoleID
		return nil
	})
}

// --- bootstrap, resolve, replication status ---

// bootstrapResetIndex reads the reset index from the data dir's
// acl-bootstrap-reset file (0 when there is none or it is not a number).
func (s *Server) bootstrapResetIndex() uint64 {
	if s.cfg.DataDir == "" {
		return 0
	}
	raw, err := os.ReadFile(filepath.Join(s.cfg.DataDir, ACLBootstrapResetFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.logger.Warn("reading the ACL bootstrap reset file", "error", err)
		}
		return 0
	}
	idx, err := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		s.logger.Warn("the ACL bootstrap reset file does not hold an index", "error", err)
		return 0
	}
	return idx
}

func (s *Server) aclBootstrap(ctx context.Context, args *structs.ACLBootstrapRequest, reply *structs.ACLToken) error {
	return s.aclWrite(ctx, structs.MethodACLBootstrap, args, &args.Datacenter, reply, true, func() error {
		allowed, resetIdx, err := s.State().ACLCanBootstrap()
		if err != nil {
			return err
		}
		var specified uint64
		if !allowed {
			specified = s.bootstrapResetIndex()
			if specified == 0 {
				return fmt.Errorf("%w (reset index: %d)", structs.ErrACLBootstrapNotAllowed, resetIdx)
			}
			if specified != resetIdx {
				return badRequest("Invalid bootstrap reset index (specified %d, reset index: %d)", specified, resetIdx)
			}
		}
		accessor, err := newUUID()
		if err != nil {
			return err
		}
		secret, err := newUUID()
		if err != nil {
			return err
		}
		t := structs.ACLToken{
			AccessorID:  accessor,
			SecretID:    secret,
			Description: "Bootstrap Token (Global Management)",
			Policies:    []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}},
			CreateTime:  time.Now(),
		}
		if _, err := s.raftApply(catalog.ACLBootstrapType, &catalog.ACLBootstrapRequest{Token: t, ResetIndex: specified}); err != nil {
			return err
		}
		if specified != 0 {
			if err := os.Remove(filepath.Join(s.cfg.DataDir, ACLBootstrapResetFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.logger.Warn("removing the ACL bootstrap reset file", "error", err)
			}
		}
		s.logger.Info("ACL bootstrap completed")
		_, stored, err := s.State().ACLTokenGetByAccessor(nil, accessor)
		if err != nil {
			return err
		}
		if stored == nil {
			return fmt.Errorf("bootstrap token %q not stored", accessor)
		}
		*reply = *stored
		return nil
	})
}

// aclResolve answers everything needed to authorize a secret: the token,
// the policies it links, its roles and their policies. An unknown or
// expired secret answers Token nil.
func (s *Server) aclResolve(ctx context.Context, args *structs.ACLResolveRequest, reply *structs.ACLResolveResponse) error {
	return s.aclReadUnchecked(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, t, err := st.ACLTokenGetBySecret(ws, args.SecretID)
		if err != nil {
			return err
		}
		reply.Index, reply.Token, reply.Policies, reply.Roles = idx, nil, nil, nil
		if t == nil || tokenExpired(t, time.Now()) {
			return nil
		}
		reply.Token = t
		seen := map[string]bool{}
		addPolicy := func(id string) error {
			if seen[id] {
				return nil
			}
			seen[id] = true
			_, p, err := st.ACLPolicyGetByID(ws, id)
			if err == nil && p != nil {
				reply.Policies = append(reply.Policies, p)
			}
			return err
		}
		for _, l := range t.Policies {
			if err := addPolicy(l.ID); err != nil {
				return err
			}
		}
		for _, l := range t.Roles {
			_, r, err := st.ACLRoleGetByID(ws, l.ID)
			if err != nil {
				return err
			}
			if r == nil {
				continue
			}
			reply.Roles = append(reply.Roles, r)
			for _, pl := range r.Policies {
				if err := addPolicy(pl.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// --- leader duties ---

// initializeACLs runs when this server gains leadership with ACLs on: in
// the primary datacenter it makes sure the global-management policy, the
// anonymous token and the configured initial management token exist.
func (s *Server) initializeACLs() error {
	if !s.cfg.ACLsEnabled || !s.inPrimaryDC() {
		return nil
	}
	st := s.State()
	if _, p, err := st.ACLPolicyGetByID(nil, structs.ACLPolicyGlobalManagementID); err != nil {
		return err
	} else if p == nil {
		if _, err := s.raftApply(catalog.ACLPolicySetType, &catalog.ACLPolicyBatchSetRequest{
			Policies: []*structs.ACLPolicy{catalog.GlobalManagementPolicy()}}); err != nil {
			return fmt.Errorf("creating the global-management policy: %w", err)
		}
		s.logger.Info("created the ACL global-management policy")
	}
	if _, t, err := st.ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID); err != nil {
		return err
	} else if t == nil {
		anon := catalog.AnonymousToken()
		anon.CreateTime = time.Now()
		if _, err := s.raftApply(catalog.ACLTokenSetType, &catalog.ACLTokenBatchSetRequest{
			Tokens: []*structs.ACLToken{anon}, Create: true}); err != nil {
			return fmt.Errorf("creating the anonymous token: %w", err)
		}
		s.logger.Info("created the ACL anonymous token")
	}
	if secret := s.cfg.ACLInitialManagementToken; secret != "" {
		if _, t, err := st.ACLTokenGetBySecret(nil, secret); err != nil {
			return err
		} else if t == nil {
			accessor, err := newUUID()
			if err != nil {
				return err
			}
			tok := &structs.ACLToken{
				AccessorID:  accessor,
				SecretID:    secret,
				Description: "Initial Management Token",
				Policies:    []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}},
				CreateTime:  time.Now(),
			}
			if _, err := s.raftApply(catalog.ACLTokenSetType, &catalog.ACLTokenBatchSetRequest{
				Tokens: []*structs.ACLToken{tok}, Create: true}); err != nil {
				return fmt.Errorf("creating the initial management token: %w", err)
			}
			s.logger.Info("created the ACL initial management token")
		}
	}
	return nil
}

// aclTokenReaper deletes expired tokens while this server leads: local
// ones in every datacenter, global ones in the primary. It also retries
// initializeACLs.
func (s *Server) aclTokenReaper() {
	t := time.NewTicker(s.cfg.ACLTokenReapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-t.C:
		}
		select {
		case <-s.leaderReadyCh():
		default:
			continue
		}
		// Also a retry of establishLeadership's initialization.
		if err := s.initializeACLs(); err != nil {
			s.logger.Warn("initializing ACLs", "error", err)
		}
		for _, local := range []bool{true, false} {
			if !local && !s.inPrimaryDC() {
				continue
			}
			if err := s.reapExpiredTokens(local, time.Now()); err != nil {
				s.logger.Warn("reaping expired ACL tokens", "local", local, "error", err)
			}
		}
	}
}

// reapExpiredTokens deletes up to 1024 expired tokens of one kind.
func (s *Server) reapExpiredTokens(local bool, now time.Time) error {
	expired, err := s.State().ACLTokenListExpired(local, now, 1024)
	if err != nil || len(expired) == 0 {
		return err
	}
	ids := make([]string, 0, len(expired))
	for _, t := range expired {
		if t.AccessorID != structs.ACLTokenAnonymousID {
			ids = append(ids, t.AccessorID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.raftApply(catalog.ACLTokenDeleteType, &catalog.ACLTokenBatchDeleteRequest{AccessorIDs: ids}); err != nil {
		return err
	}
	s.logger.Info("reaped expired ACL tokens", "count", len(ids), "local", local)
	return nil
}
