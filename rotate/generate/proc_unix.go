//go:build unix

package generate

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// killGroup starts cmd in a process group of its own and makes the cancellation of its
// context kill the whole group, so that a timeout also ends what the program started (a
// script's sleep, say), which would otherwise keep its output open.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return stopGroup(cmd) }
}

// stopGroup kills the process group of cmd.
func stopGroup(cmd *exec.Cmd) error {
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}
