package indexer

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// throttleReason is what OpenSearch answers for a document its write
// thread pool had no room for.
const throttleReason = "rejected execution of primary operation [shard_detail=[wazuh-alerts-4.x-2024.03.05][0][P], " +
	"shard_coordinating_and_primary_bytes=0, shard_operation_bytes=1024, shard_max_coordinating_and_primary_bytes=1]"

// TestThrottlingWaitedOut: half of the documents are answered 429 for a
// while (10 s, 3 s in -short), then none. Every alert is delivered once;
// the throttling is reported while it lasts (a WARN at once with the
// counts and the indexer's reason, then at most one per period) and by
// the retrying gauge; and while documents of each request get through, the
// waits start over instead of growing, so delivery resumes at full speed
// once the throttling ends. The rate at which the backlog then clears,
// against an unthrottled run with the same indexer, is logged, not
// asserted: on a loaded machine the test does not get the CPU to measure
// it (TestThrottleWaitsStartOver checks the waits alone).
func TestThrottlingWaitedOut(t *testing.T) {
	throttle, n0 := 10*time.Second, 2000
	if testing.Short() {
		throttle = 3 * time.Second
	}
	srv := newServer(t, indexertest.Options{Latency: 250 * time.Millisecond, Discard: true})
	var throttled atomic.Bool
	srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
		if throttled.Load() && rand.IntN(2) == 0 {
			return &indexertest.ItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: throttleReason}
		}
		return nil
	})
	// The default retry settings: what a user gets.
	cfg := Config{URL: srv.URL, Batch: BatchConfig{MaxCount: 100, Interval: 10 * time.Millisecond}}
	s, logs := newSink(t, cfg)
	var grew atomic.Int64 // rounds in which documents got through and the wait did not start over
	s.retried = func(sent, again, attempt int) {
		if again < sent && attempt != 0 {
			grew.Add(1)
		}
	}
	warnEvery := throttle / 4
	s.itemRetries.every = warnEvery

	alerts := manyAlerts(t, n0)
	waitDelivered := func(n int64) time.Time {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for s.Stats().Delivered < n {
			require.True(t, time.Now().Before(deadline), "delivered %d of %d: %+v", s.Stats().Delivered, n, s.Stats())
			time.Sleep(5 * time.Millisecond)
		}
		return time.Now()
	}

	// Unthrottled: the reference rate, of delivering a backlog.
	writeAll(t, s, alerts[:n0])
	start, before := time.Now(), s.Stats().Delivered
	r0 := float64(int64(n0)-before) / waitDelivered(int64(n0)).Sub(start).Seconds()

	// Throttled, then not, with a backlog of about 3 s of unthrottled
	// work: a delivery that takes seconds to resume after the throttling
	// shows against it.
	n1 := int(3*r0) + 200
	alerts = append(alerts, manyAlerts(t, n0+n1)[n0:]...)
	throttled.Store(true)
	writeAll(t, s, alerts[n0:])
	maxRetrying := int64(0)
	for end := time.Now().Add(throttle); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		maxRetrying = max(maxRetrying, s.Stats().Retrying)
	}
	throttled.Store(false)
	ended := time.Now()
	backlog := int64(n0+n1) - s.Stats().Delivered
	require.Greater(t, backlog, int64(n1/2), "the backlog at the end of the throttling is most of the alerts")
	cleared := waitDelivered(int64(n0 + n1))
	r1 := float64(backlog) / cleared.Sub(ended).Seconds()
	t.Logf("unthrottled %.0f alerts/s; backlog of %d after %v of throttling cleared at %.0f alerts/s", r0, backlog, throttle, r1)
	assert.Zero(t, grew.Load(), "rounds in which documents got through but the wait grew")

	// Every alert once.
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
	st := s.Stats()
	assert.Equal(t, int64(n0+n1), st.Delivered)
	assert.Zero(t, st.Duplicates)
	assert.Zero(t, st.DeadLettered)
	assert.Equal(t, n0+n1, srv.Stats().Created)

	// Visible while it lasted.
	assert.Positive(t, maxRetrying, "the retrying gauge showed the throttled documents")
	assert.Zero(t, st.Retrying, "nothing waits for a retry any more")
	out := logs.String()
	warns := regexp.MustCompile(`level=WARN msg="indexer: documents throttled or failing, retried[^\n]*`).FindAllString(out, -1)
	require.NotEmpty(t, warns, out)
	assert.Contains(t, warns[0], "status_429=")
	assert.Contains(t, warns[0], "es_rejected_execution_exception: rejected execution of primary operation")
	assert.LessOrEqual(t, len(warns), int(throttle/warnEvery)+1, "at most one WARN per period:\n%s", strings.Join(warns, "\n"))
	assert.Contains(t, out, `msg="indexer: retried documents delivered`)
}

// TestThrottleWaitsStartOver: while some documents of each request get
// through, the wait before retrying the others does not grow (the indexer
// takes work; the waits grow only while nothing gets through), so
// delivery resumes at once when the throttling ends. The retry number each
// wait is computed from is checked, not the time between requests, which a
// loaded machine stretches. Which documents are refused comes from a
// seeded source, so every run sees the same rounds: with an unseeded one,
// a lucky run (1 in a few dozen) got everything through in five rounds
// and failed the "several rounds" check.
func TestThrottleWaitsStartOver(t *testing.T) {
	srv := newServer(t, indexertest.Options{Discard: true})
	var refuseMu sync.Mutex
	refuse := rand.New(rand.NewPCG(1, 18))
	srv.SetItemHook(func(it indexertest.Item) *indexertest.ItemError {
		refuseMu.Lock()
		no := refuse.IntN(2) == 0
		refuseMu.Unlock()
		if no {
			return nil
		}
		return &indexertest.ItemError{Status: 429, Type: "es_rejected_execution_exception", Reason: throttleReason}
	})
	cfg := fastConfig(srv.URL)
	cfg.Batch.Workers = 1
	cfg.Batch.Interval = time.Minute // one batch, sent by Sync
	cfg.Retry = RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	s, _ := newSink(t, cfg)
	type round struct{ sent, again, attempt int }
	var mu sync.Mutex
	var rounds []round
	s.retried = func(sent, again, attempt int) {
		mu.Lock()
		defer mu.Unlock()
		rounds = append(rounds, round{sent, again, attempt})
	}
	alerts := manyAlerts(t, 256)
	writeAll(t, s, alerts)
	require.NoError(t, s.Sync())
	assert.Equal(t, expectedIDs(alerts), storedIDs(t, srv))
	mu.Lock()
	defer mu.Unlock()
	t.Logf("rounds (sent, refused again, retry number): %v", rounds)
	require.Greater(t, len(rounds), 5, "the documents were throttled over several rounds: %v", rounds)
	progress, stalled := 0, 0
	for i, r := range rounds {
		switch {
		case r.again < r.sent:
			progress++
			assert.Zero(t, r.attempt, "round %d %v: documents got through, the wait starts over", i, r)
		case i > 0 && rounds[i-1].again == r.sent:
			stalled++
			assert.Equal(t, rounds[i-1].attempt+1, r.attempt, "round %d %v: nothing got through, the wait grows", i, r)
		}
	}
	assert.Greater(t, progress, 5, "rounds in which documents got through: %v", rounds)
	assert.Positive(t, stalled, "a round in which nothing got through, so the growing wait is checked too: %v", rounds)
}
