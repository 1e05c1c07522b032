package rpcmux

import (
	"context"
	"errors"

	"consulate/structs"
)

// Errors returned by this package; decide with errors.Is.
var (
	// ErrClosed is returned by a Mux or Pool that has been shut down.
	ErrClosed = errors.New("rpcmux: closed")
	// ErrMessageTooLarge is returned for a request or reply over the
	// configured MaxMessageSize, on whichever side noticed it.
	ErrMessageTooLarge = errors.New("rpcmux: message too large")
	// ErrHandlerPanic is returned to a caller whose call made the handler
	// panic; the server recovers and keeps serving.
	ErrHandlerPanic = errors.New("rpcmux: handler panicked")
	// ErrTooManyStreams is a stream the server refused because its
	// session already has Config.MaxStreamsPerSession open; the call was
	// not run, so it is safe to retry elsewhere.
	ErrTooManyStreams = errors.New("rpcmux: too many concurrent streams on one session")
	// ErrProtocol is a malformed frame or a reply that does not match its
	// request; the connection or stream it came on is closed.
	ErrProtocol = errors.New("rpcmux: protocol error")
	// ErrDialDirect, returned by PoolConfig.Dialer, asks the pool to dial
	// that address directly from SourceAddr, as it does without a Dialer.
	ErrDialDirect = errors.New("rpcmux: dial directly")
)

// toRemote turns a handler's error into its wire form, adding the codes
// structs.ErrorCode does not know about.
func toRemote(err error) *structs.RemoteError {
	re := structs.ToRemoteError(err)
	if re == nil || re.Code != "" {
		return re
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		re.Code = structs.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		re.Code = structs.CodeCanceled
	case errors.Is(err, ErrMessageTooLarge):
		re.Code = structs.CodeTooLarge
	case errors.Is(err, ErrHandlerPanic):
		re.Code = structs.CodeInternal
	case errors.Is(err, ErrTooManyStreams):
		re.Code = structs.CodeTooManyStreams
	}
	return re
}

// fromRemote turns a wire error back into an error the caller can match:
// always a *structs.RemoteError (reachable with errors.As), and for the
// codes this package adds, also the sentinel they stand for.
func fromRemote(re *structs.RemoteError) error {
	var also error
	switch re.Code {
	case structs.CodeDeadlineExceeded:
		also = context.DeadlineExceeded
	case structs.CodeCanceled:
		also = context.Canceled
	case structs.CodeTooLarge:
		also = ErrMessageTooLarge
	case structs.CodeInternal:
		also = ErrHandlerPanic
	case structs.CodeTooManyStreams:
		also = ErrTooManyStreams
	default:
		return re
	}
	return &remoteError{remote: re, also: also}
}

// remoteError is a RemoteError that also matches a sentinel from outside
// the structs package.
type remoteError struct {
	remote *structs.RemoteError
	also   error
}

func (e *remoteError) Error() string   { return e.remote.Error() }
func (e *remoteError) Unwrap() []error { return []error{e.remote, e.also} }
