package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/output/indexer"
)

// roomWaiter is an output with a bounded queue (the indexer's): before an
// object's alerts are written, the committer waits until the queue has room
// for them, so that a full queue delays objects (or leaves one for later)
// instead of failing it half-written.
type roomWaiter interface {
	WaitRoom(ctx context.Context, n int64) error
}

// defaultRoomWait bounds the wait for room, as the indexer's
// queue.full_timeout (whose default it is) bounds Write's: then the object
// is left unwritten and unmarked, and read again later (the next pass, or
// its message's next delivery).
const defaultRoomWait = 30 * time.Second

// roomWait is how long the committer waits for room: the indexer's
// queue.full_timeout when set (negative: until the daemon is aborted),
// else Options.RoomWait.
func (d *Daemon) roomWait() time.Duration {
	if ic := d.cfg.Output.Indexer; ic != nil && ic.Queue.FullTimeout != 0 {
		return ic.Queue.FullTimeout
	}
	return d.opts.RoomWait
}

// outputsOf returns the sinks inside s (an output.Tee) or s itself.
func outputsOf(s alert.Sink) []alert.Sink {
	if t, ok := s.(output.Tee); ok {
		return t
	}
	return []alert.Sink{s}
}

// roomWaitersOf returns the outputs of s with a bounded queue.
func roomWaitersOf(s alert.Sink) []roomWaiter {
	var out []roomWaiter
	for _, o := range outputsOf(s) {
		if r, ok := o.(roomWaiter); ok {
			out = append(out, r)
		}
	}
	return out
}

// watchIndexer makes the indexer gauges of m read the indexer output's
// counters at each scrape.
func watchIndexer(m *metrics.Metrics, s alert.Sink) {
	for _, o := range outputsOf(s) {
		ix, ok := o.(interface{ Stats() indexer.Stats })
		if !ok {
			continue
		}
		m.IndexerQueue(func() (docs, bytes int64) {
			st := ix.Stats()
			docs = st.Written - st.Delivered - st.Duplicates - st.Dropped - st.DeadLettered
			return max(docs, 0), st.QueuedBytes
		})
		m.IndexerRetrying(func() int64 { return ix.Stats().Retrying })
	}
}

// errNotWritten marks a result the committer left unwritten and unmarked
// without failing: the object is read again later.
type errNotWritten struct{ err error }

func (e *errNotWritten) Error() string { return e.err.Error() }
func (e *errNotWritten) Unwrap() error { return e.err }

// waitRoom waits until every bounded output has room for the result's
// alerts.
func (cm *committer) waitRoom(res *result) error {
	if len(cm.d.rooms) == 0 || res.spool == nil || res.spool.Len() == 0 {
		return nil
	}
	wait := cm.d.roomWait()
	for _, r := range cm.d.rooms {
		ctx, cancel := cm.ctx, context.CancelFunc(func() {})
		if wait > 0 {
			ctx, cancel = context.WithTimeout(cm.ctx, wait)
		}
		err := r.WaitRoom(ctx, res.spool.Bytes())
		cancel()
		if err != nil {
			return &errNotWritten{fmt.Errorf("%s: indexer queue full, read again later: %w", res.job.origin.Path, err)}
		}
	}
	return nil
}
