package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// startWrapped starts the daemon helper, under a wrapper command (such as
// unshare) when wrapper is not empty, bound to the test binary.
func startWrapped(t *testing.T, env, wrapper []string, args ...string) *daemonProc {
	t.Helper()
	argv := append(append(append([]string(nil), wrapper...), os.Args[0]), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	p := &daemonProc{cmd: cmd, stderr: new(syncBuffer)}
	cmd.Stderr = p.stderr
	// Bound: the daemon dies with this test binary, however it ends.
	done, err := testproc.Bind(cmd)
	require.NoError(t, err)
	p.done = done
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// tmpfsWrapper returns a command prefix that runs a program in a user and
// mount namespace of its own where dir is a tmpfs of size bytes holding a
// ballast file of ballast bytes (so no root is needed), or "" and why not
// when this machine does not allow it.
func tmpfsWrapper(t *testing.T, dir string, size, ballast int) ([]string, string) {
	if _, err := exec.LookPath("unshare"); err != nil {
		return nil, "unshare(1) not found"
	}
	script := fmt.Sprintf(`mount -t tmpfs -o size=%d tmpfs "$0" && head -c %d /dev/zero > "$0/ballast" && exec "$@"`, size, ballast)
	probe := exec.Command("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", script, dir, "true")
	if out, err := probe.CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("unshare --user --mount with a tmpfs is not allowed here (%v: %s)", err, bytes.TrimSpace(out))
	}
	return []string{"unshare", "--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", script, dir}, ""
}

var metricsAddr = regexp.MustCompile(`"msg":"metrics endpoint","addr":"([^"]+)"`)

func readyz(t *testing.T, p *daemonProc) int {
	t.Helper()
	m := metricsAddr.FindStringSubmatch(p.stderr.String())
	require.NotNil(t, m, p.stderr.String())
	resp, err := http.Get("http://" + m[1] + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// endsWithLine checks that a file is empty or ends with a newline.
func endsWithLine(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if len(b) > 0 {
		require.Equal(t, byte('\n'), b[len(b)-1], "%s ends in a torn line: %q", path, b[max(0, len(b)-80):])
	}
	return int64(len(b))
}

// TestDiskFull fills the alerts file's disk in the middle of an object: a
// tmpfs of 4 MiB with a 3.5 MiB ballast (in a user and mount namespace of
// the daemon's own, no root needed), or else a file-size limit
// (RLIMIT_FSIZE). The daemon pauses: the file ends in a whole line, nothing
// is marked, a WARN names the path and the room left, /readyz says not
// ready. Once room is back (ballast removed, limit lifted) it carries on,
// and every alert is in the file exactly once. `run --once` stops with exit
// status 1 and that message instead; run again with room, it writes every
// alert exactly once.
func TestDiskFull(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	bucket := srv.NewBucket(t, "diskfull-it")
	want := crashBucket(t, srv, bucket, 6, 300) // about 1.7 MB of alerts
	conf := func(dir, alertsDir string) string {
		return writeConfig(t, dir, fmt.Sprintf(`
state: state.db
interval: 1h
concurrency: 2
disabled_packs: [all]
log: {format: json}
metrics: {listen: "127.0.0.1:0"}
outputs: {file: {path: %s}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, filepath.Join(alertsDir, "alerts.json"), bucket, srv.Endpoint))
	}
	// The daemons retry a refused write soon, so that the pause ends soon
	// after room comes back.
	backoff := "VPCALERTD_TEST_ROOM_BACKOFF=50ms"

	type setup struct {
		start  func(t *testing.T, cfg string, args ...string) *daemonProc
		alerts func(p *daemonProc) string // the alerts file as the test sees it
		room   func(t *testing.T, p *daemonProc)
	}
	modes := map[string]func(t *testing.T, alertsDir string) setup{
		"tmpfs": func(t *testing.T, alertsDir string) setup {
			wrapper, why := tmpfsWrapper(t, alertsDir, 4<<20, 3584<<10)
			if wrapper == nil {
				t.Skip(why + "; the file-size limit case covers the pause")
			}
			in := func(p *daemonProc) string {
				return filepath.Join("/proc", fmt.Sprint(p.cmd.Process.Pid), "root", alertsDir)
			}
			return setup{
				start: func(t *testing.T, cfg string, args ...string) *daemonProc {
					return startWrapped(t, []string{backoff}, wrapper, append([]string{cfg}, args...)...)
				},
				alerts: func(p *daemonProc) string { return filepath.Join(in(p), "alerts.json") },
				room:   func(t *testing.T, p *daemonProc) { require.NoError(t, os.Remove(filepath.Join(in(p), "ballast"))) },
			}
		},
		"fsize": func(t *testing.T, alertsDir string) setup {
			return setup{
				start: func(t *testing.T, cfg string, args ...string) *daemonProc {
					return startDaemonEnv(t, []string{"VPCALERTD_TEST_FSIZE=600000", backoff}, append([]string{cfg}, args...)...)
				},
				alerts: func(*daemonProc) string { return filepath.Join(alertsDir, "alerts.json") },
				room:   func(t *testing.T, p *daemonProc) { require.NoError(t, p.cmd.Process.Signal(syscall.SIGUSR1)) },
			}
		},
	}
	for _, name := range []string{"tmpfs", "fsize"} {
		t.Run(name, func(t *testing.T) {
			dir, alertsDir := t.TempDir(), t.TempDir()
			s := modes[name](t, alertsDir)
			cfg := conf(dir, alertsDir)
			p := s.start(t, cfg)
			p.waitLog(t, `"msg":"disk full: writing alerts refused`, 2*time.Minute)
			var warn map[string]any
			for _, l := range strings.Split(p.stderr.String(), "\n") {
				if strings.Contains(l, `"msg":"disk full: `) {
					require.NoError(t, json.Unmarshal([]byte(l), &warn))
					break
				}
			}
			assert.Equal(t, filepath.Join(alertsDir, "alerts.json"), warn["path"])
			assert.Contains(t, warn, "free_bytes")
			t.Logf("%v", warn)
			assert.Equal(t, http.StatusServiceUnavailable, readyz(t, p), "not ready while the disk is full")
			// Paused: the file ends in a whole line and does not grow.
			size := endsWithLine(t, s.alerts(p))
			assert.Greater(t, size, int64(0), "the disk filled in the middle of the bucket")
			for i := 0; i < 5; i++ {
				time.Sleep(100 * time.Millisecond)
				assert.Equal(t, size, endsWithLine(t, s.alerts(p)))
			}
			assert.NotContains(t, p.stderr.String(), `"msg":"bucket pass"`, "nothing is marked while paused")

			s.room(t, p)
			p.waitLog(t, `"msg":"room is back: carrying on"`, time.Minute)
			p.waitLog(t, `"msg":"pass done"`, 2*time.Minute)
			assert.Equal(t, http.StatusOK, readyz(t, p))
			// Copy the file while the daemon (and its tmpfs) lives.
			final, err := os.ReadFile(s.alerts(p))
			require.NoError(t, err)
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, p.wait(t, time.Minute), p.stderr.String())
			check := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(check, "alerts.json"), final, 0o600))
			checkExactlyOnce(t, check, copyWant(want))
		})
	}

	t.Run("once", func(t *testing.T) {
		dir, alertsDir := t.TempDir(), t.TempDir()
		s := modes["fsize"](t, alertsDir)
		p := s.start(t, conf(dir, alertsDir), "--once")
		require.Equal(t, 1, p.wait(t, 2*time.Minute), p.stderr.String())
		assert.Contains(t, p.stderr.String(), "no room on disk: writing alerts: alerts file "+filepath.Join(alertsDir, "alerts.json")+": ")
		assert.Contains(t, p.stderr.String(), "bytes free); nothing read since the last commit is marked: make room and run again")
		assert.NotContains(t, p.stderr.String(), "waiting for room", "--once does not wait")
		endsWithLine(t, s.alerts(p))

		// Run again with room: every alert once, none of the first run's
		// unmarked ones twice.
		again := startDaemonEnv(t, nil, conf(dir, alertsDir), "--once")
		require.Equal(t, 0, again.wait(t, 2*time.Minute), again.stderr.String())
		for _, l := range strings.Split(again.stderr.String(), "\n") {
			if strings.Contains(l, "alerts file: cut") {
				t.Logf("restart: %s", l)
			}
		}
		checkExactlyOnce(t, alertsDir, copyWant(want))
	})
}

func copyWant(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k := range m {
		out[k] = 0
	}
	return out
}
