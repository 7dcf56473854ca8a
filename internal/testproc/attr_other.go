//go:build !linux

package testproc

import "syscall"

// Without parent-death signals the watchdog relies on its stdin alone.
func watchdogAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

func programAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
