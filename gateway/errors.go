package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoGateway: a Dialer has no local gateway to use.
var ErrNoGateway = errors.New("gateway: no alive local gateway")

// RefusedError is a gateway's answer that it cannot do what was asked;
// Reason names the gateway that refused (perhaps one further along the
// path) and why.
type RefusedError struct {
	Gateway string // the gateway the client talked to
	Reason  string
}

func (e *RefusedError) Error() string { return e.Reason }

// DialError lists the local gateways a Dialer tried and why each failed.
type DialError struct {
	What  string // what was asked, e.g. `conn to dc2 127.0.0.21:8300`
	Tries []error
}

func (e *DialError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "gateway: %s", e.What)
	if len(e.Tries) == 0 {
		b.WriteString(": no alive local gateway")
	}
	for i, err := range e.Tries {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
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
