package testproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cmd is a program to start.
type Cmd struct {
	// Path is the program; Args its arguments, without the program name.
	Path string
	Args []string
	// Env is added to this process's environment for the program.
	Env []string
	// Dir is the program's working directory; "" means this process's.
	Dir string
	// Stdout and Stderr receive the program's output; nil discards it.
	Stdout, Stderr io.Writer
	// Remove lists files and folders (the program's storage) that the
	// watchdog removes once the program has ended.
	Remove []string
	// StopTimeout is how long a stop waits after SIGTERM before it sends
	// SIGKILL to the program's group; 0 means 5 seconds.
	StopTimeout time.Duration
}

// Process is a program started by Start.
type Process struct {
	// Pid is the program's process id, also the id of its process group.
	Pid int

	name     string
	watchdog *exec.Cmd
	stdin    io.WriteCloser
	timeout  time.Duration
	done     chan struct{}
	err      error // how the watchdog ended, set before done closes
	stopOnce sync.Once
	stopped  bool
}

// spec is what the test binary tells its watchdog, in wrapEnv.
type spec struct {
	Path        string        `json:"path"`
	Args        []string      `json:"args"`
	Dir         string        `json:"dir"`
	Remove      []string      `json:"remove"`
	StopTimeout time.Duration `json:"stop_timeout"`
}

// wrapEnv makes a test binary that imports this package act as the
// watchdog of the program its value describes.
const wrapEnv = "VPCALERTD_TESTPROC_WRAP"

// Start starts c.Path under a watchdog (see the package documentation) and
// returns once the program runs. Errors name the program.
func Start(c Cmd) (*Process, error) {
	name := c.Path
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start %s: find this test binary to watch it: %w", name, err)
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = 5 * time.Second
	}
	sp, err := json.Marshal(spec{Path: c.Path, Args: c.Args, Dir: c.Dir, Remove: c.Remove, StopTimeout: c.StopTimeout})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer statusR.Close()
	cmd := exec.Command(self)
	cmd.Env = append(append(os.Environ(), c.Env...), wrapEnv+"="+string(sp))
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	cmd.ExtraFiles = []*os.File{statusW}
	cmd.SysProcAttr = watchdogAttr()
	// Output the program's own children still hold must not keep Wait.
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		statusW.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, watchdog: cmd, stdin: stdin, timeout: c.StopTimeout, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal follows the thread that forks: keep it
		// for as long as the watchdog runs (it ends with this goroutine).
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	err = <-started
	statusW.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: start its watchdog %s: %w", name, self, err)
	}
	line, err := readStatus(statusR, 30*time.Second)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		<-p.done
		return nil, fmt.Errorf("start %s: %s", name, msg)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "pid "))
	if err != nil || !strings.HasPrefix(line, "pid ") {
		p.Stop()
		return nil, fmt.Errorf("start %s: the watchdog said %q", name, line)
	}
	p.Pid = pid
	return p, nil
}

// readStatus reads the watchdog's one status line.
func readStatus(r *os.File, timeout time.Duration) (string, error) {
	type result struct {
		line string
		err  error
	}
	c := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		c <- result{strings.TrimSuffix(line, "\n"), err}
	}()
	select {
	case res := <-c:
		if res.err != nil {
			return "", fmt.Errorf("the watchdog ended before it started the program (%v)", res.err)
		}
		return res.line, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("the watchdog did not start the program within %v", timeout)
	}
}

// Stop ends the program and everything in its process group: SIGTERM, then
// SIGKILL after Cmd.StopTimeout. It returns once the watchdog has removed
// Cmd.Remove, with an error only when the program had already failed on its
// own. Stop may be called more than once.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			return // it had ended on its own
		default:
		}
		p.stopped = true
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(p.timeout + 10*time.Second):
			_ = p.watchdog.Process.Kill()
			<-p.done
		}
	})
	<-p.done
	if p.stopped {
		return nil
	}
	return p.Err()
}

// Done is closed when the program has ended and the watchdog with it.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err says how the program ended on its own, once Done is closed; nil while
// it runs or when it ended by Stop.
func (p *Process) Err() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	if p.stopped {
		return nil
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return fmt.Errorf("%s ended (exit status 0)", p.name)
	case errors.As(p.err, &ee) && ee.ExitCode() > 128:
		return fmt.Errorf("%s ended by signal %d", p.name, ee.ExitCode()-128)
	case errors.As(p.err, &ee) && ee.Exited():
		return fmt.Errorf("%s ended with exit status %d", p.name, ee.ExitCode())
	}
	return fmt.Errorf("%s: its watchdog ended: %w", p.name, p.err)
}

// Pids returns the process ids of the watchdog and of the program.
func (p *Process) Pids() []int { return []int{p.watchdog.Process.Pid, p.Pid} }
