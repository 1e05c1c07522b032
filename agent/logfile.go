package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"consulate/config"
)

// logFile is the agent's log_file: an io.Writer that appends to one file
// and rotates it as Consul does. The active file always has the
// configured name; on rotation it is renamed to <name>-<unix nanoseconds>
// <ext> (ext ".log" when the name has none) beside it and a new one is
// opened. It rotates before a write once log_rotate_bytes were written to
// the current file (when set) or log_rotate_duration passed since it was
// opened (an existing file counts from its size and creation time).
// log_rotate_max_files old files are kept: 0 keeps all of them, a
// negative value none.
type logFile struct {
	dir, name string
	maxBytes  int64
	duration  time.Duration
	maxFiles  int
	now       func() time.Time

	// mu guards the fields below.
	mu      sync.Mutex
	f       *os.File
	written int64
	opened  time.Time
	closed  bool
}

// openLogFile prunes old rotated files and opens (appending) the active
// log file, creating its directory.
func openLogFile(cfg config.LogFile) (*logFile, error) {
	dir, name := filepath.Split(cfg.Path)
	if name == "" {
		name = config.DefaultLogFileName
	}
	l := &logFile{
		dir: dir, name: name, maxBytes: int64(cfg.RotateBytes), duration: cfg.RotateDuration,
		maxFiles: cfg.RotateMaxFiles, now: time.Now,
	}
	if l.duration <= 0 {
		l.duration = config.DefaultLogRotateDuration
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("log_file: %w", err)
		}
	}
	if err := l.prune(); err != nil {
		return nil, fmt.Errorf("log_file: pruning old files: %w", err)
	}
	if err := l.open(); err != nil {
		return nil, fmt.Errorf("log_file: %w", err)
	}
	return l, nil
}

func (l *logFile) path() string { return filepath.Join(l.dir, l.name) }

// rotatedPattern is the rotated files' name with %s for the timestamp.
func (l *logFile) rotatedPattern() string {
	ext := filepath.Ext(l.name)
	base := strings.TrimSuffix(l.name, ext)
	if ext == "" {
		ext = ".log"
	}
	return base + "-%s" + ext
}

func (l *logFile) open() error {
	f, err := os.OpenFile(l.path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	// An existing file (an agent restarted) keeps counting from its size
	// and its creation time, so frequent restarts do not defer rotation.
	l.f, l.written, l.opened = f, 0, l.now()
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		l.written = fi.Size()
		if c := fileCreated(l.path(), fi); c.Before(l.opened) {
			l.opened = c
		}
	}
	return nil
}

// rotate closes the active file, renames it with a timestamp, prunes and
// opens a fresh one.
func (l *logFile) rotate() error {
	l.f.Close()
	l.f = nil
	old := filepath.Join(l.dir, fmt.Sprintf(l.rotatedPattern(), strconv.FormatInt(l.now().UnixNano(), 10)))
	if err := os.Rename(l.path(), old); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := l.prune(); err != nil {
		return err
	}
	return l.open()
}

// prune removes the oldest rotated files beyond maxFiles.
func (l *logFile) prune() error {
	if l.maxFiles == 0 {
		return nil
	}
	matches, err := filepath.Glob(filepath.Join(l.dir, fmt.Sprintf(l.rotatedPattern(), "*")))
	if err != nil {
		return err
	}
	// The timestamps have the same number of digits, so names sort by age.
	sort.Strings(matches)
	drop := matches
	if l.maxFiles > 0 {
		if len(matches) <= l.maxFiles {
			return nil
		}
		drop = matches[:len(matches)-l.maxFiles]
	}
	for _, m := range drop {
		if err := os.Remove(m); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// Write appends p to the active file, rotating first when it is due.
func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.f == nil {
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	if (l.maxBytes > 0 && l.written >= l.maxBytes) || l.now().Sub(l.opened) >= l.duration {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.written += int64(n)
	return n, err
}

// Close closes the active file; later writes fail.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
