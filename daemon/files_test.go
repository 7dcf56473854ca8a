package daemon

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
)

// waitLog waits until the daemon's log holds s, or it exits.
func (p *daemonProc) waitLog(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(p.stderr.String(), s) {
		if p.exited() {
			t.Fatalf("daemon exited before logging %q:\n%s", s, p.stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not log %q within %v:\n%s", s, limit, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSecondDaemonOnStateRefused: a second daemon on the same state file
// exits 1 within seconds, naming the state file and the process holding
// it; the first goes on.
func TestSecondDaemonOnStateRefused(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "second-it")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
interval: 1h
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	first := startDaemon(t, "0s", cfg)
	first.waitLog(t, `"msg":"next pass"`, time.Minute)

	began := time.Now()
	second := startDaemon(t, "0s", cfg)
	require.Equal(t, 1, second.wait(t, 30*time.Second), second.stderr.String())
	took := time.Since(began)
	assert.Less(t, took, 15*time.Second, "refused within seconds (the lock wait is 2 s)")
	msg := second.stderr.String()
	assert.Contains(t, msg, "state file "+filepath.Join(dir, "state.db")+": state file is in use by another process: held by pid "+strconv.Itoa(first.cmd.Process.Pid))
	assert.Contains(t, msg, "one daemon (or state command) per state file")
	assert.False(t, first.exited(), "the first daemon goes on")
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, first.wait(t, 30*time.Second), first.stderr.String())
}

// TestTwoDaemonsRaceForAlertsFile starts two daemons at once with their
// own state files but one alerts file: exactly one gets the file's lock and
// writes every alert once; the other exits 1 naming the lock and its
// holder, and writes nothing (no torn or repeated line).
func TestTwoDaemonsRaceForAlertsFile(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "race-it")
	want := crashBucket(t, srv, bucket, 12, 200)
	conf := func(n int) string {
		sub := filepath.Join(dir, fmt.Sprint("d", n))
		require.NoError(t, os.MkdirAll(sub, 0o755))
		return writeConfig(t, sub, fmt.Sprintf(`
state: state.db
concurrency: 2
log: {format: json}
outputs: {file: {path: ../alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	}
	procs := []*daemonProc{
		startDaemon(t, "20ms", conf(1), "--once"),
		startDaemon(t, "20ms", conf(2), "--once"),
	}
	codes := []int{procs[0].wait(t, 2*time.Minute), procs[1].wait(t, 2*time.Minute)}
	winner, loser := 0, 1
	if codes[0] != 0 {
		winner, loser = 1, 0
	}
	require.Equal(t, 0, codes[winner], procs[winner].stderr.String())
	require.Equal(t, 1, codes[loser], procs[loser].stderr.String())
	msg := procs[loser].stderr.String()
	assert.Contains(t, msg, "alerts file "+filepath.Join(dir, "alerts.json")+": locked by another process: pid "+strconv.Itoa(procs[winner].cmd.Process.Pid))
	assert.Contains(t, msg, "one vpcalertd per alerts file")
	checkExactlyOnce(t, dir, want)
}

// TestCrashThenForeignAppend kills a daemon after it wrote alerts it had
// not committed; another program then appends to the alerts file. The
// restart must not cut the other program's line (nor keep the daemon's
// uncommitted alerts, which would repeat): it stops with an error that
// says so, leaving the file as it was.
func TestCrashThenForeignAppend(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "foreign-it")
	crashBucket(t, srv, bucket, 6, 200)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
concurrency: 2
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	// A long commit delay: alerts reach the file, their marks do not.
	p := startDaemon(t, "1h", cfg, "--once")
	alerts := filepath.Join(dir, "alerts.json")
	for alertBytes(t, dir) == 0 && !p.exited() {
		time.Sleep(5 * time.Millisecond)
	}
	require.False(t, p.exited(), p.stderr.String())
	p.kill(t)

	f, err := os.OpenFile(alerts, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"another":"program"}` + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before, err := os.ReadFile(alerts)
	require.NoError(t, err)

	p = startDaemon(t, "0s", cfg, "--once")
	require.Equal(t, 1, p.wait(t, time.Minute), p.stderr.String())
	// The kill may land in the middle of a write (the kernel stops its
	// copy between pages): the foreign bytes then follow a cut write.
	assert.Contains(t, p.stderr.String(), "alerts file "+alerts+": the alerts file holds bytes vpcalertd did not write: ")
	assert.Contains(t, p.stderr.String(), "were appended by another program while vpcalertd was stopped")
	after, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "nothing was cut")
}

// TestDamagedStateStopsDaemon corrupts the state file a real run wrote, in
// the ways of the fault campaign; each restart exits 1 naming the file,
// what is wrong and what to do, never panics, and leaves the alerts file
// untouched. With the state file gone while the alerts file holds alerts,
// the daemon refuses to start afresh.
func TestDamagedStateStopsDaemon(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "damaged-it")
	crashBucket(t, srv, bucket, 30, 50)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	statePath := filepath.Join(dir, "state.db")
	alerts := filepath.Join(dir, "alerts.json")
	good, err := os.ReadFile(statePath)
	require.NoError(t, err)
	alertsBefore, err := os.ReadFile(alerts)
	require.NoError(t, err)
	require.NotEmpty(t, alertsBefore)

	pageSize := 4096
	garbage := bytes.Repeat([]byte{0xa5}, pageSize)
	cases := []struct {
		name string
		file func() []byte
		msg  string
	}{
		{"zero-length", func() []byte { return nil }, "state file is damaged: it is empty (0 bytes)"},
		{"truncated", func() []byte { return good[:len(good)/3] }, "state file is damaged: it is truncated"},
		{"damaged-page", func() []byte {
			b := bytes.Clone(good)
			copy(b[2*pageSize:], garbage) // the first page after the headers
			copy(b[3*pageSize:], garbage)
			return b
		}, "state file is damaged: "},
		{"not-a-state-file", func() []byte { return []byte("buckets: []\n") }, "not a vpcalertd state file: it is not a bbolt database"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(statePath, c.file(), 0o600))
			res := runMain(t, cfg, true)
			assert.Equal(t, 1, res.code, res.stderr)
			assert.NotContains(t, res.stderr, "panic")
			assert.Contains(t, res.stderr, "state file "+statePath+": "+c.msg)
			assert.Contains(t, res.stderr, "nothing was changed")
			after, err := os.ReadFile(alerts)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(alertsBefore, after), "the alerts file is untouched")
		})
	}
	t.Run("missing-with-alerts", func(t *testing.T) {
		require.NoError(t, os.Remove(statePath))
		res := runMain(t, cfg, true)
		assert.Equal(t, 1, res.code, res.stderr)
		assert.Contains(t, res.stderr, "state file "+statePath+" does not exist, but alerts file "+alerts+" holds "+strconv.Itoa(len(alertsBefore))+" bytes")
		_, err := os.Stat(statePath)
		assert.ErrorIs(t, err, os.ErrNotExist, "no state was started")
	})
}

// TestRotateWithinMaxSize: rotate.max_size holds within one commit: once
// an object's alerts take the file past the limit, the file is committed
// and rotated. A commit holds the objects before a point of the daemon's
// sequence (sequence.go: the correlation state is saved with them), so a
// file passes the limit by at most the objects of one commit — the one
// that passed it and those in flight — never by a pass's worth.
func TestRotateWithinMaxSize(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "rotate-it")
	want := crashBucket(t, srv, bucket, 30, 10)
	big := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-big", 99)
	srv.Put(t, bucket, big, gz(t, flowBody("111111111111", 60, 10000, true)))
	for n := 0; n < 60; n++ {
		want[big+" "+fmt.Sprint(10000+n)] = 0
	}
	const limit, concurrency = 20 << 10, 4
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
concurrency: %d
log: {format: json}
outputs: {file: {path: alerts.json, rotate: {max_size: 20KiB}}}
disabled_packs: [all]
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, concurrency, bucket, srv.Endpoint))
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	files := alertFiles(t, dir)
	assert.Greater(t, len(files), 5)
	// The alerts of one object, by object.
	perObject := map[string]int64{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.SplitAfter(string(data), "\n") {
			if line != "" {
				perObject[parseAlert(t, line).File] += int64(len(line))
			}
		}
	}
	small := int64(0)
	for k, n := range perObject {
		if k != big {
			small = max(small, n)
		}
	}
	for _, f := range files {
		st, err := os.Stat(f)
		require.NoError(t, err)
		objects := map[string]bool{}
		for _, a := range readAlerts(t, f) {
			objects[a.File] = true
		}
		bound := int64(limit) + (concurrency+2)*small
		if objects[big] {
			bound += perObject[big]
		}
		assert.LessOrEqual(t, st.Size(), bound, "%s: %d objects", f, len(objects))
	}
	checkExactlyOnce(t, dir, want)
}
