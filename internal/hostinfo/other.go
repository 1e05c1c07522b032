//go:build !linux

package hostinfo

import (
	"errors"
	"os"
	"runtime"
)

var errUnsupported = errors.New("not implemented on " + runtime.GOOS)

func readMemory() (*Memory, error) { return nil, errUnsupported }

func readCPU() ([]CPU, error) { return nil, errUnsupported }

func readHost() (*Host, error) {
	h := &Host{OS: runtime.GOOS}
	h.Hostname, _ = os.Hostname()
	return h, nil
}

func readDisk(string) (*Disk, error) { return nil, errUnsupported }
