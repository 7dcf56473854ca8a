package testproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Leftovers is what a started program leaves on the machine while it
// runs: DiesWithTestBinary checks that each is gone once the test binary
// that started it is killed.
type Leftovers struct {
	Pids  []int    // processes (Process.Pids, and any the program reported)
	Addrs []string // TCP addresses it listens on, host:port
	Paths []string // files and folders it keeps
	// Later lists folders that only the next run removes (TempDir), for a
	// program that runs without a watchdog; they are not checked here.
	Later []string
}

// childEnv names the test that a child test binary of DiesWithTestBinary
// runs, and where it writes its Leftovers.
const (
	childEnv  = "VPCALERTD_TESTPROC_CHILD"
	reportEnv = "VPCALERTD_TESTPROC_REPORT"
)

// DiesWithTestBinary checks that what start launches ends with the test
// binary, however that ends. Called from test t, it runs t again in a child
// test binary, where start launches the program and returns its Leftovers,
// and the child kills itself with SIGKILL (no cleanup, no deferred call
// runs). The parent then checks that within 10 seconds every process is
// gone, every address refuses connections and every path is removed.
// When start skips the test in the child (the program is not installed),
// t is skipped with the child's reason. It returns what the child reported.
func DiesWithTestBinary(t *testing.T, start func(t *testing.T) Leftovers) Leftovers {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		left := start(t)
		b, err := json.Marshal(left)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv(reportEnv), b, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL cannot be caught: nothing runs after it
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "leftovers.json")
	cmd := exec.Command(self, "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), reportEnv+"="+report)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A program that outlives the child holds the child's output pipe.
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	b, readErr := os.ReadFile(report)
	var ee *exec.ExitError
	killed := errors.As(err, &ee) && !ee.Exited() && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if readErr != nil || !killed {
		if err == nil && strings.Contains(out.String(), "--- SKIP") {
			t.Skipf("the child test binary skipped:\n%s", out.String())
		}
		t.Fatalf("the child test binary did not start the program and die by SIGKILL (%v, report: %v):\n%s", err, readErr, out.String())
	}
	var left Leftovers
	if err := json.Unmarshal(b, &left); err != nil {
		t.Fatalf("child's report %s: %v", b, err)
	}
	if len(left.Pids) == 0 {
		t.Fatalf("the child reported no process to check: %s", b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		still := remaining(left)
		if len(still) == 0 {
			return left
		}
		if time.Now().After(deadline) {
			for _, pid := range left.Pids { // leave the machine as it was
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			for _, p := range left.Paths {
				_ = os.RemoveAll(p)
			}
			t.Fatalf("10 s after the test binary was killed: %s\nchild output:\n%s", strings.Join(still, "; "), out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// remaining lists what of left is still there.
func remaining(left Leftovers) []string {
	var still []string
	for _, pid := range left.Pids {
		if alive(pid) {
			still = append(still, "process "+strconv.Itoa(pid)+" still runs")
		}
	}
	for _, addr := range left.Addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			still = append(still, addr+" still accepts connections")
		}
	}
	for _, p := range left.Paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			still = append(still, p+" is still there")
		}
	}
	return still
}

// runPattern matches exactly the test (or subtest) named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
