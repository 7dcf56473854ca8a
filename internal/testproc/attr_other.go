//go:build !linux

package testproc

import (
	"os/exec"
	"syscall"
)

// Without parent-death signals the watchdog relies on its stdin alone.
func watchdogAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func programAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func setPdeathsig(*exec.Cmd) {}
