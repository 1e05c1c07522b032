//go:build !unix

package rexec

import "os/exec"

// ownProcessGroup leaves cmd as it is where there are no process groups:
// cancellation kills the command only.
func ownProcessGroup(*exec.Cmd) {}
