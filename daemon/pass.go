package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
)

// PassStats counts what one pass did.
type PassStats struct {
	Listed     int64 // objects listed that were not done yet
	Objects    int64 // objects done: alerts durable, marked
	BadObjects int64 // bad objects reported (marked with skip_on_error)
	Retry      int64 // objects left for a later pass
	Records    int64
	Alerts     int64
	BadLines   int64
	Bytes      int64 // decompressed bytes
	Discarded  int64 // alerts dropped by discard_regex
	Errors     int64 // problems reported: buckets, listings, objects
}

// PassResult is the outcome of one pass.
type PassResult struct {
	Stats    PassStats
	Duration time.Duration
}

// counters are a pass's (or a queue's) stats, updated concurrently.
type counters struct {
	listed, objects, bad, retry, records, alerts, badLines, bytes, discarded, errors atomic.Int64
	// lastDone is when the last object was committed (unix nanoseconds,
	// wall clock), for rates.
	lastDone atomic.Int64
	// flights are the objects being read.
	flights flights
}

func (c *counters) snapshot() PassStats {
	return PassStats{Listed: c.listed.Load(), Objects: c.objects.Load(), BadObjects: c.bad.Load(), Retry: c.retry.Load(),
		Records: c.records.Load(), Alerts: c.alerts.Load(), BadLines: c.badLines.Load(), Bytes: c.bytes.Load(),
		Discarded: c.discarded.Load(), Errors: c.errors.Load()}
}

// bucketRun is one configured bucket during a pass.
type bucketRun struct {
	cfg     *config.Bucket
	clients *Clients
	// stopped is set by a bad object without skip_on_error: the rest of
	// the bucket waits for the next pass.
	stopped atomic.Bool
	// scopes are the bucket's listings in this pass (nil for a queue's).
	scopes []*scopeRun
}

// scopeRun is one account/region listing during a pass.
type scopeRun struct {
	scope s3.Scope
	win   window
	// incomplete is set when the listing failed or an object of it was not
	// done; the scope's pass time then does not advance.
	incomplete atomic.Bool
	// What the pass found and did in the scope, for its bucket's pass line.
	listed, alreadyRead, read, bad, retry, records, alerts, bytes atomic.Int64
	// older is what the scope holds before the window, counted when the
	// window was empty (olderDone).
	older     s3.Older
	olderDone bool
	// top is the object with the most alerts so far.
	top atomic.Pointer[scopeTop]
}

// objectDone adds a committed object's counts to the scope.
func (sr *scopeRun) objectDone(res *result) {
	if res.outcome == outcomeBad {
		sr.bad.Add(1)
	} else {
		sr.read.Add(1)
	}
	sr.records.Add(res.stats.Records)
	sr.alerts.Add(res.stats.Alerts)
	sr.bytes.Add(res.stats.Bytes)
	t := &scopeTop{key: res.job.obj.Key, records: res.stats.Records, alerts: res.stats.Alerts, compressed: res.job.obj.Size, size: res.stats.Bytes}
	for {
		old := sr.top.Load()
		if old != nil && old.alerts >= t.alerts {
			return
		}
		if sr.top.CompareAndSwap(old, t) {
			return
		}
	}
}

// job is one object to read.
type job struct {
	bucket *bucketRun
	scope  *scopeRun // the listing that found it; nil for objects from SQS
	// markScope is the scope its done-mark is filed under, which decides
	// when the mark is pruned.
	markScope string
	obj       s3.Object
	origin    event.Origin
	c         *counters // the pass's or the queue's
	// claim is the object's claim in this process, released when the
	// committer is done with the object; nil when none was taken.
	claim *claim
	// place and turn are the object's place in the daemon's sequence
	// (sequence.go); turn is nil when the processor keeps no state.
	place uint64
	turn  *engine.Turn
	// gate is the job's key at the isolation gate (isolate.go).
	gate uint64
}

// placeIn gives the job the next place of seq (nil: none).
func (j *job) placeIn(seq *sequence) {
	if seq != nil {
		j.place, j.turn = seq.take()
	}
}

// unplace gives up the job's place: a job dropped before it was
// processed, or whose result does not go to the committer.
func (j *job) unplace(seq *sequence) {
	if j.turn != nil {
		j.turn.Done()
		seq.settle(j.place)
	}
}

// incomplete says the object was not done: its listing's pass time must not
// advance.
func (j *job) incomplete() {
	if j.scope != nil {
		j.scope.incomplete.Store(true)
	}
}

// unclaim releases the object's claim, if any.
func (j *job) unclaim() {
	if j.claim != nil {
		j.claim.release()
	}
}

// Pass lists every bucket with Listing once and reads the objects that are
// not done. When ctx is done it stops taking objects and returns after the
// objects in flight finished or were abandoned. Only output and state
// failures are returned as errors. While Run runs, passes share its
// committer with the SQS queues; otherwise Pass commits on its own.
func (d *Daemon) Pass(ctx context.Context) (PassResult, error) {
	if cm := d.shared.Load(); cm != nil {
		return d.pass(ctx, cm)
	}
	cm := d.startCommitter(false, nil)
	res, err := d.pass(ctx, cm)
	if cerr := cm.close(); err == nil && cerr != nil {
		err = cerr
	}
	return res, err
}

func (d *Daemon) pass(ctx context.Context, cm *committer) (PassResult, error) {
	start := d.now()
	work, cancelWork := d.workContext(ctx)
	defer cancelWork()
	var c counters
	jobs := make(chan *job)

	// A worker hands its result to the committer (unbuffered) before it
	// takes the next object, so at most Concurrency+1 spools are held
	// (each up to SpoolMemory in memory).
	var workers, committed sync.WaitGroup
	for i := 0; i < d.cfg.Concurrency; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				res := d.process(work, j)
				committed.Add(1)
				res.finished = func(error) { committed.Done() }
				cm.submit(res)
			}
		}()
	}
	stopProgress := d.progress(&c)

	// The producer stops early when the committer fails.
	prodCtx, cancelProd := context.WithCancel(ctx)
	defer cancelProd()
	go func() {
		select {
		case <-cm.failed:
			cancelProd()
		case <-prodCtx.Done():
		}
	}()
	var buckets []*bucketRun
	for i := range d.cfg.Buckets {
		if prodCtx.Err() != nil {
			break
		}
		if b := &d.cfg.Buckets[i]; b.Listing {
			if br := d.produceBucket(prodCtx, b, jobs, &c); br != nil {
				buckets = append(buckets, br)
			}
		}
	}
	close(jobs)
	workers.Wait()
	commitErr := cm.flush()
	committed.Wait()
	stopProgress()
	if commitErr != nil {
		return PassResult{Stats: c.snapshot(), Duration: d.now().Sub(start)}, commitErr
	}
	if ctx.Err() == nil {
		d.finishScopes(start, buckets, &c)
	}
	for _, br := range buckets {
		d.logBucket(br)
	}
	res := PassResult{Stats: c.snapshot(), Duration: d.now().Sub(start)}
	d.logPass(res)
	return res, nil
}

// finishScopes records the pass of every scope that was listed completely
// and whose objects are all done, and prunes marks no listing can reach.
func (d *Daemon) finishScopes(start time.Time, buckets []*bucketRun, c *counters) {
	pruned := 0
	for _, br := range buckets {
		for _, s := range br.scopes {
			if s.incomplete.Load() {
				continue
			}
			older := int64(-1)
			if s.olderDone {
				older = int64(s.older.Count)
			}
			n, err := d.opts.Store.ListingDone(s.scope.ID(), state.PassSummary{Start: start, StartAfter: s.win.startAfter,
				Listed: s.listed.Load(), Read: s.read.Load() + s.bad.Load(), AlreadyRead: s.alreadyRead.Load(), Older: older})
			if err != nil {
				d.log.Error("state: recording the pass failed", "scope", s.scope.ID(), "error", err.Error())
				c.errors.Add(1)
				continue
			}
			pruned += n
		}
	}
	// Scopes not seen for long (an account or region no longer read) are
	// forgotten; the window is far beyond any look-back.
	forget := 30*24*time.Hour + 4*d.cfg.LookBack
	ns, nm, err := d.opts.Store.PruneScopes(start.Add(-forget))
	if err != nil {
		d.log.Error("state: pruning failed", "error", err.Error())
		return
	}
	if _, err := d.opts.Store.PruneReadings(start.Add(-forget)); err != nil {
		d.log.Error("state: pruning reading records failed", "error", err.Error())
	}
	if pruned+nm > 0 || ns > 0 {
		d.log.Debug("state pruned", "marks", pruned+nm, "scopes", ns)
	}
}

func (d *Daemon) logPass(r PassResult) {
	s := r.Stats
	secs := r.Duration.Seconds()
	rate := func(n int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(int64(float64(n)/secs*10)) / 10
	}
	d.log.Info("pass done",
		"objects", s.Objects, "bad_objects", s.BadObjects, "retry", s.Retry, "errors", s.Errors,
		"records", s.Records, "alerts", s.Alerts, "bad_lines", s.BadLines, "discarded", s.Discarded,
		"bytes", s.Bytes, "duration", r.Duration.Round(time.Millisecond).String(),
		"objects_per_s", rate(s.Objects), "records_per_s", rate(s.Records))
}

// progress logs a progress line every ProgressInterval until stopped:
// objects done of those listed so far, and the records and bytes read,
// those of the objects still being read included, so that a long object
// shows progress too.
func (d *Daemon) progress(c *counters) (stop func()) {
	if d.cfg.ProgressInterval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	began := time.Now() // wall clock: rates are real whatever Options.Now says
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d.cfg.ProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				d.log.Info("progress", progressAttrs(c, began)...)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// progressAttrs are the fields of a progress line.
func progressAttrs(c *counters, began time.Time) []any {
	s := c.snapshot()
	f := c.flights.snapshot()
	el := time.Since(began).Seconds()
	records := s.Records + f.records
	attrs := []any{"objects_done", s.Objects, "objects_total", s.Listed, "in_flight", f.n,
		"records", records, "bytes", s.Bytes + f.bytes, "alerts", s.Alerts,
		"records_per_s", int64(float64(records) / el), "elapsed", time.Duration(el * float64(time.Second)).Round(time.Second).String()}
	if f.oldest != nil {
		attrs = append(attrs, "longest_object", f.oldest.key, "longest_object_records", f.oldestRecords,
			"longest_object_bytes", f.oldestBytes, "longest_object_for", time.Since(f.oldest.started).Round(time.Second).String())
	}
	return attrs
}
