package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
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

// RunWithConsulate is a TestMain body for packages that start the built
// binary: it builds cmd/consulate into a temporary directory named after
// prefix (with the race detector when race is set), stores the path in
// *bin, runs the tests and removes the directory. It returns the exit
// code for os.Exit (1 when the build fails).
func RunWithConsulate(m *testing.M, prefix string, race bool, bin *string) int {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildConsulate(dir, race); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
