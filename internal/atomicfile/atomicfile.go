// Package atomicfile writes small state files (node ID, keyring, the
// agent's persisted services and checks) so that a crash or power loss at
// any point leaves either the old content or the new one under the name,
// never an empty or half-written file.
//
// It is not a general file-system layer: it knows nothing of what the
// files hold, and readers decide what a damaged file means.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every temporary file Write creates. A
// file with this prefix is a write that a crash cut short; readers of a
// directory skip such names.
const TempPrefix = ".tmp-"

// IsTemp reports whether name (a base name) is one of Write's temporary
// files.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// Write replaces path with data: it writes a temporary file in the same
// directory (created with mode 0700 if missing), syncs it to disk,
// renames it over path and syncs the directory, so the rename itself is
// durable. perm is the new file's mode. On error the old file, if any,
// is untouched and the temporary file is removed.
func Write(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: writing %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("atomicfile: syncing directory of %s: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems cannot sync a directory; the rename is as
	// durable as they make it.
	if errors.Is(err, fs.ErrInvalid) {
		return nil
	}
	return err
}
