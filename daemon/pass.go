package daemon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/config"
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
}

// scopeRun is one account/region listing during a pass.
type scopeRun struct {
	scope      s3.Scope
	startAfter string
	// incomplete is set when the listing failed or an object of it was not
	// done; the scope's pass time then does not advance.
	incomplete atomic.Bool
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
	cm := d.startCommitter()
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
	var scopes []*scopeRun
	for i := range d.cfg.Buckets {
		if prodCtx.Err() != nil {
			break
		}
		if b := &d.cfg.Buckets[i]; b.Listing {
			scopes = append(scopes, d.produceBucket(prodCtx, b, jobs, &c)...)
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
		d.finishScopes(start, scopes, &c)
	}
	res := PassResult{Stats: c.snapshot(), Duration: d.now().Sub(start)}
	d.logPass(res)
	return res, nil
}

// finishScopes records the pass of every scope that was listed completely
// and whose objects are all done, and prunes marks no listing can reach.
func (d *Daemon) finishScopes(start time.Time, scopes []*scopeRun, c *counters) {
	pruned := 0
	for _, s := range scopes {
		if s.incomplete.Load() {
			continue
		}
		n, err := d.opts.Store.PassDone(s.scope.ID(), start, s.startAfter)
		if err != nil {
			d.log.Error("state: recording the pass failed", "scope", s.scope.ID(), "error", err.Error())
			c.errors.Add(1)
			continue
		}
		pruned += n
	}
	// Scopes not seen for long (an account or region no longer read) are
	// forgotten; the window is far beyond any look-back.
	forget := 30*24*time.Hour + 4*d.cfg.LookBack
	ns, nm, err := d.opts.Store.PruneScopes(start.Add(-forget))
	if err != nil {
		d.log.Error("state: pruning failed", "error", err.Error())
		return
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

// progress logs a progress line every ProgressInterval until stopped.
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
				s := c.snapshot()
				el := time.Since(began).Seconds()
				d.log.Info("progress", "objects_done", s.Objects, "objects_listed", s.Listed,
					"records", s.Records, "alerts", s.Alerts, "bytes", s.Bytes,
					"records_per_s", int64(float64(s.Records)/el), "elapsed", time.Duration(el*float64(time.Second)).Round(time.Second).String())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
