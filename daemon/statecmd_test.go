package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
)

// TestStateCommand shows and resets the state a real run wrote: show
// names each bucket's first day, accounts/regions, last pass, next window
// and marks; both refuse while a daemon holds the state; reset --bucket is
// Wazuh's reparse (everything is read again); reset --before forgets only
// older objects, which an earlier only_logs_after then reads again.
func TestStateCommand(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "statecmd-it")
	k4 := flowKey("111111111111", "us-east-1", "2024-03-04", "fl-4", 4)
	srv.Put(t, bucket, k4, gz(t, flowBody("111111111111", 3, 100, true)))
	k5 := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-5", 5)
	srv.Put(t, bucket, k5, gz(t, flowBody("111111111111", 3, 100, true)))
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
interval: 1h
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-04, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	counts := func() map[string]int {
		out := map[string]int{}
		for _, a := range readAlerts(t, filepath.Join(dir, "alerts.json")) {
			out[a.File]++
		}
		return out
	}
	require.Equal(t, map[string]int{k4: 3, k5: 3}, counts())

	var out bytes.Buffer
	require.NoError(t, ShowState(cfg, &out, StateOptions{}))
	show := out.String()
	t.Log("\n" + show)
	for _, want := range []string{
		"state file " + filepath.Join(dir, "state.db") + " (",
		"alerts file " + filepath.Join(dir, "alerts.json") + ": ",
		"alert-id high-water mark: ",
		"bucket " + bucket + " (vpcflow, vpcflow:" + bucket + "/)",
		"first day: 2024-03-04 (only_logs_after)",
		"AWSLogs/111111111111/vpcflowlogs/us-east-1/ (account 111111111111, region us-east-1)",
		"listed 2, read 2, already read 0",
		"(state)",
		"marks: 2; listed from 2024/03/04; marks pruned through 2024/03/04",
	} {
		assert.Contains(t, show, want)
	}
	_, err = selected(cfg, StateOptions{Bucket: "nope"})
	require.ErrorIs(t, err, ErrNoSuchBucketName)

	// A running daemon holds the state: both refuse, naming it.
	p := startDaemon(t, "0s", cfgPath)
	p.waitLog(t, `"msg":"next pass"`, time.Minute)
	err = ShowState(cfg, &out, StateOptions{})
	require.ErrorIs(t, err, state.ErrLocked)
	assert.Contains(t, err.Error(), "held by pid "+strconv.Itoa(p.cmd.Process.Pid))
	_, err = ResetState(cfg, StateOptions{Bucket: bucket})
	require.ErrorIs(t, err, state.ErrLocked)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t, 30*time.Second), p.stderr.String())

	// reset --before 2024-03-05: the object of 03-04 counts as never read;
	// the window of the state starts today, so only an only_logs_after
	// before 03-05 reaches it, and reads it alone.
	// (The daemon's pass listed from yesterday and pruned both marks; the
	// scope's record still says 03-04 was listed and read.)
	rep, err := ResetState(cfg, StateOptions{Before: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Marks)
	res = runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, map[string]int{k4: 6, k5: 3}, counts(), "03-04 read again, 03-05 not")

	// reset (Wazuh's reparse): everything again.
	rep, err = ResetState(cfg, StateOptions{Bucket: bucket})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Scopes)
	assert.Equal(t, 1, rep.Marks, "the mark of 03-04 read again")
	res = runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, map[string]int{k4: 9, k5: 6}, counts())
}

// TestStateResetUnusable: reset moves a damaged state file aside and
// starts a new one that takes the alerts file as it is, so the daemon
// starts again without reading (and repeating) what the file holds; with
// --bucket it refuses to.
func TestStateResetUnusable(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "unusable-it")
	srv.Put(t, bucket, flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1), gz(t, flowBody("111111111111", 3, 100, true)))
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	alerts := filepath.Join(dir, "alerts.json")
	before, err := os.ReadFile(alerts)
	require.NoError(t, err)
	statePath := filepath.Join(dir, "state.db")
	require.NoError(t, os.WriteFile(statePath, []byte("not a state file"), 0o600))

	_, err = ResetState(cfg, StateOptions{Bucket: bucket})
	require.ErrorIs(t, err, state.ErrNotState)
	assert.Contains(t, err.Error(), "`state reset` without --bucket and --before moves it aside")

	rep, err := ResetState(cfg, StateOptions{})
	require.NoError(t, err)
	assert.True(t, rep.Accepted)
	moved, err := os.ReadFile(rep.MovedAside)
	require.NoError(t, err)
	assert.Equal(t, "not a state file", string(moved), "the unusable file is kept aside")

	// The objects are read again (a reset), and appended to the kept file.
	res = runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	after, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(after, before), "the alerts file was kept as it was")
	assert.Len(t, readAlerts(t, alerts), 6)

	// Without any state, a reset accepts the alerts file too.
	require.NoError(t, os.Remove(statePath))
	res = runMain(t, cfgPath, true)
	require.Equal(t, 1, res.code)
	assert.True(t, errors.Is(ErrNoState, ErrNoState))
	assert.Contains(t, res.stderr, "does not exist, but alerts file")
	rep, err = ResetState(cfg, StateOptions{})
	require.NoError(t, err)
	assert.True(t, rep.Accepted)
	assert.Empty(t, rep.MovedAside)
	res = runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
}
