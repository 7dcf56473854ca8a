package daemon

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
)

// syncBuffer is a bytes.Buffer that the child's output copier and the test
// may use at the same time.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Bytes() []byte { return []byte(s.String()) }

// daemonProc is the daemon running as a child process (this test binary
// in helper mode).
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   <-chan struct{} // closed once the process was waited for
}

func startDaemon(t *testing.T, commitDelay string, args ...string) *daemonProc {
	t.Helper()
	return startDaemonEnv(t, []string{"VPCALERTD_TEST_COMMIT_DELAY=" + commitDelay}, args...)
}

// startDaemonEnv starts the daemon with extra environment variables.
func startDaemonEnv(t *testing.T, env []string, args ...string) *daemonProc {
	t.Helper()
	return startWrapped(t, env, nil, args...)
}

// wait waits for the process to exit and returns its exit code.
func (p *daemonProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		// SIGQUIT first: the Go runtime prints every goroutine's stack.
		_ = p.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		t.Fatalf("daemon did not exit within %v:\n%s", limit, p.stderr.String())
		return -1
	}
}

// kill SIGKILLs the process and waits for it to be gone.
func (p *daemonProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(t, time.Minute)
}

// exited says whether the process has ended.
func (p *daemonProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func alertFiles(t *testing.T, dir string) []string {
	files, err := filepath.Glob(filepath.Join(dir, "alerts*.json"))
	require.NoError(t, err)
	return files
}

func alertBytes(t *testing.T, dir string) int64 {
	var n int64
	for _, f := range alertFiles(t, dir) {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// crashBucket uploads objects×lines flow records and returns the expected
// alert identities (key and source port).
func crashBucket(t *testing.T, srv *s3test.Server, bucket string, objects, lines int) map[string]int {
	want := map[string]int{}
	for i := 0; i < objects; i++ {
		k := flowKey("111111111111", []string{"us-east-1", "eu-west-1"}[i%2], "2024-03-05", fmt.Sprintf("fl-%04d", i), i)
		srv.Put(t, bucket, k, gz(t, flowBody("111111111111", lines, 10000, true)))
		for n := 0; n < lines; n++ {
			want[k+" "+fmt.Sprint(10000+n)] = 0
		}
	}
	return want
}

// checkExactlyOnce reads the union of the alert files (rotated ones
// included) and checks that each expected alert is there exactly once. It
// returns, by object key, how many of its expected alerts are missing.
func checkExactlyOnce(t *testing.T, dir string, want map[string]int) map[string]int {
	t.Helper()
	ids := map[string]bool{}
	extra := 0
	for _, a := range readAlerts(t, alertFiles(t, dir)...) {
		k := a.File + " " + a.SrcPort
		if _, ok := want[k]; !ok {
			extra++
			continue
		}
		want[k]++
		assert.False(t, ids[a.ID], "alert id %s used twice", a.ID)
		ids[a.ID] = true
	}
	missing, dup := 0, 0
	lost := map[string]int{}
	for k, n := range want {
		switch {
		case n == 0:
			missing++
			lost[k[:strings.LastIndexByte(k, ' ')]]++
		case n > 1:
			dup++
		}
	}
	assert.Zero(t, extra, "unexpected alerts")
	assert.Zero(t, missing, "alerts lost")
	assert.Zero(t, dup, "alerts repeated")
	return lost
}

// TestCrashExactlyOnce kills the daemon with SIGKILL at several points while
// it reads a bucket, restarts it, and checks that the alert files together
// hold every alert exactly once.
func TestCrashExactlyOnce(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "crash-it")
	want := crashBucket(t, srv, bucket, 40, 300)
	total := int64(len(want)) * 900 // bytes, roughly
	// Seven kills, with the default limits.crashes_per_object (3): a kill
	// counts only against the objects being read when it comes, not those
	// read and waiting for their commit (a loaded run once lost one
	// object's 300 alerts to such a quarantine), and an object a kill cut
	// is read alone after it, so the same object is rarely cut three
	// times; explainLost says so if one is.
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
concurrency: 4
log: {format: json}
outputs: {file: {path: alerts.json, rotate: {max_size: 256KiB}}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))

	// Kill points: as soon as it started, at the first alert byte, then
	// at growing shares of the expected output, each during a commit delay
	// that widens the window between the outputs' sync and the marks.
	thresholds := []int64{-1, 1, total / 5, total / 3, total / 2, total * 2 / 3, total * 5 / 6}
	kills, cuts := 0, 0
	var logs []string // each daemon's log, for the failure message
	for i, th := range thresholds {
		p := startDaemon(t, "15ms", cfg, "--once")
		for !p.exited() {
			if th < 0 || alertBytes(t, dir) >= th {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if p.exited() {
			t.Logf("daemon finished before the kill at %d bytes", th)
			logs = append(logs, p.stderr.String())
			break
		}
		p.kill(t)
		logs = append(logs, p.stderr.String())
		keepForDebug(t, fmt.Sprintf("crash-%02d.log", i), p.stderr.Bytes(), "")
		kills++
		if bytes.Contains(p.stderr.Bytes(), []byte("alerts file: cut")) {
			cuts++
		}
	}
	assert.GreaterOrEqual(t, kills, 4, "the daemon was killed mid-bucket several times")
	t.Logf("%d kills; %d restarts cut uncommitted alerts from the file", kills, cuts)
	p := startDaemon(t, "0s", cfg, "--once")
	require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	logs = append(logs, p.stderr.String())
	keepForDebug(t, "crash-final.log", p.stderr.Bytes(), dir)
	assert.Contains(t, p.stderr.String(), `"msg":"pass done"`)
	assert.Greater(t, len(alertFiles(t, dir)), 1, "the alerts file was rotated")
	explainLost(t, checkExactlyOnce(t, dir, want), logs)
}

// explainLost logs, for each object with alerts missing, how many, and what
// the daemons logged about it (a quarantine, a bad object, a retry).
func explainLost(t *testing.T, lost map[string]int, logs []string) {
	t.Helper()
	keys := make([]string, 0, len(lost))
	for k := range lost {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var said []string
		for run, l := range logs {
			for _, line := range strings.Split(l, "\n") {
				if strings.Contains(line, k) && (strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`)) {
					said = append(said, fmt.Sprintf("  run %d: %s", run, line))
				}
			}
		}
		if len(said) == 0 {
			said = append(said, "  no ERROR or WARN line names it")
		}
		t.Errorf("%d alerts of %s lost; the daemons said:\n%s", lost[k], k, strings.Join(said, "\n"))
	}
}

// TestSIGTERM stops a daemon that is reading a bucket: it exits 0, and a
// restart reads the rest, every alert once.
func TestSIGTERM(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "term-it")
	want := crashBucket(t, srv, bucket, 24, 300)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
interval: 1h
concurrency: 2
shutdown_grace: 20s
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	p := startDaemon(t, "20ms", cfg)
	for alertBytes(t, dir) == 0 && !p.exited() {
		time.Sleep(2 * time.Millisecond)
	}
	require.False(t, p.exited(), p.stderr.String())
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t, 30*time.Second), p.stderr.String())
	assert.Contains(t, p.stderr.String(), "signal: stop taking objects")
	assert.Contains(t, p.stderr.String(), `"msg":"stopped"`)
	p = startDaemon(t, "0s", cfg, "--once")
	require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	checkExactlyOnce(t, dir, want)
}
