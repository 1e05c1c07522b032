package rpcmux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/structs"
)

// StreamHandler serves streaming methods (structs.IsStreamMethod). A
// Handler may also implement it; its NewCall returns (args, nil, true)
// for a stream method. Stream sends frames with send until ctx is done or
// it returns; its error (nil = the server ended the stream cleanly) is
// the stream's last frame. ctx ends when the client closes the stream,
// its deadline passes or the Mux shuts down. send must not be called
// after Stream returns, nor from two goroutines at once; it fails once
// the frame cannot be delivered (the stream is then over), and with
// ErrMessageTooLarge for a frame over the size limit.
type StreamHandler interface {
	Stream(ctx context.Context, method structs.Method, args any, send func(frame any) error) error
}

// errStreamDone is what send returns after the handler has returned.
var errStreamDone = errors.New("rpcmux: stream already ended")

// serveStream runs one streaming call on w, a stream nothing else uses:
// every frame the handler sends, then the last one with its error.
func (m *Mux) serveStream(ctx context.Context, w io.Writer, hdr *requestHeader, dec frameDecoder, remote string) {
	var mu sync.Mutex // guards done and serialises writes
	done := false
	wd, _ := w.(interface{ SetWriteDeadline(time.Time) error })
	write := func(rh *responseHeader, body any) error {
		if wd != nil {
			// A client that stops reading ends its stream instead of
			// holding the handler forever.
			_ = wd.SetWriteDeadline(time.Now().Add(m.cfg.ConnectionWriteTimeout))
		}
		return m.codec.writeFrame(w, rh, body)
	}
	send := func(frame any) error {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return errStreamDone
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := write(&responseHeader{Seq: hdr.Seq, More: true}, frame)
		if err != nil && !errors.Is(err, ErrMessageTooLarge) {
			m.logger.Debug("writing stream frame", "method", hdr.Method, "remote", remote, "error", err)
			return fmt.Errorf("rpcmux: sending stream frame: %w", err)
		}
		return err
	}

	err := m.runStream(ctx, hdr, dec, send)
	mu.Lock()
	done = true
	mu.Unlock()
	last := responseHeader{Seq: hdr.Seq}
	if err != nil {
		last.Error = toRemote(err)
	}
	if werr := write(&last, nil); werr != nil {
		m.logger.Debug("writing last stream frame", "method", hdr.Method, "remote", remote, "error", werr)
	}
}

// runStream decodes the arguments and runs the StreamHandler under the
// caller's deadline, turning a panic into ErrHandlerPanic.
func (m *Mux) runStream(ctx context.Context, hdr *requestHeader, dec frameDecoder, send func(any) error) (err error) {
	sh, ok := m.h.(StreamHandler)
	if !ok {
		return fmt.Errorf("%w: %q (this server serves no streams)", structs.ErrUnknownMethod, hdr.Method)
	}
	args, _, ok := m.h.NewCall(hdr.Method)
	if !ok {
		return fmt.Errorf("%w: %q", structs.ErrUnknownMethod, hdr.Method)
	}
	if err := dec.decode(args); err != nil {
		return &structs.BadRequestError{Reason: fmt.Sprintf("rpcmux: decoding arguments of %s: %v", hdr.Method, err)}
	}
	if hdr.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(hdr.Timeout))
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			m.logger.Error("stream handler panicked", "method", hdr.Method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %s: %v", ErrHandlerPanic, hdr.Method, r)
		}
	}()
	return sh.Stream(ctx, hdr.Method, args, send)
}

// Stream runs the streaming method (structs.IsStreamMethod) on the server
// at addr of datacenter dc: it sends args, then decodes every frame the
// server sends into a fresh newFrame() and hands it to recv, in order,
// until the stream ends. The stream holds one yamux stream of the
// blocking lane for its whole life; that stream is closed afterwards,
// never reused.
//
// It returns nil when the server ended the stream cleanly; the server's
// error as a *structs.RemoteError (errors.Is works through it, e.g. for
// structs.ErrSubscriptionClosed); ctx's error (wrapped) when ctx ends;
// recv's error as is (the stream is then closed, which cancels the
// server's handler); an error matching structs.ErrUnreachable when the
// server could not be dialled; ErrMessageTooLarge for a frame over the
// limit; otherwise the transport error that broke the stream. Nothing it
// starts outlives it.
func (p *Pool) Stream(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr,
	method structs.Method, args any, newFrame func() any, recv func(frame any) error) error {
	return p.request(ctx, dc, addr, method, args, laneBlocking, "stream", func(s *session, seq uint64, frame []byte) attempt {
		res := p.streamOn(ctx, s, seq, frame, newFrame, recv)
		// recv's error, and the server's once frames came, end the
		// stream as they are; a refusal before any frame may move on.
		return attempt{err: res.err, remote: res.remote, sent: res.sent,
			final: res.fromRecv || (res.remote && res.framed)}
	})
}

// streamResult says how streamOn ended.
type streamResult struct {
	err error
	// remote: err is the server's; fromRecv: err is recv's; sent: some
	// of the request may have reached the server; framed: a frame came.
	remote, fromRecv, sent, framed bool
}

// streamOn runs one stream on a new yamux stream of s.
func (p *Pool) streamOn(ctx context.Context, s *session, seq uint64, frame []byte,
	newFrame func() any, recv func(any) error) (res streamResult) {
	st, err := s.ys.OpenStream()
	if err != nil {
		res.err = err
		return res
	}
	s.streams.add(st)
	defer s.closeStream(st)
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	// On cancel, wake the blocked read or write at once; closing the
	// stream then cancels the server's handler.
	stop := context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	n, err := st.Write(frame)
	if err != nil {
		res.sent, res.err = n > 0, p.streamErr(ctx, s, err)
		return res
	}
	res.sent = true
	for {
		payload, err := p.codec.readFrame(st)
		if err != nil {
			res.err = p.streamErr(ctx, s, err)
			return res
		}
		more, err := p.decodeStreamFrame(payload, seq, newFrame, recv, &res)
		if err != nil || !more {
			res.err = err
			return res
		}
		res.framed = true
	}
}

// decodeStreamFrame decodes one frame of a stream and hands its body to
// recv; more is false at the stream's last frame.
func (p *Pool) decodeStreamFrame(payload []byte, seq uint64, newFrame func() any, recv func(any) error, res *streamResult) (more bool, err error) {
	dec := p.codec.decoder(payload)
	defer dec.release()
	var rh responseHeader
	if err := dec.decode(&rh); err != nil {
		return false, fmt.Errorf("%w: malformed stream frame header: %v", ErrProtocol, err)
	}
	if rh.Seq != seq {
		if rh.Seq == 0 && rh.Error != nil {
			// Refused before the request was read (stream cap, size).
			res.remote = true
			return false, fromRemote(rh.Error)
		}
		return false, fmt.Errorf("%w: stream frame seq %d for request %d", ErrProtocol, rh.Seq, seq)
	}
	if !rh.More {
		if rh.Error != nil {
			res.remote = true
			return false, fromRemote(rh.Error)
		}
		return false, nil
	}
	f := newFrame()
	if err := dec.decode(f); err != nil {
		return false, fmt.Errorf("%w: decoding stream frame: %v", ErrProtocol, err)
	}
	if err := recv(f); err != nil {
		res.fromRecv = true
		return false, err
	}
	return true, nil
}

// streamErr explains a failed read or write of a stream: ctx's end wins,
// wrapped so that the caller sees both.
func (p *Pool) streamErr(ctx context.Context, s *session, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, yamux.ErrTimeout) && s.ys.IsClosed() {
		return yamux.ErrSessionShutdown
	}
	return p.transportErr(ctx, s, err)
}
