package agent

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fileCreated is when the file at path was created: its birth time where
// the filesystem records one (never later than its last write), else its
// modification time.
func fileCreated(path string, fi os.FileInfo) time.Time {
	t := fi.ModTime()
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME, &st); err == nil && st.Mask&unix.STATX_BTIME != 0 {
		if b := time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)); b.Before(t) {
			t = b
		}
	}
	return t
}
