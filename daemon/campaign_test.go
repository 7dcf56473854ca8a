package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// The crash campaign (issue 14): the daemon, a real child process with the
// default concurrency, the alerts file and the indexer output on, is killed
// with SIGKILL at many points while it reads a bucket whose objects carry
// correlation across their boundaries (a port scan split over every two
// consecutive objects, and a firedtimes counter that runs over all of
// them), and restarted each time; a last run reads the rest. Then:
//
//   - the alerts file holds every alert exactly once, by content (the alert
//     without its id and timestamp, so firedtimes and the scans included):
//     the same alerts as an uninterrupted daemon run, which are replay's;
//   - the indexer (in this process, so it outlives the daemons) holds one
//     document per alert of the file and no other, with the alert's id as
//     _id, its timestamp, in the index of its day, and the file's content.
//
// Without the write-ahead record (same id and timestamp on a re-read), the
// indexer gets a second document for an alert; without the correlation
// snapshot committed with the marks, a re-read object fires firedtimes and
// the scans differently from the uninterrupted run.

// campaignObjects is the number of objects of a campaign's bucket.
const campaignObjects = 36

// campaignBucket uploads the campaign's objects (scanObjectsN) to a new
// bucket and returns its name, the alerts replay gives for them, and the
// objects' keys and stored (gzip) bodies.
func campaignBucket(t *testing.T, srv *s3test.Server, name string) (string, []string, []string, [][]byte) {
	t.Helper()
	b := srv.NewBucket(t, name)
	keys, bodies := scanObjectsN(campaignObjects)
	replayed, stored := putAndReplay(t, srv, b, keys, bodies)
	return b, alertContents(t, replayed), keys, stored
}

// putAndReplay puts the objects, gzip'd, into the bucket, and replays the
// same objects from a local copy of the bucket (what replay raises is what
// the daemon must raise). It returns the replay's alerts file and the
// objects as stored.
func putAndReplay(t *testing.T, srv *s3test.Server, bucket string, keys []string, bodies [][]byte) (replayed string, stored [][]byte) {
	t.Helper()
	local := t.TempDir()
	stored = make([][]byte, len(keys))
	for i, k := range keys {
		stored[i] = gz(t, bodies[i])
		srv.Put(t, bucket, k, stored[i])
		p := filepath.Join(local, filepath.FromSlash(k))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, bodies[i], 0o644))
	}
	cfg, err := config.Load(writeConfig(t, t.TempDir(), fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s}]\n", bucket)))
	require.NoError(t, err)
	proc, err := NewEngine(cfg, 0, nil)
	require.NoError(t, err)
	files, err := collector.Local([]string{local}, collector.LocalOptions{Bucket: bucket})
	require.NoError(t, err)
	replayed = filepath.Join(t.TempDir(), "replay.json")
	f, err := os.Create(replayed)
	require.NoError(t, err)
	_, err = proc.(*engine.Engine).Replay(context.Background(), files, output.NewStream(f), engine.ReplayOptions{})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return replayed, stored
}

var (
	alertTimestamp = regexp.MustCompile(`^\{"timestamp":"[^"]*",`)
	alertID        = regexp.MustCompile(`,"id":"[0-9]+\.[0-9]+",`)
)

// alertContents returns the alerts of the files without their id and
// timestamp (what depends on when they were made), sorted.
func alertContents(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, a := range readAllAlerts(t, paths...) {
		c := alertTimestamp.ReplaceAllString(a.Raw, "{")
		c = alertID.ReplaceAllString(c, ",")
		require.NotEqual(t, a.Raw, c, "no id or timestamp found in %s", a.Raw)
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// campaignConfig writes the configuration of a campaign's daemons: the
// default concurrency, the file (rotated) and indexer outputs.
func campaignConfig(t *testing.T, dir, bucket, endpoint, ec2, indexerURL string) string {
	t.Helper()
	outputs := "  file: {path: alerts.json, rotate: {max_size: 2MiB}}\n"
	if indexerURL != "" {
		outputs += fmt.Sprintf("  indexer: {url: %s, queue: {dir: indexer-queue}, batch: {interval: 20ms}, close_timeout: 10m}\n", indexerURL)
	}
	// Twenty kills are many more than limits.crashes_per_object allows:
	// the kills 0–400 ms after a start come while the objects a kill cut
	// before are read again (alone, first), so one of them cut three times
	// would be skipped as a poison object — rightly, as far as the daemon
	// can tell. (Objects read and waiting for their commit no longer count
	// a kill: TestPoisonNotAfterRead.)
	// The last run delivers every document before it exits, however
	// loaded the machine (the default close_timeout leaves the rest to the
	// next start).
	return writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
limits: {crashes_per_object: 100}
outputs:
%sbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q, ec2_endpoint: %q}]
`, outputs, bucket, endpoint, ec2))
}

// campaign is one crash campaign: kills points, with the clocks of the
// daemons (VPCALERTD_TEST_CLOCK settings) given by clock, and checks the
// outcome. The kill points are drawn from a seed, logged;
// VPCALERTD_CAMPAIGN_SEED repeats them, and VPCALERTD_CAMPAIGN_DEBUG=DIR
// keeps each daemon's log and the final alerts, state and queue in DIR.
type campaign struct {
	points int
	clock  func(point int) string // the clock of the daemon killed at point (points: the last run)
	// earlyFirst kills the first daemon as soon as it wrote alerts.
	earlyFirst bool
	// late objects (the last ones) are in the bucket for the
	// uninterrupted run, then only from the second daemon on.
	late int
}

// campaignResult is what run reports for the test's own checks.
type campaignResult struct {
	docs     map[string]indexedDoc
	restored int // restarts that restored a correlation state
}

func (c campaign) run(t *testing.T, name string) campaignResult {
	srv := s3test.Need(t)
	awsEnv(t)
	ec2 := ec2Server(t)
	bucket, replayed, keys, stored := campaignBucket(t, srv, name)
	// 300 rejected flows per object and 16 per boundary, each an alert,
	// and the boundary's scan.
	require.Equal(t, campaignObjects*300+(campaignObjects-1)*17, len(replayed), "replay: every rejected flow and one scan per boundary")

	// The uninterrupted run gives replay's alerts.
	plain := t.TempDir()
	p := startDaemonEnv(t, []string{clockEnv(time.Date(2024, 3, 5, 20, 0, 0, 0, time.UTC))}, campaignConfig(t, plain, bucket, srv.Endpoint, ec2.URL, ""), "--once")
	require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	uninterrupted := alertContents(t, alertFiles(t, plain)...)
	require.Equal(t, replayed, uninterrupted, "an uninterrupted daemon run gives replay's alerts")

	for i := len(keys) - c.late; i < len(keys); i++ {
		srv.Delete(t, bucket, keys[i])
	}
	ix := newIndexer(t, indexertest.Options{})
	dir := t.TempDir()
	cfg := campaignConfig(t, dir, bucket, srv.Endpoint, ec2.URL, ix.URL)
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("VPCALERTD_CAMPAIGN_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d (VPCALERTD_CAMPAIGN_SEED=%d repeats the kill points)", seed, seed)
	total := alertBytes(t, plain)
	var res campaignResult
	kills, notTaken := 0, 0
	for point := 0; point < c.points; point++ {
		delay := []string{"0s", "10ms", "40ms"}[rng.IntN(3)]
		// Each object is read after 60 ms: the read of the bucket takes
		// a few seconds, over which the points spread.
		p := startDaemonEnv(t, []string{c.clock(point), "VPCALERTD_TEST_COMMIT_DELAY=" + delay, "VPCALERTD_TEST_KEEPER_DELAY=60ms"}, cfg, "--once")
		// The kill point: a time after the start (during the start, the
		// restore, the listing or the first reads), a share of the alerts
		// written past any written before, documents taken by the
		// indexer, or (the second point) just after a commit, when the
		// objects before it are marked and their correlation state saved
		// while the scan across the next boundary is half-way; then a few
		// milliseconds more, at random.
		var what string
		deadline := time.Now().Add(time.Minute)
		kind := rng.IntN(3)
		// Only progress that is still to come: a point past the end of
		// the work (every document already indexed) would let the daemon
		// finish first.
		bytesLeft, docsLeft := alertBytes(t, dir) < total-1, ix.Count() < len(replayed)
		switch {
		case point == 0 && c.earlyFirst:
			kind = 1
		case point == 0 && kind == 2:
			// The indexer can lag the file by the whole bucket under
			// load: a documents point first could come after the last
			// alert was written, and point 1 then never.
			kind = 1
		case point == 1:
			kind = 3
		case kind == 1 && !bytesLeft && docsLeft:
			kind = 2 // the file is complete: the indexer is being fed
		case kind == 2 && !docsLeft:
			kind = 1
		}
		switch kind {
		case 0:
			d := time.Duration(rng.IntN(400)) * time.Millisecond
			what = fmt.Sprintf("%v after the start", d)
			time.Sleep(d)
		case 1:
			// A share of what is left, so that every point comes
			// before the end.
			cur := alertBytes(t, dir)
			th := min(total-1, cur+1+rng.Int64N(max(1, (total-cur)/int64(c.points-point+1))))
			if point == 0 && c.earlyFirst {
				th = 1
			}
			what = fmt.Sprintf("at %d alert bytes", th)
			for !p.exited() && alertBytes(t, dir) < th && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		case 3:
			// A commit precedes each rotation.
			what = "after a commit"
			for !p.exited() && !strings.Contains(p.stderr.String(), `"msg":"alerts file rotated"`) && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		default:
			n := ix.Count() + 1 + rng.IntN(max(1, (len(replayed)-ix.Count())/(c.points-point+1)))
			what = fmt.Sprintf("at %d indexed documents", n)
			for !p.exited() && ix.Count() < n && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		}
		time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
		if p.exited() {
			// Under load the daemon can get through what was left (the
			// last objects, the last documents) before the test sees the
			// point: nothing is left to cut, so the points after it are
			// not taken. Reported; the checks below are the same.
			require.Equal(t, 0, p.wait(t, time.Second), p.stderr.String())
			require.Contains(t, p.stderr.String(), `"msg":"pass done"`, "point %d (%s): the daemon exited 0 before the point without finishing its pass", point, what)
			keepForDebug(t, fmt.Sprintf("point-%02d.log", point), p.stderr.Bytes(), "")
			notTaken = c.points - point
			t.Logf("point %d (%s): not reached, the daemon finished the bucket first (%d alert bytes, %d documents); "+
				"points %d to %d not taken", point, what, alertBytes(t, dir), ix.Count(), point, c.points-1)
			break
		}
		require.True(t, time.Now().Before(deadline), "point %d (%s): no progress within a minute:\n%s", point, what, p.stderr.String())
		p.kill(t)
		keepForDebug(t, fmt.Sprintf("point-%02d.log", point), p.stderr.Bytes(), "")
		kills++
		if point > 0 && strings.Contains(p.stderr.String(), `"msg":"correlation state restored"`) {
			res.restored++
		}
		t.Logf("point %d: killed %s (commit delay %s); %d alert bytes, %d documents", point, what, delay, alertBytes(t, dir), ix.Count())
		if point == 0 {
			for i := len(keys) - c.late; i < len(keys); i++ {
				srv.Put(t, bucket, keys[i], stored[i])
			}
		}
	}
	// Points 0 and 1 come early in the bucket (its first alerts, or its
	// first share, and its first commit), whatever the load.
	assert.Equal(t, c.points, kills+notTaken)
	assert.GreaterOrEqual(t, kills, min(2, c.points), "the daemon was killed at its first points, before it finished")
	if notTaken > 0 {
		t.Logf("%d of %d kill points taken: the daemon finished the bucket before point %d", kills, c.points, kills)
	}

	p = startDaemonEnv(t, []string{c.clock(c.points)}, cfg, "--once")
	require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	keepForDebug(t, "final.log", p.stderr.Bytes(), dir)
	assert.Contains(t, p.stderr.String(), `"msg":"pass done"`)
	if strings.Contains(p.stderr.String(), `"msg":"correlation state restored"`) {
		res.restored++
	}

	// The file: every alert once, the uninterrupted run's.
	files := alertFiles(t, dir)
	got := alertContents(t, files...)
	assert.Equal(t, len(uninterrupted), len(got), "alerts in the file")
	if !assert.True(t, reflect.DeepEqual(uninterrupted, got), "the file holds the uninterrupted run's alerts") {
		reportDiff(t, uninterrupted, got)
		objects := map[string]bool{}
		for _, a := range readAllAlerts(t, files...) {
			objects[a.File] = true
		}
		t.Logf("%d objects of %d have alerts in the file", len(objects), campaignObjects)
	}
	// The indexer: the file's alerts, one document each, holding every
	// field of the alert with its value (the ingest pipeline adds some).
	res.docs = checkFileMatchesIndexer(t, ix, files)
	lines := map[string]string{}
	for _, a := range readAllAlerts(t, files...) {
		lines[a.ID] = a.Raw
	}
	if len(res.docs) != len(lines) {
		// Which: alerts without a document, or documents shared.
		indexed := map[string]int{}
		for _, d := range res.docs {
			indexed[d.alertID]++
		}
		missing := 0
		for id := range lines {
			if indexed[id] == 0 {
				missing++
			}
		}
		t.Logf("%d alerts of the file have no document; the last run's indexer lines:\n%s", missing, grepLines(p.stderr.String(), `"output":"indexer"`, "indexer:"))
	}
	differ := 0
	for key, d := range res.docs {
		if !holdsJSON(d.raw, []byte(lines[d.alertID])) {
			if differ++; differ <= 3 {
				t.Errorf("document %s differs from the file's alert %s:\n%s\n%s", key, d.alertID, d.raw, lines[d.alertID])
			}
		}
	}
	assert.Zero(t, differ, "documents that differ from the file's alert")
	st := ix.Stats()
	t.Logf("%d kills, %d restarts restored a correlation state; %d alerts, %d documents, %d re-sent and refused as already there",
		kills, res.restored, len(got), len(res.docs), st.Conflicts)
	return res
}

// grepLines returns the lines of log that hold one of subs.
func grepLines(log string, subs ...string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		for _, sub := range subs {
			if strings.Contains(l, sub) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// keepForDebug writes a daemon's log as name, and copies dir (when not
// empty), into the folder VPCALERTD_CAMPAIGN_DEBUG names, if it is set.
func keepForDebug(t *testing.T, name string, log []byte, dir string) {
	dbg := os.Getenv("VPCALERTD_CAMPAIGN_DEBUG")
	if dbg == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dbg, name), log, 0o644); err != nil {
		t.Logf("VPCALERTD_CAMPAIGN_DEBUG: %v", err)
	}
	if dir != "" {
		if out, err := exec.Command("cp", "-a", dir, filepath.Join(dbg, "dir")).CombinedOutput(); err != nil {
			t.Logf("VPCALERTD_CAMPAIGN_DEBUG: copy %s: %v: %s", dir, err, out)
		}
	}
}

// holdsJSON says whether the JSON object doc holds every member of the
// JSON object alert, with the same value (objects recursively).
func holdsJSON(doc, alert []byte) bool {
	var d, a any
	if json.Unmarshal(doc, &d) != nil || json.Unmarshal(alert, &a) != nil {
		return false
	}
	return holds(d, a)
}

func holds(d, a any) bool {
	am, ok := a.(map[string]any)
	if !ok {
		return reflect.DeepEqual(d, a)
	}
	dm, ok := d.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range am {
		if dv, ok := dm[k]; !ok || !holds(dv, v) {
			return false
		}
	}
	return true
}

// reportDiff logs the first alerts only one side has.
func reportDiff(t *testing.T, want, got []string) {
	t.Helper()
	count := map[string]int{}
	for _, w := range want {
		count[w]++
	}
	for _, g := range got {
		count[g]--
	}
	shown := 0
	for c, n := range count {
		if n != 0 && shown < 5 {
			shown++
			t.Logf("%+d times: %.400s", -n, c)
		}
	}
}

// lazyClock returns the VPCALERTD_TEST_CLOCK setting of one time line that
// reads base when first asked for: the daemons it is given to share it.
func lazyClock(base time.Time) func() string {
	var env string
	return func() string {
		if env == "" {
			env = clockEnv(base)
		}
		return env
	}
}

// TestCrashCampaign kills the daemon at 20 points (4 in short mode).
func TestCrashCampaign(t *testing.T) {
	points := 20
	if testing.Short() {
		points = 4
		t.Logf("short mode: %d kill points of 20 (each costs a daemon start and a part of the bucket)", points)
	}
	start := lazyClock(time.Date(2024, 3, 5, 20, 0, 0, 0, time.UTC))
	res := campaign{points: points, clock: func(int) string { return start() }}.run(t, "campaign-it")
	assert.Positive(t, res.restored, "a restart restored a correlation state (the kill after a commit)")
}

// TestCrashCampaignAcrossMidnight: the same with the first daemon before
// UTC midnight, killed once it wrote alerts, and the others after it (an
// injected clock): the alerts of the objects it began keep their day, and
// index, when read again after midnight; the others are on the next day —
// among them the last six objects, put in the bucket after that kill.
func TestCrashCampaignAcrossMidnight(t *testing.T) {
	points := 8
	if testing.Short() {
		points = 2
		t.Logf("short mode: %d kill points of 8 (each costs a daemon start and a part of the bucket)", points)
	}
	before := lazyClock(time.Date(2024, 3, 5, 23, 59, 0, 0, time.UTC))
	after := lazyClock(time.Date(2024, 3, 6, 0, 0, 30, 0, time.UTC))
	res := campaign{points: points, earlyFirst: true, late: 6, clock: func(point int) string {
		if point == 0 {
			return before()
		}
		return after()
	}}.run(t, "midnight-it")
	days := map[string]int{}
	for _, d := range res.docs {
		days[d.index]++
	}
	t.Logf("documents by index: %v", days)
	assert.Len(t, days, 2, "alerts on both days")
}
