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
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
interval: 1h
look_back: 5000d
concurrency: 1
shutdown_grace: 0s
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)

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
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		p.wait(t, time.Minute)
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
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
look_back: 5000d
concurrency: 4
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)

	// All four in flight at the first death; then one at a time.
	for i, total := range []int{4, 5, 6} {
		p := startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=1h"}, cfgPath, "--once")
		p.waitLog(t, `"msg":"vpcalertd run"`, time.Minute)
		waitReading(t, cfg, total)
		if i > 0 {
			time.Sleep(500 * time.Millisecond) // the others would have begun by now
			assert.Equal(t, total, readsNotEnded(t, cfg), "one object read at a time after a death")
		}
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		p.wait(t, time.Minute)
	}

	res := runMain(t, cfgPath, true)
	require.Equal(t, 0, res.code, res.stderr)
	skipped := res.logsWith("object skipped and quarantined")
	require.Len(t, skipped, 1, res.stderr)
	assert.Equal(t, keys[0], skipped[0]["key"])
	assert.Equal(t, map[string]int{keys[1]: 5, keys[2]: 5, keys[3]: 5}, alertFilesByKey(t, dir), "the objects read alongside it are read")
}
