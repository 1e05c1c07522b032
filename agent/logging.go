package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"strings"

	"consulate/config"
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
	l, _, err := newLogger(logSetup{out: out, level: level, facility: facility, json: json, syslog: useSyslog})
	return l, err
}

// logSetup is what newLogger builds the agent's logger from.
type logSetup struct {
	out             io.Writer
	level, facility string
	json, syslog    bool
	// file is log_file; no file when its Path is empty.
	file config.LogFile
	// syslogNet and syslogAddr dial a syslog server instead of the local
	// daemon (tests listen on a unixgram socket).
	syslogNet, syslogAddr string
	// levelVar, when set, carries the level (set to level here), so that
	// a reload can change it later.
	levelVar *slog.LevelVar
}

// agentLogSetup is the agent's logging configuration: out and the
// monitor hub, log_file, log_json, syslog.
func agentLogSetup(rt *config.Runtime, opts Options, out io.Writer, hub io.Writer) logSetup {
	return logSetup{
		out: fanout{out, hub}, level: rt.LogLevel, facility: rt.SyslogFacility, json: rt.LogJSON,
		syslog: rt.EnableSyslog, file: rt.LogFile, syslogNet: opts.syslogNet, syslogAddr: opts.syslogAddr,
	}
}

// newLogger builds the logger of s. Records go to s.out and, when set, to
// the log file (in the same text or JSON form) and to syslog. The closer
// releases the file and the syslog connection.
func newLogger(s logSetup) (*slog.Logger, io.Closer, error) {
	lvl, err := ParseLevel(s.level)
	if err != nil {
		return nil, nil, err
	}
	lv := s.levelVar
	if lv == nil {
		lv = new(slog.LevelVar)
	}
	lv.Set(lvl)
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey && len(groups) == 0 {
			if l, ok := a.Value.Any().(slog.Level); ok && l == LevelTrace {
				a.Value = slog.StringValue("TRACE")
			}
		}
		return a
	}}
	var closers closeAll
	out := fanout{s.out}
	if s.file.Path != "" {
		f, err := openLogFile(s.file)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, f)
		out = append(out, f)
	}
	var h slog.Handler
	if s.json {
		h = slog.NewJSONHandler(out, opts)
	} else {
		h = slog.NewTextHandler(out, opts)
	}
	if s.syslog {
		fac, err := syslogFacility(s.facility)
		if err != nil {
			closers.Close()
			return nil, nil, err
		}
		// The priority given here is only a default: every record is
		// written at its own severity (syslogSeverity).
		var w *syslog.Writer
		if s.syslogAddr != "" {
			w, err = syslog.Dial(s.syslogNet, s.syslogAddr, fac|syslog.LOG_NOTICE, "consulate")
		} else {
			w, err = syslog.New(fac|syslog.LOG_NOTICE, "consulate")
		}
		if err != nil {
			closers.Close()
			return nil, nil, fmt.Errorf("syslog: %w", err)
		}
		closers = append(closers, w)
		h = &teeHandler{a: h, b: &syslogHandler{w: w, inner: slog.NewTextHandler(io.Discard, opts)}}
	}
	return slog.New(h), closers, nil
}

// fanout writes to every writer and never fails, so a broken output
// (a closed stderr, a full disk) does not keep lines from the others.
type fanout []io.Writer

func (f fanout) Write(p []byte) (int, error) {
	for _, w := range f {
		if w != nil {
			w.Write(p)
		}
	}
	return len(p), nil
}

// closeAll closes each closer, returning the first error.
type closeAll []io.Closer

func (c closeAll) Close() error {
	var first error
	for _, x := range c {
		if err := x.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// syslogFacility maps syslog_facility to its priority bits; the names are
// those Consul accepts.
func syslogFacility(name string) (syslog.Priority, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
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
	case "KERN":
		return syslog.LOG_KERN, nil
	case "USER":
		return syslog.LOG_USER, nil
	case "MAIL":
		return syslog.LOG_MAIL, nil
	case "DAEMON":
		return syslog.LOG_DAEMON, nil
	case "AUTH":
		return syslog.LOG_AUTH, nil
	case "SYSLOG":
		return syslog.LOG_SYSLOG, nil
	case "LPR":
		return syslog.LOG_LPR, nil
	case "NEWS":
		return syslog.LOG_NEWS, nil
	case "UUCP":
		return syslog.LOG_UUCP, nil
	case "CRON":
		return syslog.LOG_CRON, nil
	case "AUTHPRIV":
		return syslog.LOG_AUTHPRIV, nil
	case "FTP":
		return syslog.LOG_FTP, nil
	}
	return 0, fmt.Errorf("unknown syslog facility %q", name)
}

// syslogSeverity is Consul's mapping of log levels to syslog severities,
// one step less severe than the names suggest: trace is LOG_DEBUG, debug
// LOG_INFO, info LOG_NOTICE, warn LOG_WARNING and error LOG_ERR.
func syslogSeverity(l slog.Level) syslog.Priority {
	switch {
	case l >= slog.LevelError:
		return syslog.LOG_ERR
	case l >= slog.LevelWarn:
		return syslog.LOG_WARNING
	case l >= slog.LevelInfo:
		return syslog.LOG_NOTICE
	case l >= slog.LevelDebug:
		return syslog.LOG_INFO
	}
	return syslog.LOG_DEBUG
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
	switch syslogSeverity(r.Level) {
	case syslog.LOG_ERR:
		return s.w.Err(msg)
	case syslog.LOG_WARNING:
		return s.w.Warning(msg)
	case syslog.LOG_NOTICE:
		return s.w.Notice(msg)
	case syslog.LOG_INFO:
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

// closeLogs closes the log file and the syslog connection, once the agent
// has shut down.
func (a *Agent) closeLogs() {
	if a.logClose != nil {
		a.logClose.Close()
	}
}
