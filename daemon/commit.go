package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/metrics"
)

// Commit batching: marks are written after this many objects, or when no
// result came for commitEvery, whichever is first. Each commit costs one
// fsync of the alerts file and one of the state file.
const (
	commitBatch = 64
	commitEvery = 500 * time.Millisecond
)

// committer writes finished objects' alerts to the outputs, one object at a
// time so that each object's lines are contiguous, and marks objects done
// after the outputs are synced. It is the only writer of the sink and of
// done-marks, so the alerts file up to its checkpoint holds exactly the
// alerts of objects marked done. Listing passes and SQS queues share one
// committer while the daemon runs.
//
// Listing workers hand over a result and take the next object: their
// results are committed in batches (commitBatch objects or commitEvery).
// An SQS handler waits for its object's commit before the message may be
// deleted: while such a result is pending, the committer commits as soon
// as no other result is waiting to be handed over (a group commit), so a
// handler waits for about one fsync, and under load one fsync covers many
// objects.
type committer struct {
	d      *Daemon
	ctx    context.Context // for deletes (remove_from_bucket)
	cancel context.CancelFunc
	// once is set for `run --once`: a full disk stops it instead of
	// pausing it.
	once bool
	// stopping is closed when the daemon stops taking objects; nil: never.
	stopping <-chan struct{}
	in       chan *result
	flushc   chan chan struct{}
	// failed is closed when the committer fails; err says why (written
	// before failed is closed, read only after).
	failed chan struct{}
	err    error
	exited chan struct{}

	pending []state.Mark
	done    []*result // results behind pending, for deletes, metrics and waiters
	waiting int       // results in done whose submitter waits for the commit
	last    time.Time
	// committing is set while commit runs: results taken meanwhile do not
	// start another commit.
	committing bool
	// rotateSoon asks for a commit (and so a rotation) once the object
	// being written is: the file passed rotate.max_size.
	rotateSoon bool
}

// startCommitter starts a committer; close stops it. once and stopping
// say how it treats a full disk (untilRoom).
func (d *Daemon) startCommitter(once bool, stopping <-chan struct{}) *committer {
	ctx, cancel := context.WithCancel(context.Background())
	cm := &committer{d: d, ctx: ctx, cancel: cancel, once: once, stopping: stopping, in: make(chan *result), flushc: make(chan chan struct{}),
		failed: make(chan struct{}), exited: make(chan struct{})}
	go func() {
		select {
		case <-d.abortCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	go cm.run()
	return cm
}

// submit hands a result over. Once the committer failed, the result is
// finished at once with the failure.
func (cm *committer) submit(res *result) {
	select {
	case cm.in <- res:
	case <-cm.failed:
		cm.d.awaitOver(res.reading)
		res.finish(cm.err)
	}
}

// flush commits what was handed over so far and returns the committer's
// failure, if any.
func (cm *committer) flush() error {
	ch := make(chan struct{})
	select {
	case cm.flushc <- ch:
		<-ch
	case <-cm.failed:
	}
	return cm.failure()
}

// failure returns why the committer failed, or nil.
func (cm *committer) failure() error {
	select {
	case <-cm.failed:
		return cm.err
	default:
		return nil
	}
}

// close commits what is pending and stops the committer. No submit may
// follow.
func (cm *committer) close() error {
	close(cm.in)
	<-cm.exited
	cm.cancel()
	return cm.failure()
}

func (cm *committer) run() {
	defer close(cm.exited)
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	for {
		if cm.waiting > 0 {
			// Group commit: take what is being handed over now, then commit.
			select {
			case res, ok := <-cm.in:
				if !ok {
					cm.commitNow()
					return
				}
				cm.take(res)
			default:
				cm.commitNow()
			}
			continue
		}
		select {
		case res, ok := <-cm.in:
			if !ok {
				cm.commitNow()
				return
			}
			cm.take(res)
		case ch := <-cm.flushc:
			cm.commitNow()
			close(ch)
		case <-tick.C:
			if len(cm.pending) > 0 && time.Since(cm.last) >= commitEvery {
				cm.commitNow()
			}
		}
	}
}

// take applies one result: its alerts are written and its mark queued, or
// it is finished at once when nothing is marked.
func (cm *committer) take(res *result) {
	if j := res.job; j.turn != nil {
		cm.d.seq.settle(j.place)
	}
	if cm.err != nil {
		res.finish(cm.err)
		return
	}
	marked, err := cm.apply(res)
	if !marked {
		// Let go without a mark: not a death while reading it.
		cm.d.endReading(res)
	}
	var nw *errNotWritten
	switch {
	case errors.As(err, &nw):
		res.finish(err)
		return
	case err != nil:
		res.finish(err)
		cm.fail(err)
		return
	case !marked:
		res.finish(nil)
		return
	}
	if res.wait {
		cm.waiting++
	}
	if (len(cm.pending) >= commitBatch || cm.rotateSoon) && !cm.committing {
		cm.commitNow()
	}
}

func (cm *committer) commitNow() {
	if cm.err != nil {
		return
	}
	if err := cm.commit(); err != nil {
		cm.fail(err)
	}
}

// fail records the committer's failure and finishes every pending result
// with it: their objects are not marked done.
func (cm *committer) fail(err error) {
	cm.err = err
	close(cm.failed)
	for _, res := range cm.done {
		// The daemon stops for its own reason, not the object's.
		cm.d.endReading(res)
		res.finish(err)
	}
	cm.pending, cm.done, cm.waiting = nil, nil, 0
}

func (r *result) release() {
	if r.spool != nil {
		r.spool.Close()
	}
}

// finish ends a result: its spool is dropped, its object's claim released,
// and its submitter told (err nil: the object is done and durable, or was
// not to be marked).
func (r *result) finish(err error) {
	if rd := r.reading; rd != nil && rd.over != nil {
		<-rd.over // readOver's write ends before the result (and the state)
	}
	r.release()
	r.job.unclaim()
	if r.finished != nil {
		r.finished(err)
	}
}

// apply writes one result's alerts and queues its mark; marked says
// whether it did.
func (cm *committer) apply(res *result) (marked bool, err error) {
	defer res.release()
	d, j, c := cm.d, res.job, res.job.c
	log := d.log.With("bucket", j.obj.Bucket, "key", j.obj.Key)
	switch res.outcome {
	case outcomePoison:
		return cm.poison(res, log)
	case outcomeAbandoned:
		c.retry.Add(1)
		j.incomplete()
		return false, nil
	case outcomeRetry:
		c.retry.Add(1)
		if j.scope != nil {
			j.scope.retry.Add(1)
		}
		c.errors.Add(1)
		j.incomplete()
		d.opts.Metrics.Error(metrics.ErrorObject)
		log.Warn("object not read, tried again next pass", "reason", reason(res.err), "error", res.err.Error())
		return false, nil
	case outcomeBad:
		c.bad.Add(1)
		c.errors.Add(1)
		d.opts.Metrics.Error(metrics.ErrorObject)
		if !d.cfg.SkipOnError {
			j.incomplete()
			j.bucket.stopped.Store(true)
			log.Error("bad object; the rest of the bucket waits for the next pass (skip_on_error is off)", "error", res.err.Error())
			return false, nil
		}
		log.Error("bad object skipped", "error", res.err.Error(), "alerts_before_error", spoolLen(res.spool))
	}
	if err := cm.waitRoom(res); err != nil {
		c.retry.Add(1)
		c.errors.Add(1)
		j.incomplete()
		d.opts.Metrics.Error(metrics.ErrorIndexer)
		log.Warn("object not written: the indexer's queue stayed full; read again later", "error", err.Error())
		return false, err
	}
	if f := d.opts.File; f != nil && res.spool != nil && f.RotationDueBefore(res.spool.Bytes()+int64(res.spool.Len())) && d.keeper != nil {
		// With correlation state, a commit holds exactly the objects
		// before a point of the sequence, not the ones written so far:
		// commit right after this object (the file is rotated then), so
		// a file exceeds rotate.max_size by the objects of one commit.
		cm.rotateSoon = true
	} else if f != nil && res.spool != nil && f.RotationDueBefore(res.spool.Bytes()+int64(res.spool.Len())) {
		// The file would pass rotate.max_size: commit what it holds and
		// rotate first, so a file exceeds the limit only by an object
		// whose alerts alone do.
		err := cm.commit()
		if err == nil && f.RotationDueBefore(res.spool.Bytes()+int64(res.spool.Len())) {
			err = cm.rotate() // nothing was pending: every line is committed
		}
		if err != nil {
			return false, err
		}
	}
	if err := d.extendReading(res.reading); err != nil {
		return false, err
	}
	if res.spool != nil {
		err := res.spool.Replay(j.origin, func(a *alert.Alert) error {
			if err := cm.untilRoom("writing alerts", true, func() error { return d.opts.Sink.Write(a) }); err != nil {
				return fmt.Errorf("output: %w", err)
			}
			if d.opts.IDs != nil {
				d.opts.IDs.Observe(a.JSON)
			}
			d.opts.Metrics.Alert(a.RuleID, a.Level)
			return nil
		})
		if err != nil {
			d.opts.Metrics.Error(metrics.ErrorOutput)
			return false, err
		}
	}
	c.records.Add(res.stats.Records)
	c.alerts.Add(res.stats.Alerts)
	c.badLines.Add(res.stats.BadLines)
	c.bytes.Add(res.stats.Bytes)
	d.opts.Metrics.Records(int(res.stats.Records))
	c.discarded.Add(res.discarded)
	d.logObject(res, log)
	cm.pending = append(cm.pending, state.Mark{
		ObjectID: state.ObjectID{Bucket: j.obj.Bucket, Key: j.obj.Key, ETag: j.obj.ETag},
		Scope:    j.markScope, Failed: res.outcome == outcomeBad, At: d.now(),
	})
	cm.done = append(cm.done, res)
	return true, nil
}

// poison queues the failed mark and poison record of an object the daemon
// died while reading too often, after recording it in the quarantine (a
// listed object; a queued one's message is moved aside by its queue).
func (cm *committer) poison(res *result, log *slog.Logger) (bool, error) {
	d, j := cm.d, res.job
	c := j.c
	c.bad.Add(1)
	c.errors.Add(1)
	d.opts.Metrics.ObjectSkipped(metrics.SkipCrashed)
	reason := fmt.Sprintf("the daemon stopped while reading it %d times", res.deaths)
	dest := "the queue's dead-letter queue or quarantine file"
	if j.scope != nil {
		dest = d.quarantinePath()
		if err := d.quarantine(res, reason); err != nil {
			// Not quarantined: skipped again next pass.
			c.retry.Add(1)
			j.incomplete()
			log.Error("object skipped, but recording it in the quarantine failed; skipped again next pass",
				"reason", reason, "quarantine", dest, "error", err.Error())
			return false, nil
		}
	}
	log.Error("object skipped and quarantined: "+reason+" (clear with `vpcalertd state reset --poison`)",
		"reason", reason, "quarantine", dest)
	cm.pending = append(cm.pending, state.Mark{
		ObjectID: state.ObjectID{Bucket: j.obj.Bucket, Key: j.obj.Key, ETag: j.obj.ETag},
		Scope:    j.markScope, Failed: true, At: d.now(),
		Poison: &state.Poison{Reason: reason, Deaths: res.deaths, At: d.now(), Quarantine: dest},
	})
	cm.done = append(cm.done, res)
	return true, nil
}

// logObject logs what one object gave (DEBUG), and warns when its alerts
// are more than limits.amplification times its size as stored: nothing is
// dropped (Wazuh alerts on every record too), but the operator learns where
// the alerts file's growth comes from and can add a discard_regex or
// silence the rule.
func (d *Daemon) logObject(res *result, log *slog.Logger) {
	st, size := res.stats, res.job.obj.Size
	var alertBytes int64
	if res.spool != nil {
		alertBytes = res.spool.Bytes() + int64(res.spool.Len()) // lines and their newlines
	}
	attrs := []any{"records", st.Records, "alerts", st.Alerts, "bad_records", st.BadLines, "bytes", st.Bytes,
		"size", size, "alert_bytes", alertBytes}
	log.Debug("object read", attrs...)
	if limit := int64(d.cfg.Limits.Amplification); limit > 0 && size > 0 && alertBytes > limit*size {
		log.Warn(fmt.Sprintf("object's alerts are %d times its size (limits.amplification: %d); all were written: "+
			"a discard_regex on the bucket, or a user rule that overwrites the noisy rule with level 0 (docs/authoring.md), "+
			"would keep such objects from filling the disk",
			alertBytes/size, limit), attrs...)
	}
}

func spoolLen(s *spool) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// commit syncs the outputs, writes the pending marks with the alerts
// file's checkpoint and the id high-water mark in one transaction, deletes
// objects with remove_from_bucket, and rotates the alerts file when due.
func (cm *committer) commit() error {
	d := cm.d
	cm.last = time.Now()
	if len(cm.pending) == 0 {
		return nil
	}
	cm.committing, cm.rotateSoon = true, false
	defer func() { cm.committing = false }()
	var snap []byte
	var held []*result
	if d.keeper != nil {
		snap, held = cm.snapshot()
	}
	// Whatever happens, the results held back are taken after this
	// commit (a failed commit finishes them with its error).
	defer cm.holdOver(held)
	if cm.err != nil {
		// A result taken while waiting for the snapshot failed the
		// committer: every pending result is finished with its error.
		return nil
	}
	if err := cm.untilRoom("syncing the alerts", false, d.opts.Sink.Sync); err != nil {
		d.opts.Metrics.Error(metrics.ErrorOutput)
		return fmt.Errorf("output: %w", err)
	}
	d.opts.BeforeCommit()
	meta, err := cm.meta()
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if snap != nil {
		meta[metaCorrelation] = snap
	}
	if err := cm.untilRoom("committing the marks to the state", false, func() error {
		return d.opts.Store.Commit(state.Commit{Marks: cm.pending, Meta: meta})
	}); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	cm.removeDone()
	for _, res := range cm.done {
		j := res.job
		if j.scope != nil {
			j.scope.objectDone(res)
		}
		if res.outcome == outcomeDone {
			j.c.objects.Add(1)
			j.c.lastDone.Store(time.Now().UnixNano())
			d.opts.Metrics.ObjectDone(j.obj.LastModified, j.obj.Size)
		}
		res.finish(nil)
	}
	cm.pending, cm.done, cm.waiting = cm.pending[:0], cm.done[:0], 0
	if f := d.opts.File; f != nil && f.RotationDue() {
		return cm.rotate()
	}
	return nil
}

// removeDone deletes the objects this commit marked done from the buckets
// with remove_from_bucket, each bucket's keys in DeleteObjects requests of
// up to 1,000 keys. A key not deleted is named in a WARN; the next pass
// finds it done and deletes it then (removeLeftover).
func (cm *committer) removeDone() {
	type target struct {
		c      *s3.Client
		bucket string
	}
	keys := map[target][]string{}
	var order []target
	for _, res := range cm.done {
		j := res.job
		if res.outcome != outcomeDone || !j.bucket.cfg.RemoveFromBucket {
			continue
		}
		t := target{j.bucket.clients.S3, j.obj.Bucket}
		if _, ok := keys[t]; !ok {
			order = append(order, t)
		}
		keys[t] = append(keys[t], j.obj.Key)
	}
	for _, t := range order {
		for _, f := range t.c.DeleteKeys(cm.ctx, t.bucket, keys[t]) {
			cm.d.log.Warn("remove_from_bucket: delete failed; tried again next pass", "bucket", t.bucket, "key", f.Key, "error", f.Err.Error())
		}
	}
}

// rotate rotates the alerts file and records the new file's checkpoint.
// Every line in the file must be committed.
func (cm *committer) rotate() error {
	d := cm.d
	var dst string
	err := cm.untilRoom("rotating the alerts file", true, func() (err error) {
		dst, err = d.opts.File.Rotate()
		return err
	})
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	meta, err := cm.meta()
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := cm.untilRoom("committing the state", false, func() error { return d.opts.Store.Commit(state.Commit{Meta: meta}) }); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	d.log.Info("alerts file rotated", "to", dst)
	return nil
}

// snapshot takes the correlation state at a point of the daemon's sequence
// (sequence.go) after every object taken so far: it waits for the objects
// before that point to be through the rules, takes the snapshot, and then
// takes their results as they come, so that the marks committed with it
// are exactly theirs. Results of objects after the point that come
// meanwhile are held back and returned, for the next commit.
func (cm *committer) snapshot() (snap []byte, held []*result) {
	d := cm.d
	point, turn := d.seq.take()
	in := cm.in
	// take takes a result that comes while waiting: the workers must not
	// wait for the committer, since the objects before the point may
	// still need one of them.
	take := func(res *result, ok bool) {
		switch {
		case !ok:
			in = nil // closed: every result came
		case res.job.turn != nil && res.job.place > point:
			held = append(held, res)
		default:
			cm.take(res)
		}
	}
	// The objects before the point through the rules (their turns end
	// once they are processed), then the snapshot. A failure of the
	// committer meanwhile (a result it took) ends the wait: the workers
	// then finish their results without handing them over, so their
	// places would never settle.
	failed := false
	for ready := turn.Ready(); ready != nil; {
		select {
		case <-ready:
			ready = nil
		case res, ok := <-in:
			take(res, ok)
		case <-cm.failed:
			ready, failed = nil, true
		}
	}
	if !failed {
		snap = d.keeper.Snapshot()
	}
	turn.Done()
	d.seq.settle(point)
	// Their results.
	for !failed {
		open, changed := d.seq.openBefore(point)
		if !open {
			break
		}
		select {
		case res, ok := <-in:
			take(res, ok)
		case <-changed:
		case <-cm.failed:
			failed = true
		}
	}
	return snap, held
}

// holdOver takes the results held back by snapshot, after the commit.
func (cm *committer) holdOver(held []*result) {
	for _, res := range held {
		cm.take(res)
	}
}

func (cm *committer) meta() (map[string][]byte, error) {
	m := map[string][]byte{}
	if f := cm.d.opts.File; f != nil {
		cp, err := f.Checkpoint()
		if err != nil {
			return nil, err
		}
		b, err := encodeCheckpoint(cp)
		if err != nil {
			return nil, err
		}
		m[metaCheckpoint] = b
	}
	if ids := cm.d.opts.IDs; ids != nil {
		m[metaIDs] = []byte(strconv.FormatInt(ids.Next(), 10))
	}
	return m, nil
}
