package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
)

// testDaemon is a Daemon built in process, with a clock the test moves.
type testDaemon struct {
	*Daemon
	store  *state.Store
	alerts string
	now    time.Time
}

func newTestDaemon(t *testing.T, yml string) *testDaemon {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Load(writeConfig(t, dir, yml))
	require.NoError(t, err)
	store, err := state.Open(cfg.StatePath)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	file, _, err := output.OpenFile(cfg.Output.File.Path, output.FileOptions{Fsync: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { file.Close() })
	proc, err := NewEngine(cfg, 0, nil)
	require.NoError(t, err)
	td := &testDaemon{store: store, alerts: cfg.Output.File.Path}
	td.Daemon, err = New(Options{Config: cfg, Processor: proc, Sink: file, File: file, Store: store,
		Now: func() time.Time { return td.now }})
	require.NoError(t, err)
	return td
}

func (td *testDaemon) pass(t *testing.T) PassResult {
	t.Helper()
	res, err := td.Pass(context.Background())
	require.NoError(t, err)
	return res
}

func (td *testDaemon) files(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, a := range readAlerts(t, td.alerts) {
		out[a.File]++
	}
	return out
}

// TestDowntime: after a stop longer than the look-back window, the next
// pass starts from the last complete pass, so nothing is skipped; marks no
// listing can reach are pruned.
func TestDowntime(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "down-it")
	td := newTestDaemon(t, fmt.Sprintf("state: s.db\nlook_back: 1d\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, service_endpoint: %q}]\n", b, srv.Endpoint))
	put := func(day string, n int) string {
		k := flowKey("111111111111", "us-east-1", day, "fl-1", n)
		srv.Put(t, b, k, gz(t, flowBody("111111111111", 2, 100, true)))
		return k
	}
	k5 := put("2024-03-05", 5)
	put("2024-03-04", 4) // before the first day: never read
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, int64(1), td.pass(t).Stats.Objects)

	k8, k14 := put("2024-03-08", 8), put("2024-03-14", 14)
	td.now = time.Date(2024, 3, 15, 9, 0, 0, 0, time.UTC) // ten days later
	assert.Equal(t, int64(2), td.pass(t).Stats.Objects)
	assert.Equal(t, map[string]int{k5: 2, k8: 2, k14: 2}, td.files(t))
	n, err := td.store.Count()
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	td.now = time.Date(2024, 3, 20, 9, 0, 0, 0, time.UTC)
	assert.Equal(t, int64(0), td.pass(t).Stats.Objects)
	n, err = td.store.Count()
	require.NoError(t, err)
	assert.Equal(t, 1, n, "marks before the listing start (03-14) are pruned")
	td.now = td.now.Add(time.Hour)
	assert.Equal(t, int64(0), td.pass(t).Stats.Objects, "a pruned mark is never listed again")
}

func TestRemoveFromBucket(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "remove-it")
	td := newTestDaemon(t, fmt.Sprintf("state: s.db\nremove_from_bucket: yes\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, service_endpoint: %q}]\n", b, srv.Endpoint))
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	k := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1)
	k2 := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 2)
	srv.Put(t, b, k, gz(t, flowBody("111111111111", 2, 100, true)))
	srv.Put(t, b, k2, gz(t, flowBody("111111111111", 3, 100, true)))
	assert.Equal(t, int64(2), td.pass(t).Stats.Objects)
	for _, k := range []string{k, k2} {
		_, err := srv.Get(b, k)
		require.ErrorContains(t, err, "NoSuchKey", "%s deleted after its alerts were committed", k)
	}
	assert.Equal(t, map[string]int{k: 2, k2: 3}, td.files(t))
}

func TestFlowLogFilesDescribed(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	ec2 := ec2Server(t)
	b := srv.NewBucket(t, "described-it")
	described := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-0a1b2c3d4e5f60718", 1)
	other := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-99999999999999999", 2)
	srv.Put(t, b, described, gz(t, flowBody("111111111111", 2, 100, true)))
	srv.Put(t, b, other, gz(t, flowBody("111111111111", 2, 100, true)))
	cfg := func(mode, ec2URL string) string {
		return fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, flow_log_files: %s, service_endpoint: %q, ec2_endpoint: %q}]\n", b, mode, srv.Endpoint, ec2URL)
	}
	td := newTestDaemon(t, cfg("described", ec2.URL))
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	td.pass(t)
	assert.Equal(t, map[string]int{described: 2}, td.files(t), "as Wazuh: only flow logs DescribeFlowLogs returns")

	td = newTestDaemon(t, cfg("all", ec2.URL))
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	td.pass(t)
	assert.Equal(t, map[string]int{described: 2, other: 2}, td.files(t), "every flow-log file under the prefix")

	// EC2 refuses: all files are still read, and EC2 is not asked again
	// for an hour.
	var calls atomic.Int32
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>x</RequestID></Response>`))
	}))
	defer denied.Close()
	td = newTestDaemon(t, cfg("all", denied.URL))
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	td.pass(t)
	assert.Equal(t, map[string]int{described: 2, other: 2}, td.files(t))
	td.now = td.now.Add(10 * time.Minute)
	td.pass(t)
	assert.Equal(t, int32(1), calls.Load())
	td.now = td.now.Add(time.Hour)
	td.pass(t)
	assert.Equal(t, int32(2), calls.Load())

	// EC2 refuses: described mode cannot tell which files to read.
	td = newTestDaemon(t, cfg("described", srv.Endpoint))
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	res := td.pass(t)
	assert.Equal(t, int64(1), res.Stats.Errors)
	assert.Empty(t, td.files(t))
}

func TestDiscardRegex(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "discard-it")
	k := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1)
	srv.Put(t, b, k, gz(t, flowBody("111111111111", 10, 100, true)))
	td := newTestDaemon(t, fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, discard_regex: {field: action, regex: REJ}, service_endpoint: %q}]\n", b, srv.Endpoint))
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	res := td.pass(t)
	assert.Equal(t, int64(5), res.Stats.Discarded)
	assert.Equal(t, int64(5), res.Stats.Alerts)
	for _, a := range readAlerts(t, td.alerts) {
		assert.Equal(t, "80401", a.RuleID)
	}
}

func TestSpool(t *testing.T) {
	dir := t.TempDir()
	for _, limit := range []int{1 << 20, 100} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			sp := newSpool(dir, limit)
			var in []alert.Alert
			for i := 0; i < 50; i++ {
				a := alert.Alert{JSON: []byte(fmt.Sprintf(`{"n":%d}`, i)), RuleID: fmt.Sprint(80400 + i%3), Level: i % 16,
					Time: time.Unix(1709634031, int64(i)), Origin: event.Origin{Line: i + 1, Offset: int64(i * 77)}, Seq: i % 2}
				require.NoError(t, sp.Write(&a))
				in = append(in, a)
			}
			assert.Equal(t, 50, sp.Len())
			origin := event.Origin{Bucket: "b", Key: "k", Path: "s3://b/k"}
			i := 0
			require.NoError(t, sp.Replay(origin, func(a *alert.Alert) error {
				want := in[i]
				want.Origin.Bucket, want.Origin.Key, want.Origin.Path = "b", "k", "s3://b/k"
				assert.Equal(t, string(want.JSON), string(a.JSON))
				assert.Equal(t, want.RuleID, a.RuleID)
				assert.Equal(t, want.Level, a.Level)
				assert.True(t, want.Time.Equal(a.Time))
				assert.Equal(t, want.Origin, a.Origin)
				assert.Equal(t, want.Seq, a.Seq)
				i++
				return nil
			}))
			assert.Equal(t, 50, i)
			spilled := sp.f != nil
			assert.Equal(t, limit == 100, spilled)
			require.NoError(t, sp.Close())
			left, _ := filepath.Glob(filepath.Join(dir, "*"))
			assert.Empty(t, left, "the spool file is removed")
		})
	}
	_ = os.Remove
}
