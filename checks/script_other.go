//go:build !unix

package checks

import "os/exec"

// setProcessGroup leaves the default (kill the process only).
func setProcessGroup(cmd *exec.Cmd) {}
