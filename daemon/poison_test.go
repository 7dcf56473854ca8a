package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
)

// TestPoisonObject kills a real daemon three times while it reads the
// same object. The fourth start skips that object with an ERROR naming it
// and why, records it in the quarantine file and the state, counts it, and
// reads the rest; `state show` lists it and `state reset --poison` makes it
// read again. A daemon stopped cleanly while reading does not count.
func TestPoisonObject(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "poison-it")
	poison := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1)
	srv.Put(t, bucket, poison, gz(t, flowBody("111111111111", 5, 100, true)))
	cfgPath, cfg := poisonConfig(t, dir, bucket, srv.Endpoint, 1, "interval: 1h\nshutdown_grace: 0s")

	// A SIGTERM while reading it: a clean stop, not a death.
	p := startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=1h"}, cfgPath)
	p.waitLog(t, `"msg":"vpcalertd run"`, time.Minute)
	waitReading(t, cfg, 1)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.wait(t, time.Minute)
	waitReading(t, cfg, 0)

	// Three deaths while reading it.
	for i := 1; i <= 3; i++ {
		p := startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=1h"}, cfgPath, "--once")
		p.waitLog(t, `"msg":"vpcalertd run"`, time.Minute)
		waitReading(t, cfg, i)
		p.kill(t)
	}

	// The fourth start skips it, and reads an object added meanwhile.
	other := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-2", 2)
	srv.Put(t, bucket, other, gz(t, flowBody("111111111111", 5, 200, true)))
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	var errb bytes.Buffer
	code := serveFile(context.Background(), cfgPath, Options{Once: true, Metrics: m}, &bytes.Buffer{}, &errb)
	assert.Equal(t, 0, code, "a skipped object is a bad object skipped (skip_on_error): %s", errb.String())
	var skipped map[string]any
	sc := bufio.NewScanner(&errb)
	for sc.Scan() {
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["key"] == poison && l["level"] == "ERROR" {
			skipped = l
		}
	}
	require.NotNil(t, skipped, errb.String())
	assert.Contains(t, skipped["msg"], "object skipped and quarantined: the daemon stopped while reading it 3 times")
	assert.Equal(t, bucket, skipped["bucket"])
	quar := filepath.Join(dir, "quarantine", "objects.jsonl")
	assert.Equal(t, quar, skipped["quarantine"])
	assert.Equal(t, 1.0, metricstest.Gather(t, m.Registry()).Get("vpcalertd_objects_skipped_total", "reason", "crashed"))

	b, err := os.ReadFile(quar)
	require.NoError(t, err)
	var q QuarantinedObject
	require.NoError(t, json.Unmarshal(bytes.TrimSpace(b), &q))
	assert.Equal(t, bucket, q.Bucket)
	assert.Equal(t, poison, q.Key)
	assert.Equal(t, "the daemon stopped while reading it 3 times", q.Reason)
	assert.Equal(t, map[string]int{other: 5}, alertFilesByKey(t, dir), "the rest is read")

	var out bytes.Buffer
	require.NoError(t, ShowState(cfg, &out, StateOptions{}))
	assert.Contains(t, out.String(), "skipped (poison): s3://"+bucket+"/"+poison)
	assert.Contains(t, out.String(), "the daemon stopped while reading it 3 times")

	// Skipped again on the next pass, until cleared.
	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	rep, err := ResetState(cfg, StateOptions{Poison: true})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Poison)
	res = runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Equal(t, map[string]int{other: 5, poison: 5}, alertFilesByKey(t, dir), "read once cleared, and only once")
}

// poisonConfig writes the poison tests' daemon configuration (one bucket,
// JSON logs, the alerts file) with concurrency and the extra lines given,
// and loads it.
func poisonConfig(t *testing.T, dir, bucket, endpoint string, concurrency int, extra string) (string, *config.Config) {
	t.Helper()
	path := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
look_back: 5000d
concurrency: %d
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
%s
`, concurrency, bucket, endpoint, extra))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	return path, cfg
}

// waitReading waits until the write-ahead record of the bucket's one
// object counts n reads not let go by the daemon (Tries - Ended: those
// cut by its death, and the one under way). The daemon holds the state
// while it runs, so the record is read from a copy of the file.
func waitReading(t *testing.T, cfg *config.Config, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := readsNotEnded(t, cfg)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reading record: %d reads not ended, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readsNotEnded(t *testing.T, cfg *config.Config) int {
	b, err := os.ReadFile(cfg.StatePath)
	if err != nil || len(b) == 0 {
		return -1
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, os.WriteFile(cp, b, 0o600))
	store, err := state.OpenWith(cp, state.OpenOptions{ReadOnly: true})
	if err != nil {
		return -1 // copied in the middle of a write
	}
	defer store.Close()
	n := 0
	require.NoError(t, store.Readings(func(_ state.ObjectID, r state.Reading) error {
		n += r.Tries - r.Ended
		return nil
	}))
	return n
}

func alertFilesByKey(t *testing.T, dir string) map[string]int {
	out := map[string]int{}
	for _, a := range readAlerts(t, alertFiles(t, dir)...) {
		out[a.File]++
	}
	return out
}

// TestPoisonBystanders: four objects are in flight when the daemon is
// killed; each counts that death. At the next starts the objects a death
// cut are read one at a time, so the kills that follow count against the
// one being read only: after three deaths in all for the first object,
// it alone is quarantined and the three read alongside it the first time
// are read.
func TestPoisonBystanders(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "bystanders-it")
	var keys []string
	for i := 0; i < 4; i++ {
		k := flowKey("111111111111", "us-east-1", "2024-03-05", fmt.Sprintf("fl-%d", i), i)
		srv.Put(t, bucket, k, gz(t, flowBody("111111111111", 5, 100+10*i, true)))
		keys = append(keys, k)
	}
	cfgPath, cfg := poisonConfig(t, dir, bucket, srv.Endpoint, 4, "")

	// All four in flight at the first death; then one at a time.
	for i, total := range []int{4, 5, 6} {
		p := startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=1h"}, cfgPath, "--once")
		p.waitLog(t, `"msg":"vpcalertd run"`, time.Minute)
		waitReading(t, cfg, total)
		if i > 0 {
			time.Sleep(500 * time.Millisecond) // the others would have begun by now
			assert.Equal(t, total, readsNotEnded(t, cfg), "one object read at a time after a death")
		}
		p.kill(t)
	}

	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	skipped := res.logsWith("object skipped and quarantined")
	require.Len(t, skipped, 1, res.stderr)
	assert.Equal(t, keys[0], skipped[0]["key"])
	assert.Equal(t, map[string]int{keys[1]: 5, keys[2]: 5, keys[3]: 5}, alertFilesByKey(t, dir), "the objects read alongside it are read")
}

// readingsByKey reads the write-ahead records from a copy of the state
// file (the daemon holds it while it runs); nil while the copy is not
// readable (taken in the middle of a write).
func readingsByKey(t *testing.T, cfg *config.Config) map[string]state.Reading {
	b, err := os.ReadFile(cfg.StatePath)
	if err != nil || len(b) == 0 {
		return nil
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	require.NoError(t, os.WriteFile(cp, b, 0o600))
	store, err := state.OpenWith(cp, state.OpenOptions{ReadOnly: true})
	if err != nil {
		return nil
	}
	defer store.Close()
	out := map[string]state.Reading{}
	if store.Readings(func(id state.ObjectID, r state.Reading) error {
		out[id.Key] = r
		return nil
	}) != nil {
		return nil // a file being created
	}
	return out
}

// waitFor polls cond until it holds, for at most a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !within(time.Minute, cond) {
		t.Fatalf("waited a minute for %s", what)
	}
}

// within polls cond until it holds or d has passed, and says whether it
// held.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// alertLinesWith counts the whole lines of the alert files that hold s.
func alertLinesWith(t *testing.T, dir, s string) int {
	n := 0
	for _, f := range alertFiles(t, dir) {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			n += bytes.Count(b[:i+1], []byte(s))
		} else {
			continue
		}
	}
	return n
}

// TestPoisonNotAfterRead kills a real daemon four times after it read both
// objects of a bucket to the end, wrote their alerts and was only waiting
// for their commit (a commit delay of an hour): the kills are not the
// objects' fault, the write-ahead records say so, and the fifth start
// reads both again and writes their alerts once, quarantining nothing.
// Without the "read" note each kill would count against both, and the
// fourth start would quarantine them with their alerts never written.
func TestPoisonNotAfterRead(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "readkill-it")
	keys := []string{
		flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1),
		flowKey("111111111111", "us-east-1", "2024-03-05", "fl-2", 2),
	}
	for i, k := range keys {
		srv.Put(t, bucket, k, gz(t, flowBody("111111111111", 5, 100+10*i, true)))
	}
	cfgPath, cfg := poisonConfig(t, dir, bucket, srv.Endpoint, 2, "")

	for kill := 1; kill <= 4; kill++ {
		p := startDaemon(t, "1h", cfgPath, "--once")
		waitFor(t, fmt.Sprintf("kill %d: both objects' reads begun", kill), func() bool {
			rs := readingsByKey(t, cfg)
			return rs[keys[0]].Tries == kill && rs[keys[1]].Tries == kill
		})
		waitFor(t, "alerts written", func() bool { return alertLinesWith(t, dir, "fl-1") > 0 })
		// The records say both reads are over (the committer waits for
		// that before it writes an object's alerts; both are soon read).
		assert.True(t, within(10*time.Second, func() bool {
			rs := readingsByKey(t, cfg)
			return rs[keys[0]].Ended == kill && rs[keys[1]].Ended == kill
		}), "kill %d: the write-ahead records say both reads are over: %+v", kill, readingsByKey(t, cfg))
		require.False(t, p.exited(), p.stderr.String())
		p.kill(t)
	}

	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, res.logsWith("object skipped and quarantined"), "read to the end before each kill: no death")
	assert.NoFileExists(t, filepath.Join(dir, "quarantine", "objects.jsonl"))
	assert.Equal(t, map[string]int{keys[0]: 5, keys[1]: 5}, alertFilesByKey(t, dir), "every alert once")
	assert.Empty(t, readingsByKey(t, cfg), "both marked")
}

// TestPoisonBesideInnocent: an innocent object is read to the end (its
// alerts handed to the output, waiting for their commit, which waits for
// the correlation state after the next object) before a poison object that
// hangs the daemon while it is read, three times. The fourth start
// quarantines the poison object only; the innocent one's alerts are
// written once.
func TestPoisonBesideInnocent(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "beside-it")
	innocent := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1)
	poison := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-2", 2)
	srv.Put(t, bucket, innocent, gz(t, flowBody("111111111111", 5, 100, true)))
	srv.Put(t, bucket, poison, gz(t, flowBody("111111111111", 5, 200, true)))
	cfgPath, cfg := poisonConfig(t, dir, bucket, srv.Endpoint, 2, "")

	for kill := 1; kill <= 3; kill++ {
		p := startDaemonEnv(t, []string{"VPCALERTD_TEST_COMMIT_DELAY=1h", "VPCALERTD_TEST_HANG_KEY=fl-2"}, cfgPath, "--once")
		waitFor(t, fmt.Sprintf("kill %d: both objects' reads begun", kill), func() bool {
			rs := readingsByKey(t, cfg)
			return rs[innocent].Tries == kill && rs[poison].Tries == kill
		})
		assert.True(t, within(10*time.Second, func() bool { return readingsByKey(t, cfg)[innocent].Ended == kill }),
			"kill %d: the write-ahead record says the innocent object's read is over: %+v", kill, readingsByKey(t, cfg))
		assert.Zero(t, readingsByKey(t, cfg)[poison].Ended, "the poison object's read is not over")
		require.False(t, p.exited(), p.stderr.String())
		p.kill(t)
	}

	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	skipped := res.logsWith("object skipped and quarantined")
	require.Len(t, skipped, 1, res.stderr)
	assert.Equal(t, poison, skipped[0]["key"])
	assert.Contains(t, skipped[0]["msg"], "the daemon stopped while reading it 3 times")
	assert.Equal(t, map[string]int{innocent: 5}, alertFilesByKey(t, dir), "the innocent object's alerts, once")
}
