package config

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by *Error; decide with errors.Is.
var (
	// ErrUnknownKey is a key no Consul agent config accepts here.
	ErrUnknownKey = errors.New("unknown key")
	// ErrUnsupported is a value Consul accepts that this agent cannot honour
	// safely (cloud auto-join); keys without effect only warn (see
	// IgnoredKeys).
	ErrUnsupported = errors.New("not supported by consulate")
	// ErrInvalid is a value of the wrong type or out of range.
	ErrInvalid = errors.New("invalid value")
	// ErrParse is a file that is not valid JSON or HCL.
	ErrParse = errors.New("parse error")
)

// Error is a configuration error tied to the source that set the value (a
// file path, "flags", "dev" or "" when no single source is to blame) and
// the dotted key path (e.g. "ports.http").
type Error struct {
	Source string
	Key    string
	Err    error
	// Suggestion is a known key close to an unknown one, if any.
	Suggestion string
}

func (e *Error) Error() string {
	msg := "config: "
	if e.Source != "" {
		msg += e.Source + ": "
	}
	if errors.Is(e.Err, ErrUnknownKey) {
		msg += fmt.Sprintf("unknown key %q", e.Key)
		if e.Suggestion != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", e.Suggestion)
		}
		return msg
	}
	if e.Key != "" {
		msg += e.Key + ": "
	}
	return msg + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// invalid builds an ErrInvalid-wrapping error with a reason.
func invalid(format string, args ...any) error {
	return &reasonError{msg: fmt.Sprintf(format, args...), kind: ErrInvalid}
}

// unsupported builds an ErrUnsupported-wrapping error with a reason.
func unsupported(format string, args ...any) error {
	return &reasonError{msg: fmt.Sprintf(format, args...), kind: ErrUnsupported}
}

// reasonError prints only its reason but still matches its sentinel, so
// messages read naturally ("expected a number, got \"abc\"").
type reasonError struct {
	msg  string
	kind error
}

func (r *reasonError) Error() string        { return r.msg }
func (r *reasonError) Is(target error) bool { return target == r.kind }
