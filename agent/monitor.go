package agent

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// logHub tees the agent's log output to `consulate monitor` streams. It
// sits behind the logger as an io.Writer, so every line the agent writes
// is offered to every subscriber; a subscriber that falls behind loses
// lines rather than slowing the agent.
type logHub struct {
	// mu guards subs.
	mu   sync.Mutex
	subs map[chan []byte]slog.Level
}

func newLogHub() *logHub { return &logHub{subs: map[chan []byte]slog.Level{}} }

// Write implements io.Writer; it never fails.
func (h *logHub) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) == 0 {
		return len(p), nil
	}
	lvl := lineLevel(p)
	for ch, min := range h.subs {
		if lvl < min {
			continue
		}
		select {
		case ch <- bytes.Clone(p):
		default:
		}
	}
	return len(p), nil
}

// lineLevel reads the level of a text or JSON log line.
func lineLevel(p []byte) slog.Level {
	for _, l := range []struct {
		tag []byte
		lvl slog.Level
	}{
		{[]byte("level=TRACE"), LevelTrace}, {[]byte("level=DEBUG"), slog.LevelDebug},
		{[]byte("level=WARN"), slog.LevelWarn}, {[]byte("level=ERROR"), slog.LevelError},
		{[]byte(`"level":"DEBUG"`), slog.LevelDebug}, {[]byte(`"level":"WARN"`), slog.LevelWarn},
		{[]byte(`"level":"ERROR"`), slog.LevelError}, {[]byte(`"level":"TRACE"`), LevelTrace},
	} {
		if bytes.Contains(p, l.tag) {
			return l.lvl
		}
	}
	return slog.LevelInfo
}

// Monitor streams log lines at level or above until ctx ends.
func (a *Agent) Monitor(ctx context.Context, level string) (<-chan []byte, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, 512)
	a.logs.mu.Lock()
	a.logs.subs[ch] = lvl
	a.logs.mu.Unlock()
	go func() {
		<-ctx.Done()
		a.logs.mu.Lock()
		delete(a.logs.subs, ch)
		a.logs.mu.Unlock()
		close(ch)
	}()
	return ch, nil
}
