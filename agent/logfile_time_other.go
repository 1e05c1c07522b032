//go:build !linux

package agent

import (
	"os"
	"time"
)

// fileCreated is the file's modification time where no birth time is
// read.
func fileCreated(_ string, fi os.FileInfo) time.Time { return fi.ModTime() }
