package rpcmux

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"consulate/structs"
)

// logBuffer collects a logger's output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineWith returns the first line holding every one of parts, or "".
func (b *logBuffer) lineWith(parts ...string) string {
	for line := range strings.SplitSeq(b.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
	return ""
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startLoggedServer is startServer with the mux logging into a buffer.
func startLoggedServer(t testing.TB, cfg Config, addr string) (*testServer, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	h := newTestHandler()
	m, err := New(cfg, h, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{mux: m, h: h, ln: &countingListener{Listener: ln}, addr: structs.ServerAddr(ln.Addr().String()), serveCh: make(chan error, 1)}
	go func() { s.serveCh <- s.mux.Serve(s.ln) }()
	t.Cleanup(func() { s.stop(t) })
	return s, logs
}
