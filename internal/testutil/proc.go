package testutil

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
)

// Buffer collects a process's output (stdout and stderr written from
// several goroutines) for waits on its log and for failure reports.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BuildConsulate builds cmd/consulate into dir (with the race detector
// when race is set) and returns the binary's path; the error carries the
// compiler's output.
func BuildConsulate(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "consulate")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "consulate/cmd/consulate")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building consulate: %v\n%s", err, out)
	}
	return bin, nil
}
