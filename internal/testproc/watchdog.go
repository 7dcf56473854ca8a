package testproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// init turns a test binary started by Start into the watchdog of one
// program; in every other process it does nothing.
func init() {
	if s, ok := os.LookupEnv(wrapEnv); ok {
		os.Exit(watch(s))
	}
}

// watch runs the program described by specJSON and returns the watchdog's
// exit status: 0 when the program was stopped, the program's own status
// when it ended by itself (128+signal when a signal ended it).
func watch(specJSON string) int {
	// The program's parent-death signal follows this thread.
	runtime.LockOSThread()
	status := os.NewFile(3, "status")
	syscall.CloseOnExec(3)
	var s spec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		fmt.Fprintf(status, "error bad %s: %v\n", wrapEnv, err)
		return 2
	}
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, wrapEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = programAttr()
	// Asked to stop: stdin closed (the test binary stopped us or ended) or
	// a signal (a parent-death signal, Ctrl-C).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(status, "error %v\n", err)
		removeAll(s.Remove)
		return 127
	}
	pid := cmd.Process.Pid
	fmt.Fprintf(status, "pid %d\n", pid)
	status.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	code := 0
	select {
	case err := <-exited:
		code = exitCode(err)
	case <-stop:
		terminate(pid, exited, s.StopTimeout)
	case <-sigs:
		terminate(pid, exited, s.StopTimeout)
	}
	// Whatever the program started in its group goes with it.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	removeAll(s.Remove)
	return code
}

// terminate sends SIGTERM to the program's group, then SIGKILL when it
// has not ended after timeout, and waits for the program.
func terminate(pid int, exited <-chan error, timeout time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return 1
		}
		return 0
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}

func removeAll(paths []string) {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			fmt.Fprintf(os.Stderr, "testproc: remove %s: %v\n", p, err)
		}
	}
}
