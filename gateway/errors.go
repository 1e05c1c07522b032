package gateway

import (
	"errors"
	"fmt"
)

// ErrNoGateway: a Dialer has no local gateway to use.
var ErrNoGateway = errors.New("gateway: no alive local gateway")

// Codes of Status.Code: refusals a client acts on by kind, not by text.
const (
	// CodeNextUnreachable: the gateway named as Next could not be
	// dialled (down, cut off, or nothing listening).
	CodeNextUnreachable = "next-unreachable"
	// CodeNotGateway: the gateway named as Next answered, but not as a
	// gateway.
	CodeNotGateway = "not-gateway"
)

// ErrNextUnreachable matches (errors.Is) a RefusedError with code
// CodeNextUnreachable.
var ErrNextUnreachable = errors.New("gateway: next gateway is unreachable")

// ErrNotGateway matches (errors.Is) a RefusedError with code
// CodeNotGateway.
var ErrNotGateway = errors.New("gateway: next gateway did not answer as a gateway")

// RefusedError is a gateway's answer that it cannot do what was asked;
// Reason names the gateway that refused (perhaps one further along the
// path) and why; Code, when set, says what kind of refusal it is.
type RefusedError struct {
	Gateway string // the gateway the client talked to
	Reason  string
	Code    string // Status.Code: CodeNextUnreachable, CodeNotGateway or ""
}

func (e *RefusedError) Error() string { return e.Reason }

// Is matches ErrNextUnreachable and ErrNotGateway by Code.
func (e *RefusedError) Is(target error) bool {
	switch target {
	case ErrNextUnreachable:
		return e.Code == CodeNextUnreachable
	case ErrNotGateway:
		return e.Code == CodeNotGateway
	}
	return false
}

// DialError lists the local gateways a Dialer tried and why each failed.
type DialError struct {
	What  string // what was asked, e.g. `conn to dc2 127.0.0.21:8300`
	Tries []error
}

func (e *DialError) Error() string {
	if len(e.Tries) == 0 {
		return "gateway: " + e.What + ": no alive local gateway"
	}
	return "gateway: " + e.What + ": " + joinErrs(e.Tries).Error()
}

// Unwrap gives errors.Is/As every try (and ErrNoGateway when none).
func (e *DialError) Unwrap() []error {
	if len(e.Tries) == 0 {
		return []error{ErrNoGateway}
	}
	return e.Tries
}

func errNoAdvert(addr, reason string) error {
	if reason == "" {
		reason = "answer without an advert"
	}
	return fmt.Errorf("%s: not a gateway probe answer: %s", addr, reason)
}
