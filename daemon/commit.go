package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
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

// testHookBeforeCommit runs after the outputs were synced and before the
// marks are written; crash tests widen that window with it.
var testHookBeforeCommit = func() {}

// committer writes finished objects' alerts to the outputs, one object at a
// time so that each object's lines are contiguous, and marks objects done
// after the outputs are synced. It is the only writer of the sink and of
// done-marks, so the alerts file up to its checkpoint holds exactly the
// alerts of objects marked done.
type committer struct {
	d      *Daemon
	ctx    context.Context // for deletes
	c      *counters
	failed chan struct{} // closed when the committer fails
	once   sync.Once

	pending []state.Mark
	done    []*result // results behind pending, for deletes and metrics
	last    time.Time
}

func (cm *committer) fail() { cm.once.Do(func() { close(cm.failed) }) }

// run consumes results until the channel is closed. After a failure it
// keeps draining (dropping results) so that workers never block.
func (cm *committer) run(results <-chan *result) error {
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	var failure error
	for {
		select {
		case res, ok := <-results:
			if !ok {
				if failure != nil {
					return failure
				}
				return cm.commit()
			}
			if failure != nil {
				res.release()
				continue
			}
			if err := cm.apply(res); err != nil {
				failure = err
				cm.fail()
				continue
			}
			if len(cm.pending) >= commitBatch {
				if err := cm.commit(); err != nil {
					failure = err
					cm.fail()
				}
			}
		case <-tick.C:
			if failure == nil && len(cm.pending) > 0 && time.Since(cm.last) >= commitEvery {
				if err := cm.commit(); err != nil {
					failure = err
					cm.fail()
				}
			}
		}
	}
}

func (r *result) release() {
	if r.spool != nil {
		r.spool.Close()
	}
}

// apply writes one result's alerts and queues its mark.
func (cm *committer) apply(res *result) error {
	defer res.release()
	d, j, c := cm.d, res.job, cm.c
	log := d.log.With("bucket", j.obj.Bucket, "key", j.obj.Key)
	switch res.outcome {
	case outcomeAbandoned:
		c.retry.Add(1)
		j.scope.incomplete.Store(true)
		return nil
	case outcomeRetry:
		c.retry.Add(1)
		c.errors.Add(1)
		j.scope.incomplete.Store(true)
		d.opts.Metrics.Error(metrics.ErrorObject)
		log.Warn("object not read, tried again next pass", "reason", reason(res.err), "error", res.err.Error())
		return nil
	case outcomeBad:
		c.bad.Add(1)
		c.errors.Add(1)
		d.opts.Metrics.Error(metrics.ErrorObject)
		if !d.cfg.SkipOnError {
			j.scope.incomplete.Store(true)
			j.bucket.stopped.Store(true)
			log.Error("bad object; the rest of the bucket waits for the next pass (skip_on_error is off)", "error", res.err.Error())
			return nil
		}
		log.Error("bad object skipped", "error", res.err.Error(), "alerts_before_error", spoolLen(res.spool))
	}
	if res.spool != nil {
		err := res.spool.Replay(j.origin, func(a *alert.Alert) error {
			if err := d.opts.Sink.Write(a); err != nil {
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
			return err
		}
	}
	c.records.Add(res.stats.Records)
	c.alerts.Add(res.stats.Alerts)
	c.badLines.Add(res.stats.BadLines)
	c.bytes.Add(res.stats.Bytes)
	d.opts.Metrics.Records(int(res.stats.Records))
	c.discarded.Add(res.discarded)
	cm.pending = append(cm.pending, state.Mark{
		ObjectID: state.ObjectID{Bucket: j.obj.Bucket, Key: j.obj.Key, ETag: j.obj.ETag},
		Scope:    j.scope.scope.ID(), Failed: res.outcome == outcomeBad, At: d.now(),
	})
	cm.done = append(cm.done, res)
	return nil
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
	if err := d.opts.Sink.Sync(); err != nil {
		d.opts.Metrics.Error(metrics.ErrorOutput)
		return fmt.Errorf("output: %w", err)
	}
	testHookBeforeCommit()
	if err := d.opts.Store.Commit(state.Commit{Marks: cm.pending, Meta: cm.meta()}); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	for _, res := range cm.done {
		j := res.job
		if res.outcome == outcomeDone {
			cm.c.objects.Add(1)
			d.opts.Metrics.ObjectDone(j.obj.LastModified, j.obj.Size)
			if j.bucket.cfg.RemoveFromBucket {
				if err := j.bucket.clients.S3.Delete(cm.ctx, j.obj.Bucket, j.obj.Key); err != nil {
					d.log.Warn("remove_from_bucket: delete failed; tried again next pass", "bucket", j.obj.Bucket, "key", j.obj.Key, "error", err.Error())
				}
			}
		}
	}
	cm.pending, cm.done = cm.pending[:0], cm.done[:0]
	if f := d.opts.File; f != nil && f.RotationDue() {
		dst, err := f.Rotate()
		if err != nil {
			return fmt.Errorf("output: %w", err)
		}
		if err := d.opts.Store.Commit(state.Commit{Meta: cm.meta()}); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		d.log.Info("alerts file rotated", "to", dst)
	}
	return nil
}

func (cm *committer) meta() map[string][]byte {
	m := map[string][]byte{}
	if f := cm.d.opts.File; f != nil {
		b, _ := json.Marshal(f.Checkpoint())
		m[metaCheckpoint] = b
	}
	if ids := cm.d.opts.IDs; ids != nil {
		m[metaIDs] = []byte(strconv.FormatInt(ids.Next(), 10))
	}
	return m
}
