package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"
)

// LevelTrace is below slog's debug, for Consul's "trace".
const LevelTrace = slog.Level(-8)

// ParseLevel maps Consul's log levels to slog levels.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "err", "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (trace, debug, info, warn, err)", s)
}

// NewLogger builds the agent's logger: text or JSON to out, and, when
// useSyslog is set, a copy of every record to the local syslog daemon
// under facility (LOCAL0 by default) with the tag "consulate".
func NewLogger(out io.Writer, level, facility string, json, useSyslog bool) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey && len(groups) == 0 {
			if l, ok := a.Value.Any().(slog.Level); ok && l == LevelTrace {
				a.Value = slog.StringValue("TRACE")
			}
		}
		return a
	}}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(out, opts)
	} else {
		h = slog.NewTextHandler(out, opts)
	}
	if useSyslog {
		fac, err := syslogFacility(facility)
		if err != nil {
			return nil, err
		}
		w, err := syslog.New(fac|syslog.LOG_INFO, "consulate")
		if err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
		h = &teeHandler{a: h, b: &syslogHandler{w: w, inner: slog.NewTextHandler(io.Discard, opts), opts: opts}}
	}
	return slog.New(h), nil
}

func syslogFacility(name string) (syslog.Priority, error) {
	switch strings.ToUpper(name) {
	case "", "LOCAL0":
		return syslog.LOG_LOCAL0, nil
	case "LOCAL1":
		return syslog.LOG_LOCAL1, nil
	case "LOCAL2":
		return syslog.LOG_LOCAL2, nil
	case "LOCAL3":
		return syslog.LOG_LOCAL3, nil
	case "LOCAL4":
		return syslog.LOG_LOCAL4, nil
	case "LOCAL5":
		return syslog.LOG_LOCAL5, nil
	case "LOCAL6":
		return syslog.LOG_LOCAL6, nil
	case "LOCAL7":
		return syslog.LOG_LOCAL7, nil
	case "USER":
		return syslog.LOG_USER, nil
	case "DAEMON":
		return syslog.LOG_DAEMON, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q", name)
}

// teeHandler sends each record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (t *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if t.a.Enabled(ctx, r.Level) {
		t.a.Handle(ctx, r.Clone())
	}
	if t.b.Enabled(ctx, r.Level) {
		return t.b.Handle(ctx, r)
	}
	return nil
}

func (t *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &teeHandler{a: t.a.WithAttrs(as), b: t.b.WithAttrs(as)}
}

func (t *teeHandler) WithGroup(name string) slog.Handler {
	return &teeHandler{a: t.a.WithGroup(name), b: t.b.WithGroup(name)}
}

// syslogHandler writes records to syslog at the matching severity.
type syslogHandler struct {
	w     *syslog.Writer
	inner slog.Handler
	opts  *slog.HandlerOptions
	attrs []slog.Attr
}

func (s *syslogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.inner.Enabled(ctx, l)
}

func (s *syslogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range s.attrs {
		write(a)
	}
	r.Attrs(write)
	msg := b.String()
	switch {
	case r.Level >= slog.LevelError:
		return s.w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return s.w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return s.w.Info(msg)
	}
	return s.w.Debug(msg)
}

func (s *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *s
	c.attrs = append(append([]slog.Attr{}, s.attrs...), as...)
	return &c
}

func (s *syslogHandler) WithGroup(string) slog.Handler { return s }
