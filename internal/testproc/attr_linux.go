package testproc

import (
	"os/exec"
	"syscall"
)

// watchdogAttr: the watchdog gets SIGTERM when the test binary ends, and
// stops the program as when its stdin closes.
func watchdogAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// programAttr: the program leads a process group of its own, so that one
// signal reaches its children too, and gets SIGKILL should the watchdog be
// killed.
func programAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// setPdeathsig adds a parent-death SIGKILL to cmd's attributes.
func setPdeathsig(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
