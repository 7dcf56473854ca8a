package indexer

import (
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"
)

// retryReportEvery is how often, at most, documents still being retried
// one by one are reported while it lasts.
const retryReportEvery = 30 * time.Second

// retryCounts gathers the per-item retries of one response.
type retryCounts struct {
	byStatus map[int]int64
	reason   string // the indexer's reason for the last one
}

func (c *retryCounts) add(status int, reason string) {
	if c.byStatus == nil {
		c.byStatus = map[int]int64{}
	}
	c.byStatus[status]++
	c.reason = reason
}

// itemRetries follows the documents the indexer answered one by one with
// a transient error (429 when its write queue is full, a 5xx, a read-only
// index) while they wait for their retry. Delivery then slows down
// without any request failing, so it is reported: a WARN with the counts
// by status since the last one and the indexer's latest reason, at the
// first retry and then at most one every `every` while retries go on; and
// an INFO once no document waits any more. The count of waiting documents
// is Stats.Retrying (the vpcalertd_indexer_documents_retrying gauge).
type itemRetries struct {
	log   *slog.Logger
	every time.Duration

	mu       sync.Mutex    // guards the fields below
	count    int64         // documents waiting for a retry now
	byStatus map[int]int64 // retries not reported yet
	reason   string
	last     time.Time // of the last WARN
	since    time.Time // first WARN not followed by the INFO yet; zero: none
	total    int64     // retries since then
}

// retrying returns how many documents wait for a retry now.
func (r *itemRetries) retrying() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// report adds the retries of one response and writes the WARN when due.
func (r *itemRetries) report(c *retryCounts) {
	if len(c.byStatus) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byStatus == nil {
		r.byStatus = map[int]int64{}
	}
	for st, n := range c.byStatus {
		r.byStatus[st] += n
		r.total += n
	}
	r.reason = c.reason
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return
	}
	r.last = now
	if r.since.IsZero() {
		r.since = now
	}
	statuses := make([]int, 0, len(r.byStatus))
	for st := range r.byStatus {
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	args := make([]any, 0, 2*len(statuses)+6)
	for _, st := range statuses {
		args = append(args, "status_"+strconv.Itoa(st), r.byStatus[st])
	}
	args = append(args, "waiting", r.count, "reason", r.reason)
	if d := now.Sub(r.since); d > 0 {
		args = append(args, "since", d.Round(time.Second).String())
	}
	clear(r.byStatus)
	r.log.Warn("indexer: documents throttled or failing, retried with backoff; delivery is slower until the indexer takes them", args...)
}

// waiting changes the count of waiting documents by delta; when none is
// left after a WARN, it says so.
func (r *itemRetries) waiting(delta int64) {
	if delta == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count += delta
	if r.count > 0 || r.since.IsZero() {
		return
	}
	r.log.Info("indexer: retried documents delivered; no document waits for a retry", "retries", r.total,
		"since", time.Since(r.since).Round(time.Millisecond).String())
	r.since, r.total = time.Time{}, 0
	clear(r.byStatus)
}
