package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/sqs"
	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
)

// The notification samples of collector/sqs (AWS's documented shapes).
const sqsSamples = "../collector/sqs/testdata/"

// note is what a notification says about one uploaded object.
type note struct {
	bucket, key, etag string // etag without quotes, as notifications give it
	size              int
}

// putNote uploads body and returns its notification fields.
func putNote(t testing.TB, srv *s3test.Server, bucket, key string, body []byte) note {
	etag := srv.Put(t, bucket, key, body)
	return note{bucket: bucket, key: key, etag: strings.Trim(etag, `"`), size: len(body)}
}

// editSample decodes a sample of collector/sqs, lets fn change it, and
// encodes it again.
func editSample(t testing.TB, name string, fn func(m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(sqsSamples + name)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	fn(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return string(out)
}

// s3Key encodes a key as S3's notifications do: as a form value, with the
// slashes kept.
func s3Key(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// s3Note is S3's ObjectCreated:Put notification of n.
func s3Note(t testing.TB, n note) string {
	return editSample(t, "s3-event-notification-ObjectCreated-Put.awsdocs.json", func(m map[string]any) {
		rec := m["Records"].([]any)[0].(map[string]any)
		rec["eventTime"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		s3 := rec["s3"].(map[string]any)
		s3["bucket"].(map[string]any)["name"] = n.bucket
		o := s3["object"].(map[string]any)
		o["key"], o["size"], o["eTag"] = s3Key(n.key), n.size, n.etag
	})
}

// bridgeNote is the EventBridge "Object Created" event of n.
func bridgeNote(t testing.TB, n note) string {
	return editSample(t, "s3-eventbridge-object-created.awsdocs.json", func(m map[string]any) {
		m["time"] = time.Now().UTC().Format(time.RFC3339)
		d := m["detail"].(map[string]any)
		d["bucket"].(map[string]any)["name"] = n.bucket
		o := d["object"].(map[string]any)
		o["key"], o["size"], o["etag"] = n.key, n.size, n.etag
	})
}

// trailNote is CloudTrail's notification of delivered files: names only.
func trailNote(t testing.TB, bucket string, keys ...string) string {
	return editSample(t, "cloudtrail-sns-notification-Message-multiple-files.awsdocs.json", func(m map[string]any) {
		m["s3Bucket"] = bucket
		ks := make([]any, len(keys))
		for i, k := range keys {
			ks[i] = k
		}
		m["s3ObjectKey"] = ks
	})
}

// snsWrap puts a notification in SNS's envelope.
func snsWrap(t testing.TB, message string) string {
	return editSample(t, "sns-to-sqs-notification-envelope.awsdocs.json", func(m map[string]any) {
		m["Message"] = message
	})
}

// sqsYAML is the sqs section of a test bucket: short visibility timeouts and
// polls keep the tests quick (see docs/sqs.md §5 on local-aws-sqs).
func sqsYAML(srv *sqstest.Server, queue string, extra string) string {
	return fmt.Sprintf("{queue_url: %q, endpoint: %q, region: %s, wait_time: 1s%s}", queue, srv.Endpoint, sqstest.Region, extra)
}

// mainProc is the daemon running in this process until stop.
type mainProc struct {
	stderr *syncBuffer
	cancel context.CancelFunc
	code   chan int
}

func startMain(t *testing.T, cfg string, opts Options) *mainProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &mainProc{stderr: new(syncBuffer), cancel: cancel, code: make(chan int, 1)}
	go func() { p.code <- serveFile(ctx, cfg, opts, new(syncBuffer), p.stderr) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends Main as a SIGTERM would and returns its exit code.
func (p *mainProc) stop(t *testing.T) int {
	p.cancel()
	select {
	case c := <-p.code:
		p.code <- c
		noDaemonGoroutines(t)
		return c
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon did not stop within 60s:\n%s", p.stderr.String())
		return -1
	}
}

var metricsAddrRe = regexp.MustCompile(`"msg":"metrics endpoint","addr":"([^"]+)"`)

// metricsURL waits for the log line naming the metrics endpoint.
func metricsURL(t *testing.T, stderr *syncBuffer) string {
	t.Helper()
	var addr string
	require.Eventually(t, func() bool {
		m := metricsAddrRe.FindStringSubmatch(stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 20*time.Second, 10*time.Millisecond, "no metrics endpoint in the log")
	return "http://" + addr
}

// logsOf parses JSON log lines.
func logsOf(stderr string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func logWith(logs []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range logs {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// flowObjects uploads n gzip'd flow-log objects of lines records each and
// returns their notes and the expected alerts (key and source port).
func flowObjects(t *testing.T, srv *s3test.Server, bucket, prefix string, n, lines int) ([]note, map[string]int) {
	want := map[string]int{}
	var notes []note
	for i := 0; i < n; i++ {
		k := prefix + flowKey("111111111111", []string{"us-east-1", "eu-west-1"}[i%2], "2024-03-05", fmt.Sprintf("fl-%04d", i), i)
		notes = append(notes, putNote(t, srv, bucket, k, gz(t, flowBody("111111111111", lines, 10000+i*lines, true))))
		for l := 0; l < lines; l++ {
			want[k+" "+fmt.Sprint(10000+i*lines+l)] = 0
		}
	}
	return notes, want
}

// countAlerts adds the stock alerts of the files to want (key and source
// port) and returns how many alerts matched nothing.
func countAlerts(t *testing.T, want map[string]int, files ...string) (extra int) {
	for _, a := range readAlerts(t, files...) {
		k := a.File + " " + a.SrcPort
		if _, ok := want[k]; !ok {
			extra++
			continue
		}
		want[k]++
	}
	return extra
}

func lostAndRepeated(want map[string]int) (lost, repeated int) {
	for _, n := range want {
		switch {
		case n == 0:
			lost++
		case n > 1:
			repeated++
		}
	}
	return lost, repeated
}

// TestQueueShapes reads objects announced in every shape AWS delivers, on
// one queue followed by a vpcflow and a cloudtrail bucket, with --once.
func TestQueueShapes(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "shapes")
	dir := t.TempDir()
	flows := s3srv.NewBucket(t, "qflows")
	trails := s3srv.NewBucket(t, "qtrails")
	// A path with a space: S3 notifications write it as '+'.
	notes, want := flowObjects(t, s3srv, flows, "flow logs/", 4, 5)
	trail, err := os.ReadFile("testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	require.NoError(t, err)
	t1, t2 := trailKey("123456789012", "us-east-1", "2024-03-05", 1), trailKey("123456789012", "us-east-1", "2024-03-05", 2)
	s3srv.Put(t, trails, t1, gz(t, trail))
	s3srv.Put(t, trails, t2, gz(t, trail))
	digest := putNote(t, s3srv, trails, "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz", gz(t, []byte(`{"logFiles":[]}`)))
	outside := putNote(t, s3srv, flows, "elsewhere/AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/x.log.gz", gz(t, flowBody("111111111111", 2, 1, true)))
	gone := note{bucket: flows, key: "flow logs/" + flowKey("111111111111", "us-east-1", "2024-03-05", "fl-gone", 99), etag: "0123", size: 10}
	// An object rewritten after its first notification: the first names an
	// ETag S3 no longer has (If-Match fails), the second the new version.
	rewrittenKey := "flow logs/" + flowKey("111111111111", "us-east-1", "2024-03-05", "fl-rewritten", 50)
	oldVersion := putNote(t, s3srv, flows, rewrittenKey, gz(t, flowBody("111111111111", 2, 30000, true)))
	newVersion := putNote(t, s3srv, flows, rewrittenKey, gz(t, flowBody("111111111111", 3, 31000, true)))
	require.NotEqual(t, oldVersion.etag, newVersion.etag)
	for p := 31000; p < 31003; p++ {
		want[rewrittenKey+" "+fmt.Sprint(p)] = 0
	}
	testEvent, err := os.ReadFile(sqsSamples + "s3-event-notification-s3TestEvent.awsdocs.json")
	require.NoError(t, err)

	qs.Send(t, queue,
		s3Note(t, notes[0]),
		snsWrap(t, s3Note(t, notes[1])),
		bridgeNote(t, notes[2]),
		snsWrap(t, bridgeNote(t, notes[3])),
		snsWrap(t, trailNote(t, trails, t1, t2)),
		string(testEvent),
		s3Note(t, digest),
		s3Note(t, outside),
		s3Note(t, gone),
		s3Note(t, notes[0]), // S3 may repeat a notification
		s3Note(t, oldVersion),
		s3Note(t, newVersion),
	)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json, level: debug}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: %[1]s, path: "flow logs", service_endpoint: %[3]q, sqs: &q %[4]s}
  - {type: cloudtrail, name: %[2]s, service_endpoint: %[3]q, sqs: *q}
`, flows, trails, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 2")))

	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	alerts := filepath.Join(dir, "alerts.json")
	var flowAlerts []string
	for _, a := range readAlerts(t, alerts) {
		if a.Bucket == flows {
			flowAlerts = append(flowAlerts, a.File)
		}
	}
	for _, f := range flowAlerts {
		assert.True(t, strings.HasPrefix(f, "flow logs/AWSLogs/"), "alerts of an object no bucket reads: %s", f)
	}
	countAlerts(t, want, alerts)
	lost, repeated := lostAndRepeated(want)
	assert.Zero(t, lost, "flow alerts lost")
	assert.Zero(t, repeated, "flow alerts repeated")
	byFile := map[string]int{}
	for _, a := range readAlerts(t, alerts) {
		byFile[a.Bucket+"/"+a.File]++
	}
	assert.Equal(t, 3, byFile[trails+"/"+t1], "CloudTrail's notification: ETag and size asked from S3")
	assert.Equal(t, 3, byFile[trails+"/"+t2])

	drained := res.logsWith("queue drained")
	require.Len(t, drained, 1, res.stderr)
	assert.Equal(t, float64(7), drained[0]["objects"])
	assert.Equal(t, float64(2), drained[0]["ignored"], "the digest and the key outside the path")
	assert.Equal(t, float64(2), drained[0]["gone"], "the missing key and the replaced version")
	assert.Equal(t, float64(0), drained[0]["errors"])
	require.Len(t, res.logsWith("notified object no longer exists; notification dropped"), 2)
	assert.Zero(t, qs.Len(t, queue), "every message deleted")
	q, err := os.ReadFile(filepath.Join(dir, "quarantine", config.QueueName(queue)+".jsonl"))
	require.NoError(t, err, "the default quarantine file is created beside the state")
	assert.Empty(t, q)

	// The same notifications again: every object is done already.
	before, err := os.ReadFile(alerts)
	require.NoError(t, err)
	qs.Send(t, queue, s3Note(t, notes[1]), snsWrap(t, trailNote(t, trails, t1)))
	res = runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	after, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "redelivered objects write nothing")
	assert.Zero(t, qs.Len(t, queue))
}

// TestQueuePoisonAndMetrics: a corrupt gzip object is retried up to
// max_receives and then moved aside with its reason while the other objects
// flow; /metrics, scraped while the daemon runs, shows the counts the
// alerts file confirms.
func TestQueuePoisonAndMetrics(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "poison")
	dir := t.TempDir()
	b := s3srv.NewBucket(t, "qpoison")
	notes, want := flowObjects(t, s3srv, b, "", 12, 10)
	full := gz(t, flowBody("111111111111", 300, 50000, true))
	corrupt := append([]byte(nil), full...)
	for i := 20; i < len(corrupt)-20; i++ {
		corrupt[i] ^= 0x5a
	}
	poison := putNote(t, s3srv, b, flowKey("111111111111", "us-east-1", "2024-03-05", "fl-poison", 77), corrupt)
	var bodies []string
	for i, n := range notes {
		bodies = append(bodies, s3Note(t, n))
		if i == 3 {
			bodies = append(bodies, s3Note(t, poison))
		}
	}
	// A bucket no configuration follows: never dropped, moved aside too.
	stranger := note{bucket: "not-followed-here", key: flowKey("111111111111", "us-east-1", "2024-03-05", "fl-x", 1), etag: "0a", size: 10}
	bodies = append(bodies, s3Note(t, stranger))
	qs.Send(t, queue, bodies...)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
metrics: {listen: "127.0.0.1:0"}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: %s, service_endpoint: %q, sqs: %s}
`, b, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 2, visibility_timeout: 5s, retry_delay: 1s, max_receives: 3")))

	// Objects take a while, so that the first scrape sees a run in
	// progress.
	p := startMain(t, cfg, Options{NewProcessor: slowProcessor(100 * time.Millisecond)})
	base := metricsURL(t, p.stderr)
	alerts := filepath.Join(dir, "alerts.json")
	require.Eventually(t, func() bool {
		return metricstest.Scrape(t, base+"/metrics").Get("vpcalertd_objects_processed_total") > 0
	}, 30*time.Second, 20*time.Millisecond)
	mid := metricstest.Scrape(t, base+"/metrics")
	files := map[string]bool{}
	for _, a := range readAlerts(t, alerts) {
		files[a.File] = true
	}
	assert.LessOrEqual(t, mid.Get("vpcalertd_objects_processed_total"), float64(len(files)),
		"an object counted done has its alerts in the file")
	assert.Less(t, mid.Get("vpcalertd_objects_processed_total"), float64(len(notes)), "scraped mid-run")

	require.Eventually(t, func() bool { return qs.Len(t, queue) == 0 }, 60*time.Second, 50*time.Millisecond,
		"the queue empties: good objects done, the poison moved aside")
	s := metricstest.Scrape(t, base+"/metrics")
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "ready after the first receive")
	require.Equal(t, 0, p.stop(t), p.stderr.String())

	got := readAllAlerts(t, alerts)
	byRule := map[string]int{}
	for _, a := range got {
		byRule[a.RuleID+"/"+gjsonLevel(t, a.Raw)]++
		assert.NotEqual(t, poison.key, a.File, "no alert of the poison object")
	}
	for rl, n := range byRule {
		rule, level, _ := strings.Cut(rl, "/")
		assert.Equal(t, float64(n), s.Get("vpcalertd_alerts_total", "rule_id", rule, "level", level), "alerts of %s", rl)
	}
	assert.Zero(t, countAlerts(t, want, alerts))
	lost, repeated := lostAndRepeated(want)
	assert.Zero(t, lost)
	assert.Zero(t, repeated)
	assert.Equal(t, float64(len(notes)), s.Get("vpcalertd_objects_processed_total"))
	assert.Equal(t, float64(len(want)+len(notes)), s.Get("vpcalertd_records_processed_total"), "records and header lines")
	var bytes float64
	for _, n := range notes {
		bytes += float64(n.size)
	}
	assert.Equal(t, bytes, s.Get("vpcalertd_bytes_processed_total"))
	assert.Equal(t, float64(len(notes)), s.Get("vpcalertd_sqs_messages_total", "outcome", "deleted"))
	assert.Equal(t, float64(2), s.Get("vpcalertd_sqs_messages_total", "outcome", "quarantined"))
	assert.Equal(t, float64(4), s.Get("vpcalertd_sqs_messages_total", "outcome", "retried"))
	assert.Equal(t, float64(6), s.Get("vpcalertd_errors_total", "kind", "object"), "the poison and the stranger, once per receive")
	assert.Equal(t, float64(0), s.Get("vpcalertd_sqs_messages_in_flight"))
	assert.Equal(t, float64(0), s.Get("vpcalertd_objects_in_flight"))

	q := readQuarantine(t, filepath.Join(dir, "quarantine", config.QueueName(queue)+".jsonl"))
	require.Len(t, q, 2)
	sort.Slice(q, func(i, j int) bool { // the poison first
		return strings.Contains(q[i].Reason, "gzip") && !strings.Contains(q[j].Reason, "gzip")
	})
	assert.Equal(t, 3, q[0].ReceiveCount)
	assert.Contains(t, q[0].Reason, "s3://"+b+"/"+poison.key)
	assert.Contains(t, q[0].Reason, "gzip")
	assert.Contains(t, q[0].Body, poison.etag, "the message body is kept for a redrive")
	assert.Contains(t, q[1].Reason, "s3://not-followed-here/"+stranger.key+": "+ErrUnknownBucket.Error()+" (it follows "+b+")")
}

func gjsonLevel(t *testing.T, raw string) string {
	var a struct {
		Rule struct {
			Level int `json:"level"`
		} `json:"rule"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &a))
	return fmt.Sprint(a.Rule.Level)
}

func readQuarantine(t *testing.T, path string) []sqs.QuarantineEntry {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []sqs.QuarantineEntry
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var e sqs.QuarantineEntry
		require.NoError(t, json.Unmarshal([]byte(l), &e))
		out = append(out, e)
	}
	return out
}

// TestQueueWithListing: the same bucket listed (backfill) and followed
// through its queue in one process; listing and queue race for the same
// objects and each is read once.
func TestQueueWithListing(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "both")
	dir := t.TempDir()
	b := s3srv.NewBucket(t, "qboth")
	notes, want := flowObjects(t, s3srv, b, "", 24, 20)
	var bodies []string
	for _, n := range notes {
		bodies = append(bodies, s3Note(t, n))
	}
	qs.Send(t, queue, bodies...)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
concurrency: 3
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: %s, listing: yes, only_logs_after: 2024-03-05, service_endpoint: %q, sqs: %s}
`, b, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 3")))
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	alerts := filepath.Join(dir, "alerts.json")
	assert.Zero(t, countAlerts(t, want, alerts))
	lost, repeated := lostAndRepeated(want)
	assert.Zero(t, lost)
	assert.Zero(t, repeated, "an object read by the listing and by the queue at once")
	drained, pass := res.logsWith("queue drained"), res.logsWith("pass done")
	require.Len(t, drained, 1)
	require.Len(t, pass, 1)
	assert.Equal(t, float64(len(notes)), drained[0]["objects"].(float64)+pass[0]["objects"].(float64), res.stderr)
	assert.Zero(t, qs.Len(t, queue))
}

// TestQueueTwoInstances: two daemons on one queue read 100 objects
// (notifications plain, SNS-wrapped and from EventBridge); every alert is in
// exactly one of their alert files.
func TestQueueTwoInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("two daemons read 100 queued objects; -short skips it, TestQueueKilledInstance still runs two")
	}
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "two")
	b := s3srv.NewBucket(t, "qtwo")
	notes, want := flowObjects(t, s3srv, b, "", 100, 20)
	var bodies []string
	for i, n := range notes {
		switch i % 3 {
		case 0:
			bodies = append(bodies, s3Note(t, n))
		case 1:
			bodies = append(bodies, snsWrap(t, s3Note(t, n)))
		case 2:
			bodies = append(bodies, bridgeNote(t, n))
		}
	}
	qs.Send(t, queue, bodies...)
	var dirs []string
	var procs []*daemonProc
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, service_endpoint: %q, sqs: %s}]
`, b, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 2, visibility_timeout: 10s")))
		// 20ms per object: both instances get a share of the work.
		procs = append(procs, startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=20ms"}, cfg, "--once"))
	}
	for _, p := range procs {
		require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	}
	var files []string
	for i, dir := range dirs {
		f := filepath.Join(dir, "alerts.json")
		files = append(files, f)
		n := len(readAlerts(t, f))
		assert.Greater(t, n, 0, "instance %d read objects", i)
		t.Logf("instance %d: %d alerts", i, n)
		assert.Empty(t, readQuarantine(t, filepath.Join(dir, "quarantine", config.QueueName(queue)+".jsonl")))
	}
	assert.Zero(t, countAlerts(t, want, files...))
	lost, repeated := lostAndRepeated(want)
	assert.Zero(t, lost, "alerts lost")
	assert.Zero(t, repeated, "alerts in both files, or twice in one")
	assert.Zero(t, qs.Len(t, queue))
}

// TestQueueKilledInstance: an instance is killed with SIGKILL in the middle
// of objects; its messages come back after the visibility timeout and the
// other instance reads them. Nothing is lost, and no file holds an alert
// twice.
func TestQueueKilledInstance(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "kill")
	b := s3srv.NewBucket(t, "qkill")
	notes, want := flowObjects(t, s3srv, b, "", 30, 20)
	var bodies []string
	for _, n := range notes {
		bodies = append(bodies, s3Note(t, n))
	}
	qs.Send(t, queue, bodies...)
	config := func(dir string) string {
		return writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, service_endpoint: %q, sqs: %s}]
`, b, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 2, visibility_timeout: 3s")))
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	cfgA, cfgB := config(dirA), config(dirB)

	// A reads slowly (300ms per object, 2 at a time) and is killed once it
	// committed some objects: two objects are in its hands, more received.
	a := startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=300ms"}, cfgA)
	require.Eventually(t, func() bool { return alertBytes(t, dirA) > 0 || a.exited() }, 60*time.Second, 5*time.Millisecond)
	require.False(t, a.exited(), a.stderr.String())
	time.Sleep(100 * time.Millisecond)
	a.kill(t)
	assert.Greater(t, notVisible(t, qs, queue), 0, "A died holding messages")
	killedAt := len(readAlerts(t, filepath.Join(dirA, "alerts.json")))
	require.Less(t, killedAt, len(want), "A was killed before it finished")

	// B takes over: the rest at once, A's messages after their visibility
	// timeout.
	bp := startDaemonEnv(t, nil, cfgB)
	require.Eventually(t, func() bool { return qs.Len(t, queue) == 0 }, 90*time.Second, 50*time.Millisecond, bp.stderr.String())
	require.NoError(t, bp.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, bp.wait(t, 30*time.Second), bp.stderr.String())
	logs := logsOf(bp.stderr.String())
	stopped := logWith(logs, "queue stopped")
	require.Len(t, stopped, 1)
	assert.Greater(t, stopped[0]["objects"], float64(0))

	// A restarts: its alerts file is cut back to its last commit (the
	// alerts of the objects it was reading when killed go), and the empty
	// queue gives it nothing more.
	a = startDaemonEnv(t, nil, cfgA, "--once")
	require.Equal(t, 0, a.wait(t, 60*time.Second), a.stderr.String())
	files := []string{filepath.Join(dirA, "alerts.json"), filepath.Join(dirB, "alerts.json")}
	for _, f := range files {
		per := map[string]int{}
		for k := range want {
			per[k] = 0
		}
		countAlerts(t, per, f)
		_, repeated := lostAndRepeated(per)
		assert.Zero(t, repeated, "%s holds an alert twice", f)
	}
	assert.Zero(t, countAlerts(t, want, files...))
	lost, _ := lostAndRepeated(want)
	assert.Zero(t, lost, "alerts lost")
}

// TestMatchKey: which keys a bucket configuration reads from a queue, and
// the account/region scope it files their marks under.
func TestMatchKey(t *testing.T) {
	flow := &config.Bucket{Type: "vpcflow", Name: "b", Path: "logs/"}
	org := &config.Bucket{Type: "cloudtrail", Name: "b", OrganizationID: "o-abcdefghij"}
	only := &config.Bucket{Type: "vpcflow", Name: "b", AccountIDs: []string{"111111111111"}, Regions: []string{"eu-west-1"},
		OnlyLogsAfter: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}
	cases := []struct {
		name   string
		b      *config.Bucket
		key    string
		prefix string // "" when the key is not read
	}{
		{"flow", flow, "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/f.log.gz", "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/"},
		{"flow/hive", flow, "logs/AWSLogs/aws-account-id=111111111111/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=10/f.log.gz",
			"logs/AWSLogs/aws-account-id=111111111111/aws-service=vpcflowlogs/aws-region=us-east-1/"},
		{"flow/parquet", flow, "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/f.log.parquet", "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/"},
		{"flow/parquet-hourly", flow, "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/10/f.log.parquet", "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/"},
		{"flow/parquet-hive", flow, "logs/AWSLogs/aws-account-id=111111111111/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/f.log.parquet",
			"logs/AWSLogs/aws-account-id=111111111111/aws-service=vpcflowlogs/aws-region=us-east-1/"},
		{"flow/other-path", flow, "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/f.log.gz", ""},
		{"flow/cloudtrail-key", flow, "logs/AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/f.json.gz", ""},
		{"flow/folder", flow, "logs/AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/", ""},
		{"flow/bad-region", flow, "logs/AWSLogs/111111111111/vpcflowlogs/us-east/2024/03/05/f.log.gz", ""},
		{"flow/short", flow, "logs/AWSLogs/111111111111/vpcflowlogs/f.log.gz", ""},
		{"org", org, "AWSLogs/o-abcdefghij/222222222222/CloudTrail/us-west-2/2024/03/05/f.json.gz", "AWSLogs/o-abcdefghij/222222222222/CloudTrail/us-west-2/"},
		{"org/other-org", org, "AWSLogs/o-zzzzzzzzzz/222222222222/CloudTrail/us-west-2/2024/03/05/f.json.gz", ""},
		{"org/not-org", org, "AWSLogs/222222222222/CloudTrail/us-west-2/2024/03/05/f.json.gz", ""},
		{"org/digest", org, "AWSLogs/o-abcdefghij/222222222222/CloudTrail-Digest/us-west-2/2024/03/05/f.json.gz", ""},
		{"only", only, "AWSLogs/111111111111/vpcflowlogs/eu-west-1/2024/03/05/f.log.gz", "AWSLogs/111111111111/vpcflowlogs/eu-west-1/"},
		{"only/account", only, "AWSLogs/222222222222/vpcflowlogs/eu-west-1/2024/03/05/f.log.gz", ""},
		{"only/region", only, "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/f.log.gz", ""},
		{"only/before-only_logs_after", only, "AWSLogs/111111111111/vpcflowlogs/eu-west-1/2024/03/04/f.log.gz", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, _, ok := matchKey(c.b, c.key)
			assert.Equal(t, c.prefix != "", ok)
			assert.Equal(t, c.prefix, sc.Prefix)
			if ok {
				ki, in := sc.ParseKey(c.key)
				assert.True(t, in)
				assert.False(t, ki.Day.IsZero(), "the day folder is found under the scope")
			}
		})
	}
}

func TestQuoteETag(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": `"abc"`, `"abc"`: `"abc"`, "abc-3": `"abc-3"`} {
		assert.Equal(t, want, quoteETag(in), in)
	}
}

// TestClaims: a second claim of an object waits for the first to be
// released.
func TestClaims(t *testing.T) {
	var c claims
	id := state.ObjectID{Bucket: "b", Key: "k", ETag: `"e"`}
	first, held := c.try(id)
	require.NotNil(t, first)
	require.Nil(t, held)
	_, held = c.try(id)
	require.NotNil(t, held, "held by the first")
	other, _ := c.try(state.ObjectID{Bucket: "b", Key: "k", ETag: `"f"`})
	require.NotNil(t, other, "another version is another object")
	other.release()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.wait(ctx, id)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	var wg sync.WaitGroup
	wg.Add(1)
	var second *claim
	go func() {
		defer wg.Done()
		second, err = c.wait(context.Background(), id)
	}()
	first.release()
	first.release() // idempotent
	wg.Wait()
	require.NoError(t, err)
	require.NotNil(t, second)
	second.release()
	assert.Empty(t, c.held)
}

// TestQueueMarksPruned: the marks of objects read from a queue are filed by
// the day they were read and dropped once that day is older than
// queue_marks_retention (default 4 days).
func TestQueueMarksPruned(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "prune")
	b := s3srv.NewBucket(t, "qprune")
	notes, _ := flowObjects(t, s3srv, b, "", 2, 3)
	qs.Send(t, queue, s3Note(t, notes[0]), s3Note(t, notes[1]))
	td := newTestDaemon(t, fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, service_endpoint: %q, sqs: %s}]\n",
		b, s3srv.Endpoint, sqsYAML(qs, queue, "")))
	marksAt := func(now time.Time) int {
		td.now = now
		_, err := td.Once(context.Background())
		require.NoError(t, err)
		n, err := td.store.Count()
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, 2, marksAt(time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)))
	assert.Equal(t, 2, marksAt(time.Date(2024, 3, 9, 12, 0, 0, 0, time.UTC)), "kept 4 days")
	assert.Equal(t, 0, marksAt(time.Date(2024, 3, 10, 0, 30, 0, 0, time.UTC)), "then dropped")
}

// notVisible returns the number of messages received and not yet deleted
// or visible again.
func notVisible(t *testing.T, qs *sqstest.Server, queue string) int {
	out, err := qs.Client.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queue),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	require.NoError(t, err)
	n, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	require.NoError(t, err)
	return n
}
