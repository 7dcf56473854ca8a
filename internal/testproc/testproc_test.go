package testproc

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverEnv makes this test binary act as a small server: it listens on a
// loopback port, starts a child process (sleep) in its process group,
// prints "ADDR PID" and waits to be killed.
const serverEnv = "VPCALERTD_TESTPROC_TESTSERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sleeper := exec.Command("sleep", "600")
		if err := sleeper.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s %d\n", l.Addr(), sleeper.Process.Pid)
		for {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}
	}
	os.Exit(m.Run())
}

// lines passes a program's output on line by line.
type lines struct {
	w *io.PipeWriter
	c chan string
}

func newLines() *lines {
	r, w := io.Pipe()
	l := &lines{w: w, c: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.c <- sc.Text()
		}
		close(l.c)
	}()
	return l
}

func (l *lines) Write(p []byte) (int, error) { return l.w.Write(p) }

// startServer starts the test server under a watchdog with a storage
// folder and returns what it leaves while it runs.
func startServer(t *testing.T) (*Process, Leftovers) {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := TempDir("vpcalertd-testproc")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o600))
	out := newLines()
	p, err := Start(Cmd{Path: self, Env: []string{serverEnv + "=1"}, Stdout: out, Stderr: os.Stderr, Remove: []string{dir}})
	require.NoError(t, err)
	var hello string
	select {
	case hello = <-out.c:
	case <-time.After(30 * time.Second):
		p.Stop()
		t.Fatal("the test server said nothing within 30 s")
	}
	addr, pidText, _ := strings.Cut(hello, " ")
	sleeper, err := strconv.Atoi(pidText)
	require.NoError(t, err, hello)
	return p, Leftovers{Pids: append(p.Pids(), sleeper), Addrs: []string{addr}, Paths: []string{dir}}
}

// waitGone fails the test unless everything of left is gone within 10 s.
func waitGone(t *testing.T, left Leftovers) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for still := remaining(left); len(still) > 0; still = remaining(left) {
		if time.Now().After(deadline) {
			for _, pid := range left.Pids {
				_ = syscall.Kill(pid, syscall.SIGKILL) // leave the machine as it was
			}
			t.Fatalf("still there after 10 s: %s", strings.Join(still, "; "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The program, its children, its port and its folder go when the test
// binary that started it is killed with SIGKILL.
func TestProgramDiesWithTestBinary(t *testing.T) {
	DiesWithTestBinary(t, func(t *testing.T) Leftovers {
		_, left := startServer(t)
		require.Len(t, remaining(left), 5, "the processes run, the port listens, the folder is there")
		return left
	})
}

// A panicking test binary does not leave its program behind either.
func TestProgramDiesWithPanickingTestBinary(t *testing.T) {
	if os.Getenv("VPCALERTD_TESTPROC_PANIC") == "1" {
		_, left := startServer(t)
		fmt.Printf("LEFTOVERS %d %d %d %s %s\n", left.Pids[0], left.Pids[1], left.Pids[2], left.Addrs[0], left.Paths[0])
		panic("on purpose")
	}
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^TestProgramDiesWithPanickingTestBinary$", "-test.v")
	cmd.Env = append(os.Environ(), "VPCALERTD_TESTPROC_PANIC=1")
	cmd.WaitDelay = time.Second // a program that outlives the child holds its output pipe
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the child test binary panics")
	require.Contains(t, string(out), "panic: on purpose")
	var left Leftovers
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "LEFTOVERS "); ok {
			f := strings.Fields(rest)
			require.Len(t, f, 5)
			for _, s := range f[:3] {
				pid, err := strconv.Atoi(s)
				require.NoError(t, err)
				left.Pids = append(left.Pids, pid)
			}
			left.Addrs, left.Paths = f[3:4], f[4:5]
		}
	}
	require.NotEmpty(t, left.Pids, "the child reports what it started:\n%s", out)
	waitGone(t, left)
}

// Stop ends the program with everything in its process group, and the
// watchdog removes the program's folder.
func TestStopEndsProgramGroup(t *testing.T) {
	p, left := startServer(t)
	require.Len(t, remaining(left), 5, "the processes run, the port listens, the folder is there")
	require.NoError(t, p.Stop())
	waitGone(t, left)
	require.NoError(t, p.Stop(), "a second Stop")
}

// A program that ignores SIGTERM is killed once StopTimeout has passed.
func TestStopKillsProgramIgnoringSIGTERM(t *testing.T) {
	out := newLines()
	p, err := Start(Cmd{Path: "sh", Args: []string{"-c", `trap "" TERM; sleep 600 & echo $!; wait`}, Stdout: out, StopTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	sleeper, err := strconv.Atoi(<-out.c)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, p.Stop())
	t.Logf("stopped in %v", time.Since(start))
	waitGone(t, Leftovers{Pids: append(p.Pids(), sleeper)})
}

// A program that ends on its own says how.
func TestProgramEndingOnItsOwn(t *testing.T) {
	p, err := Start(Cmd{Path: "sh", Args: []string{"-c", "exit 3"}})
	require.NoError(t, err)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("not ended after 30 s")
	}
	assert.EqualError(t, p.Err(), "sh ended with exit status 3")
	assert.EqualError(t, p.Stop(), "sh ended with exit status 3")

	p, err = Start(Cmd{Path: "sh", Args: []string{"-c", "kill -KILL $$"}})
	require.NoError(t, err)
	<-p.Done()
	assert.EqualError(t, p.Err(), "sh ended by signal 9")
}

// A program that cannot start is an error naming it, and its folder is
// removed all the same.
func TestStartFailure(t *testing.T) {
	dir, err := TempDir("vpcalertd-testproc")
	require.NoError(t, err)
	_, err = Start(Cmd{Path: "/nonexistent/server", Remove: []string{dir}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start /nonexistent/server: ")
	assert.Contains(t, err.Error(), "no such file or directory")
	assert.NoDirExists(t, dir)
}

// TempDir removes the folders of its prefix left by processes that are
// gone, and only those.
func TestTempDirSweepsStaleFolders(t *testing.T) {
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	dead := gone.Process.Pid
	parent := t.TempDir()
	mk := func(name string) string {
		p := filepath.Join(parent, name)
		require.NoError(t, os.MkdirAll(filepath.Join(p, "sub"), 0o755))
		return p
	}
	stale := mk(fmt.Sprintf("vpcalertd-x-%d-123", dead))
	mine := mk(fmt.Sprintf("vpcalertd-x-%d-456", os.Getpid()))
	odd := mk("vpcalertd-x-notapid-789")
	other := mk(fmt.Sprintf("vpcalertd-y-%d-123", dead))
	require.NoError(t, sweep(parent, "vpcalertd-x"))
	assert.NoDirExists(t, stale)
	assert.DirExists(t, mine)
	assert.DirExists(t, odd)
	assert.DirExists(t, other)

	dir, err := TempDir("vpcalertd-testproc")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	assert.True(t, strings.HasPrefix(filepath.Base(dir), fmt.Sprintf("vpcalertd-testproc-%d-", os.Getpid())), dir)
}

// Descendants finds the program's child below the watchdog.
func TestDescendants(t *testing.T) {
	p, left := startServer(t)
	defer p.Stop()
	assert.ElementsMatch(t, left.Pids[1:], Descendants(left.Pids[0]))
	assert.Subset(t, Descendants(os.Getpid()), left.Pids)
}

// A program started with Bind dies with the test binary too.
func TestBoundProgramDiesWithTestBinary(t *testing.T) {
	DiesWithTestBinary(t, func(t *testing.T) Leftovers {
		cmd := exec.Command("sleep", "600")
		done, err := Bind(cmd)
		require.NoError(t, err)
		select {
		case <-done:
			t.Fatal("sleep ended at once")
		default:
		}
		return Leftovers{Pids: []int{cmd.Process.Pid}}
	})
}

// Bind's done closes when the program ends, with its state.
func TestBindDone(t *testing.T) {
	cmd := exec.Command("sh", "-c", "exit 4")
	done, err := Bind(cmd)
	require.NoError(t, err)
	<-done
	assert.Equal(t, 4, cmd.ProcessState.ExitCode())
	_, err = Bind(exec.Command("/nonexistent/prog"))
	assert.Error(t, err)
}
