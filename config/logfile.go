package config

import (
	"path/filepath"
	"strings"
	"time"
)

// DefaultLogRotateDuration is Consul's log_rotate_duration default.
const DefaultLogRotateDuration = 24 * time.Hour

// DefaultLogFileName is the file name used when log_file names a
// directory (ends in a path separator), as Consul uses "consul.log".
const DefaultLogFileName = "consulate.log"

// LogFile is the agent's log_file and log_rotate_* settings. Path is
// empty when the agent logs to no file.
type LogFile struct {
	// Path is the file the agent writes; rotated files sit beside it as
	// <name>-<unix nanoseconds><ext> (ext ".log" when the name has none).
	Path string
	// RotateBytes rotates the file once this many bytes were written to
	// it; 0 means no size limit.
	RotateBytes int
	// RotateDuration rotates the file after it was written to for this
	// long (default 24h).
	RotateDuration time.Duration
	// RotateMaxFiles is how many rotated files to keep: 0 keeps them all
	// and a negative value keeps none.
	RotateMaxFiles int
}

// logFile builds rt.LogFile from log_file and log_rotate_*, as Consul:
// a log_file ending in a path separator is a directory that gets
// consulate.log, and a zero log_rotate_duration means the 24h default.
func (b *builder) logFile(c *Config, rt *Runtime) error {
	lf := LogFile{
		RotateBytes:    derefOr(c.LogRotateBytes, 0),
		RotateDuration: derefOr(c.LogRotateDuration, 0),
		RotateMaxFiles: derefOr(c.LogRotateMaxFiles, 0),
	}
	if lf.RotateBytes < 0 {
		return b.errorf("log_rotate_bytes", "must not be negative (0 means no size limit), got %d", lf.RotateBytes)
	}
	if lf.RotateDuration < 0 {
		return b.errorf("log_rotate_duration", "must not be negative, got %s", lf.RotateDuration)
	}
	if lf.RotateDuration == 0 {
		lf.RotateDuration = DefaultLogRotateDuration
	}
	if p := str(c.LogFile); strings.TrimSpace(p) != "" {
		dir, name := filepath.Split(p)
		if name == "" {
			name = DefaultLogFileName
		}
		lf.Path = filepath.Join(dir, name)
	}
	rt.LogFile = lf
	return nil
}

func derefOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
