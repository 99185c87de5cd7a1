//go:build !unix

package generate

import "os/exec"

// killGroup leaves cmd as it is: without Unix process groups, cancellation kills the program
// only, and WaitDelay bounds the wait for what it started.
func killGroup(*exec.Cmd) {}

// stopGroup kills the program.
func stopGroup(cmd *exec.Cmd) error { return cmd.Process.Kill() }
