package structs

import "errors"

// Errors with meaning across the RPC boundary. They travel with a code
// beside their text (see ErrorCode and RemoteError), so the calling side
// rebuilds them and decides with errors.Is. The texts of ErrNoLeader,
// ErrNoDCPath, ErrNoServers and ErrPermissionDenied are Consul's own:
// clients match on them.
var (
	//lint:ignore ST1005 Consul's exact text; clients match on it.
	ErrNoLeader = errors.New("No cluster leader")
	//lint:ignore ST1005 Consul's exact text; clients match on it.
	ErrNoDCPath = errors.New("No path to datacenter")
	//lint:ignore ST1005 Consul's exact text; clients match on it.
	ErrNoServers     = errors.New("No known Consul servers")
	ErrUnknownMethod = errors.New("rpc: can't find method")
	ErrNotFound      = errors.New("not found")
	//lint:ignore ST1005 Consul's exact text; clients match on it.
	ErrPermissionDenied = errors.New("Permission denied")
	// ErrACLNotFound is a token secret nobody knows; the HTTP API answers
	// it 403 "ACL not found", which the official client recognises.
	ErrACLNotFound = errors.New("ACL not found")
	// ErrUnreachable means a call never reached its server (the dial
	// failed), so retrying it elsewhere cannot apply it twice.
	ErrUnreachable = errors.New("server unreachable")
	// ErrRateLimited is a request refused, without running it, for a
	// rate limit (limits.request_limits in enforcing mode, limits.rpc_rate);
	// another server may take it, and the HTTP API answers it with 429.
	ErrRateLimited = errors.New("rate limit exceeded")
)

// ACLRefused reports whether err is the servers refusing a request's
// token: permission denied, or a token nobody knows.
func ACLRefused(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrACLNotFound)
}

// ErrUnknownDC is returned for a datacenter nobody knows.
type ErrUnknownDC struct {
	DC    string
	Known []string
}

func (e *ErrUnknownDC) Error() string {
	return "unknown datacenter " + quote(e.DC) + knownList(e.Known)
}

func quote(s string) string { return "\"" + s + "\"" }

func knownList(known []string) string {
	if len(known) == 0 {
		return ""
	}
	s := " (known datacenters:"
	for _, k := range known {
		s += " " + k
	}
	return s + ")"
}

// Error codes carried beside an error's text across the RPC boundary, so
// the receiving side can rebuild a sentinel without matching message text.
const (
	CodeNoLeader      = "no-leader"
	CodeNoDCPath      = "no-dc-path"
	CodeNoServers     = "no-servers"
	CodeUnknownDC     = "unknown-dc"
	CodeUnknownMethod = "unknown-method"
	CodeNotFound      = "not-found"
	CodeBadRequest    = "bad-request"
	CodeRateLimited   = "rate-limited"
	CodePermission    = "permission-denied"
	CodeACLNotFound   = "acl-not-found"

	// Codes the RPC layer (rpcmux) sets for failures that have no
	// sentinel in this package; the calling side maps them back to
	// context.DeadlineExceeded, context.Canceled and rpcmux's own
	// sentinels, so callers still decide with errors.Is.
	CodeDeadlineExceeded = "deadline-exceeded"
	CodeCanceled         = "canceled"
	CodeTooLarge         = "too-large"
	CodeInternal         = "internal"
	CodeTooManyStreams   = "too-many-streams"
)

// BadRequestError is a request the caller got wrong; the HTTP API answers
// it with 400.
type BadRequestError struct{ Reason string }

func (e *BadRequestError) Error() string { return e.Reason }

// ErrorCode returns the code for err, or "" for an error without one.
func ErrorCode(err error) string {
	var udc *ErrUnknownDC
	var bad *BadRequestError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoLeader):
		return CodeNoLeader
	case errors.Is(err, ErrNoDCPath):
		return CodeNoDCPath
	case errors.Is(err, ErrNoServers):
		return CodeNoServers
	case errors.As(err, &udc):
		return CodeUnknownDC
	case errors.Is(err, ErrUnknownMethod):
		return CodeUnknownMethod
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrRateLimited):
		return CodeRateLimited
	case errors.Is(err, ErrPermissionDenied):
		return CodePermission
	case errors.Is(err, ErrACLNotFound):
		return CodeACLNotFound
	case errors.Is(err, ErrSubscriptionClosed):
		return CodeSubscriptionClosed
	case errors.As(err, &bad):
		return CodeBadRequest
	}
	return ""
}

// RemoteError is an error that came back from another server. Is lets
// errors.Is match the sentinel its code names.
type RemoteError struct {
	Code string
	Msg  string
	// DC and Known are set for CodeUnknownDC.
	DC    string
	Known []string
}

func (e *RemoteError) Error() string { return e.Msg }

// Is reports whether the remote error stands for target.
func (e *RemoteError) Is(target error) bool {
	switch e.Code {
	case CodeNoLeader:
		return target == ErrNoLeader
	case CodeNoDCPath:
		return target == ErrNoDCPath
	case CodeNoServers:
		return target == ErrNoServers
	case CodeUnknownMethod:
		return target == ErrUnknownMethod
	case CodeNotFound:
		return target == ErrNotFound
	case CodeRateLimited:
		return target == ErrRateLimited
	case CodeACLNotFound:
		return target == ErrACLNotFound
	case CodePermission:
		return target == ErrPermissionDenied
	case CodeSubscriptionClosed:
		return target == ErrSubscriptionClosed
	}
	return false
}

// As lets errors.As find *ErrUnknownDC and *BadRequestError behind a
// remote error.
func (e *RemoteError) As(target any) bool {
	switch t := target.(type) {
	case **ErrUnknownDC:
		if e.Code == CodeUnknownDC {
			*t = &ErrUnknownDC{DC: e.DC, Known: e.Known}
			return true
		}
	case **BadRequestError:
		if e.Code == CodeBadRequest {
			*t = &BadRequestError{Reason: e.Msg}
			return true
		}
	}
	return false
}

// ToRemoteError turns any error into the form that crosses the wire.
func ToRemoteError(err error) *RemoteError {
	if err == nil {
		return nil
	}
	re := &RemoteError{Code: ErrorCode(err), Msg: err.Error()}
	var udc *ErrUnknownDC
	if errors.As(err, &udc) {
		re.DC, re.Known = udc.DC, udc.Known
	}
	return re
}
