//go:build unix

package sigstack

import (
	"os/exec"
	"syscall"
)

// inOwnGroup makes the process lead its own process group, so stopping it
// also stops anything it started; on Linux it is also killed if the test
// process dies without running Close (a panic, a -timeout).
func inOwnGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
}

// killGroup kills the process group of a started process.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
