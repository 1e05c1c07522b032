package agent

import (
	"fmt"
	"os"
	"strconv"
)

// writePIDFile writes this process's PID to path.
func writePIDFile(path string) error {
	if path == "" {
		return nil
	}
	if err := writeFileAtomic(path, []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// removePIDFile removes path if it still holds this process's PID.
func removePIDFile(path string) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(string(trimNL(b))); err == nil && pid == os.Getpid() {
		os.Remove(path)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}
