package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/output"
)

// logDaemon is a testDaemon on a directory that outlives it, whose log the
// test reads: a test restarts it with another configuration, as an
// operator would.
type logDaemon struct {
	*testDaemon
	logs  *syncBuffer
	close func()
}

func openLogDaemon(t *testing.T, dir, yml string, now time.Time) *logDaemon {
	t.Helper()
	cfg, err := config.Load(writeConfig(t, dir, yml))
	require.NoError(t, err)
	store, err := state.Open(cfg.StatePath)
	require.NoError(t, err)
	file, _, err := output.OpenFile(cfg.Output.File.Path, output.FileOptions{Fsync: true}, nil)
	require.NoError(t, err)
	proc, err := NewEngine(cfg, 0, nil)
	require.NoError(t, err)
	ld := &logDaemon{testDaemon: &testDaemon{store: store, alerts: cfg.Output.File.Path, now: now}, logs: new(syncBuffer)}
	ld.Daemon, err = New(Options{Config: cfg, Processor: proc, Sink: file, File: file, Store: store,
		Now:    func() time.Time { return ld.now },
		Logger: slog.New(slog.NewJSONHandler(ld.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	require.NoError(t, err)
	ld.close = func() { file.Close(); store.Close() }
	t.Cleanup(ld.close)
	return ld
}

// lines returns the log records with message msg, and forgets the log.
func (ld *logDaemon) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(ld.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		if m["msg"] == msg || strings.HasPrefix(m["msg"].(string), msg) {
			out = append(out, m)
		}
	}
	return out
}

func (ld *logDaemon) reset() { ld.logs.mu.Lock(); ld.logs.b.Reset(); ld.logs.mu.Unlock() }

// TestOnlyLogsAfterLikeWazuh follows a new user with a bucket of last
// week's logs. The first pass (no only_logs_after) reads nothing and says
// why; setting only_logs_after to an earlier day reads the unread objects
// from that day on, even though the state remembers the first pass (Wazuh
// keeps no marker while it has processed no key); a later, still earlier
// only_logs_after reads only what was never read, although the marks of
// what was read are pruned by then.
func TestOnlyLogsAfterLikeWazuh(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "olda-it")
	dir := t.TempDir()
	keys := map[string]string{}
	for i, day := range []string{"2024-02-26", "2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"} {
		k := flowKey("111111111111", "us-east-1", day, "fl-1", i)
		srv.Put(t, b, k, gz(t, flowBody("111111111111", 2, 100, true)))
		keys[day] = k
	}
	conf := func(onlyLogsAfter string) string {
		extra := ""
		if onlyLogsAfter != "" {
			extra = ", only_logs_after: " + onlyLogsAfter
		}
		return fmt.Sprintf("state: s.db\nlook_back: 1d\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, service_endpoint: %q%s}]\n", b, srv.Endpoint, extra)
	}

	// 1. No only_logs_after: the window starts today; nothing is read,
	// and the daemon says what lies before the window and what to do.
	now := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	ld := openLogDaemon(t, dir, conf(""), now)
	assert.Equal(t, int64(0), ld.pass(t).Stats.Objects)
	line := ld.lines(t, "bucket pass")
	require.Len(t, line, 1)
	assert.Equal(t, map[string]any{"bucket": b, "type": "vpcflow", "prefix": "AWSLogs/", "scopes": 1.0,
		"window_start": "2024-03-05", "window_from": "default first-pass day", "listed": 0.0, "read": 0.0,
		"already_read": 0.0, "bad": 0.0, "retry": 0.0, "records": 0.0, "alerts": 0.0,
		"older": "5", "older_oldest": "2024-02-26", "older_newest": "2024-03-01"}, pick(line[0], "time", "level", "msg"))
	warn := ld.lines(t, "nothing read: objects exist only before the window start")
	require.Len(t, warn, 1)
	assert.Equal(t, "WARN", warn[0]["level"])
	assert.Equal(t, "not set (the default is the day of the bucket's first pass)", warn[0]["only_logs_after"])
	assert.Equal(t, "111111111111/us-east-1", warn[0]["accounts_regions"])
	assert.Contains(t, warn[0]["hint"], "only_logs_after: 2024-FEB-26")

	// The same pass again: the warning is not repeated.
	ld.reset()
	ld.now = now.Add(10 * time.Minute)
	ld.pass(t)
	again := ld.lines(t, "nothing read")
	require.Len(t, again, 1)
	assert.Equal(t, "DEBUG", again[0]["level"], "warned once per window start")
	ld.close()

	// 2. only_logs_after before the remembered first day: the objects
	// from that day on are read.
	ld = openLogDaemon(t, dir, conf("2024-FEB-28"), now.Add(20*time.Minute))
	assert.Equal(t, int64(3), ld.pass(t).Stats.Objects)
	assert.Equal(t, map[string]int{keys["2024-02-28"]: 2, keys["2024-02-29"]: 2, keys["2024-03-01"]: 2}, ld.files(t))
	line = ld.lines(t, "bucket pass")
	require.Len(t, line, 1)
	assert.Equal(t, "configured, before the first day read", line[0]["window_from"])
	assert.Equal(t, "2024-02-28", line[0]["window_start"])
	assert.Equal(t, 3.0, line[0]["read"])
	assert.Equal(t, 3.0, line[0]["listed"])
	assert.Empty(t, ld.lines(t, "nothing read"))

	// The next pass starts from the state again.
	ld.reset()
	ld.now = now.Add(30 * time.Minute)
	assert.Equal(t, int64(0), ld.pass(t).Stats.Objects)
	line = ld.lines(t, "bucket pass")
	assert.Equal(t, "state", line[0]["window_from"])
	assert.Equal(t, "2024-03-04", line[0]["window_start"])

	// Days later the marks of 02-28 … 03-01 are pruned.
	ld.now = now.AddDate(0, 0, 5)
	ld.pass(t)
	n, err := ld.store.Count()
	require.NoError(t, err)
	assert.Equal(t, 0, n, "marks before the window are pruned")
	ld.close()

	// 3. An even earlier only_logs_after reads only what was never read:
	// 02-26 and 02-27, not 02-28 … 03-01 again.
	ld = openLogDaemon(t, dir, conf("2024-02-26"), now.AddDate(0, 0, 5).Add(time.Hour))
	assert.Equal(t, int64(2), ld.pass(t).Stats.Objects)
	for day, k := range keys {
		assert.Equal(t, 2, ld.files(t)[k], "%s: every alert once", day)
	}
	line = ld.lines(t, "bucket pass")
	assert.Equal(t, 5.0, line[0]["listed"])
	assert.Equal(t, 2.0, line[0]["read"])
	assert.Equal(t, 3.0, line[0]["already_read"], "known from the state although their marks are pruned")
}

// pick returns m without the keys given.
func pick(m map[string]any, drop ...string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range drop {
		delete(out, k)
	}
	return out
}

// TestProgressAndBadRecords: a long object shows progress on the timer
// while it is read (records of the object in flight), and bad records are
// logged a few per object, with every object that had any named with its
// count.
func TestProgressAndBadRecords(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "progress-it")
	dir := t.TempDir()
	big := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1)
	srv.Put(t, b, big, gz(t, flowBody("111111111111", 150000, 1, true)))
	var bad1, bad2 strings.Builder
	bad1.WriteString(flowHeader + "\n")
	for i := 0; i < 12; i++ {
		fmt.Fprintf(&bad1, "2 111111111111 eni-1 10.0.0.1 not-an-address 1 2 6 1 1 1709633700 1709633760 ACCEPT OK\n")
	}
	bad2.WriteString(flowHeader + "\nnot a flow line at all\n")
	k1 := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-2", 2)
	k2 := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-3", 3)
	srv.Put(t, b, k1, gz(t, []byte(bad1.String())))
	srv.Put(t, b, k2, gz(t, []byte(bad2.String())))
	ld := openLogDaemon(t, dir, fmt.Sprintf("state: s.db\nprogress_interval: 20ms\nconcurrency: 1\noutputs: {file: {path: a.json}}\n"+
		"buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, service_endpoint: %q}]\n", b, srv.Endpoint),
		time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
	res := ld.pass(t)
	assert.Equal(t, int64(3), res.Stats.Objects)

	var during []map[string]any
	for _, p := range ld.lines(t, "progress") {
		if p["longest_object"] == "s3://"+b+"/"+big && p["longest_object_records"].(float64) > 0 {
			during = append(during, p)
		}
	}
	require.NotEmpty(t, during, "a progress line while the long object was read")
	assert.Less(t, during[0]["longest_object_records"].(float64), 150002.0)
	assert.Equal(t, 1.0, during[0]["in_flight"])
	assert.GreaterOrEqual(t, during[0]["records"].(float64), during[0]["longest_object_records"].(float64))

	perRecord := ld.lines(t, "bad record")
	byKey := map[string]int{}
	for _, l := range perRecord {
		byKey[l["key"].(string)]++
	}
	assert.Equal(t, map[string]int{k1: 5, k2: 1}, byKey, "at most five per object")
	counts := map[string]float64{}
	for _, l := range ld.lines(t, "object has bad records") {
		counts[l["key"].(string)] = l["bad_records"].(float64)
	}
	assert.Equal(t, map[string]float64{k1: 12, k2: 1}, counts, "every object with bad records is named with its count")
}

// TestDescribeFailsFast: with flow_log_files: described and an EC2 endpoint
// that refuses (503) or is not there, each region is tried at most three
// times within seconds, then a warning names the region and the endpoint;
// a custom service_endpoint without ec2_endpoint is warned about at start.
func TestDescribeFailsFast(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "describe-it")
	for i, region := range []string{"us-east-1", "eu-west-1"} {
		srv.Put(t, b, flowKey("111111111111", region, "2024-03-05", "fl-1", i), gz(t, flowBody("111111111111", 2, 100, true)))
	}
	var calls atomic.Int64
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(refusing.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more

	for _, c := range []struct{ name, endpoint string }{{"refusing", refusing.URL}, {"unreachable", closed.URL}} {
		t.Run(c.name, func(t *testing.T) {
			calls.Store(0)
			ld := openLogDaemon(t, t.TempDir(), fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\n"+
				"buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, flow_log_files: described, service_endpoint: %q, ec2_endpoint: %q}]\n",
				b, srv.Endpoint, c.endpoint), time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
			began := time.Now()
			res := ld.pass(t)
			took := time.Since(began)
			assert.Less(t, took, 25*time.Second, "two regions, at most 10 s each")
			assert.Equal(t, int64(0), res.Stats.Objects, "described reads only the files of described flow logs")
			warns := ld.lines(t, "DescribeFlowLogs failed")
			require.Len(t, warns, 2)
			regions := []string{}
			for _, w := range warns {
				assert.Equal(t, "WARN", w["level"])
				assert.Equal(t, c.endpoint, w["endpoint"])
				regions = append(regions, w["region"].(string))
			}
			assert.ElementsMatch(t, []string{"us-east-1", "eu-west-1"}, regions)
			if c.name == "refusing" {
				assert.Equal(t, int64(6), calls.Load(), "three tries per region")
			}
			t.Logf("%s: pass took %v", c.name, took.Round(time.Millisecond))
		})
	}

	t.Run("service-endpoint-without-ec2-endpoint", func(t *testing.T) {
		ld := openLogDaemon(t, t.TempDir(), fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\n"+
			"buckets: [{type: vpcflow, name: %s, service_endpoint: %q}, {type: cloudtrail, name: %s, service_endpoint: %q}]\n",
			b, srv.Endpoint, b, srv.Endpoint), time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
		w := ld.lines(t, "service_endpoint is set but ec2_endpoint is not")
		require.Len(t, w, 1, "only the vpcflow bucket calls EC2")
		assert.Equal(t, "WARN", w[0]["level"])
		assert.Contains(t, w[0]["msg"], "DescribeFlowLogs calls go to AWS's EC2 endpoint of each region")
	})
}

// TestAmplification: an object whose alerts are more than
// limits.amplification times its stored size is named in a WARN with its
// counts, and its alerts are all written; each object's counts are logged.
func TestAmplification(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "amplify-it")
	var hot strings.Builder
	hot.WriteString(flowHeader + "\n")
	for i := 0; i < 20000; i++ {
		hot.WriteString("2 111111111111 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 4444 443 6 12 4392 1709633700 1709633760 REJECT OK\n")
	}
	hotKey := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-hot", 1)
	srv.Put(t, b, hotKey, gz(t, []byte(hot.String())))
	calm := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-calm", 2)
	srv.Put(t, b, calm, gz(t, flowBody("111111111111", 50, 1000, true)))
	ld := openLogDaemon(t, t.TempDir(), fmt.Sprintf("state: s.db\nlimits: {amplification: 200}\ndisabled_packs: [all]\noutputs: {file: {path: a.json}}\n"+
		"buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, service_endpoint: %q}]\n", b, srv.Endpoint),
		time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
	assert.Equal(t, int64(2), ld.pass(t).Stats.Objects)
	assert.Equal(t, 20000, ld.files(t)[hotKey], "nothing is dropped")

	warns := ld.lines(t, "object's alerts are")
	require.Len(t, warns, 1)
	w := warns[0]
	assert.Equal(t, "WARN", w["level"])
	assert.Equal(t, hotKey, w["key"])
	assert.Equal(t, 20001.0, w["records"])
	assert.Equal(t, 20000.0, w["alerts"])
	assert.Greater(t, w["alert_bytes"].(float64), 200*w["size"].(float64))
	assert.Contains(t, w["msg"], "(limits.amplification: 200); all were written")

	objs := map[string]float64{}
	for _, l := range ld.lines(t, "object read") {
		objs[l["key"].(string)] = l["alerts"].(float64)
	}
	assert.Equal(t, map[string]float64{hotKey: 20000, calm: 50}, objs, "every record alerts (ACCEPT and REJECT)")
	line := ld.lines(t, "bucket pass")
	require.Len(t, line, 1)
	assert.Equal(t, hotKey, line[0]["top_object"])
	assert.Equal(t, 20000.0, line[0]["top_object_alerts"])

	// A real daemon process with the default limit (1000×) names the hot
	// object too: its 20,000 alerts take thousands of times its gzip.
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf("state: state.db\nlog: {format: json}\ndisabled_packs: [all]\noutputs: {file: {path: alerts.json}}\n"+
		"buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]\n", b, srv.Endpoint))
	p := startDaemon(t, "0s", cfg, "--once")
	require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	var child []map[string]any
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), "object's alerts are") {
			child = append(child, m)
		}
	}
	require.Len(t, child, 1, p.stderr.String())
	assert.Equal(t, hotKey, child[0]["key"])
	assert.Contains(t, child[0]["msg"], "(limits.amplification: 1000); all were written")
	assert.Equal(t, map[string]int{hotKey: 20000, calm: 50}, alertFilesByKey(t, dir))
}
