package testproc

import (
	"os/exec"
	"runtime"
)

// Bind starts cmd so that the kernel kills it with SIGKILL when this
// process ends, however it ends (Linux; elsewhere it just starts cmd): for
// a program a test starts and kills itself, such as the daemon under test,
// where a watchdog (Start) would stand between the test and the process.
// The parent-death signal follows the thread that forks, so cmd starts
// from a goroutine locked to its thread until cmd ends. done closes once
// cmd.Wait has returned (cmd.ProcessState is then set); do not call
// cmd.Wait yourself.
func Bind(cmd *exec.Cmd) (done <-chan struct{}, err error) {
	setPdeathsig(cmd)
	started := make(chan error, 1)
	c := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(c)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}
