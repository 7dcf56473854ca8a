package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/collector/flowlogs"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/sqs"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/metrics"
)

// sqsScopePrefix prefixes the scopes of the done-marks of objects read from
// a queue. No listing start bounds such marks, so they are filed by bucket
// and by the day they were written ("sqs:my-bucket:2024-03-05") and a
// day's marks are dropped whole once the day is older than
// queue_marks_retention (prune).
const sqsScopePrefix = "sqs:"

// queueSweepDays is how many days before the retention limit prune looks
// at; older day scopes are forgotten by PruneScopes (30 days plus four
// look-back windows after they were first used).
const queueSweepDays = 40

func queueScopeID(bucket string, day time.Time) string {
	return sqsScopePrefix + bucket + ":" + day.Format("2006-01-02")
}

// ErrUnknownBucket is the error of a notification for a bucket that no
// bucket following the queue names: the message is retried, then moved
// aside with that reason, never dropped.
var ErrUnknownBucket = errors.New("bucket not configured for this queue")

// queueRun is one SQS queue followed by the daemon, and the buckets whose
// objects it announces.
type queueRun struct {
	d       *Daemon
	cfg     sqs.Config
	buckets []*config.Bucket
	log     *slog.Logger
	c       counters
	ignored atomic.Int64 // objects announced that no bucket reads
	gone    atomic.Int64 // objects announced that no longer exist

	flowMu sync.Mutex // guards flows; held while DescribeFlowLogs runs
	flows  map[string]flowEntry
	// reading holds a token per object being read: at most Workers.
	reading chan struct{}
}

// flowEntry is one region's flow logs, as DescribeFlowLogs gave them at.
type flowEntry struct {
	byID map[string]flowlogs.FlowLog
	at   time.Time
}

// newQueues groups the buckets with an sqs section by queue, in
// configuration order. The configuration guarantees that buckets sharing a
// queue have the same sqs settings.
func (d *Daemon) newQueues() []*queueRun {
	var out []*queueRun
	byURL := map[string]*queueRun{}
	for i := range d.cfg.Buckets {
		b := &d.cfg.Buckets[i]
		if b.SQS == nil {
			continue
		}
		q := byURL[b.SQS.QueueURL]
		if q == nil {
			q = &queueRun{d: d, cfg: *b.SQS, log: d.log.With("queue_url", b.SQS.QueueURL),
				flows: map[string]flowEntry{}}
			byURL[b.SQS.QueueURL] = q
			out = append(out, q)
		}
		q.buckets = append(q.buckets, b)
	}
	return out
}

// run follows the queue until ctx is done (drain: until it is empty).
func (q *queueRun) run(ctx context.Context, drain bool) error {
	client, err := q.client(ctx, drain)
	if err != nil || client == nil {
		return err
	}
	// The consumer runs twice as many handlers as there are workers: a
	// handler whose object is read waits for the commit before its message
	// is deleted, and meanwhile another one reads (q.reading bounds the
	// objects read at once to Workers).
	ccfg := q.cfg
	ccfg.Workers = min(2*q.cfg.Workers, 1000) // the consumer's bound
	q.reading = make(chan struct{}, q.cfg.Workers)
	cons, err := sqs.NewConsumer(ccfg, client, q.d.log, q.d.opts.Metrics)
	if err != nil {
		return err
	}
	// Objects finish within the shutdown grace after ctx is done, as in a
	// pass; the consumer then deletes their messages.
	work, cancelWork := q.d.workContext(ctx)
	defer cancelWork()
	handle := func(_ context.Context, o sqs.Object) error { return q.handle(work, o) }
	names := make([]string, len(q.buckets))
	for i, b := range q.buckets {
		names[i] = b.ID()
	}
	q.log.Info("following queue", "buckets", strings.Join(names, " "), "workers", q.cfg.Workers,
		"visibility_timeout", q.cfg.VisibilityTimeout.String(), "max_receives", q.cfg.MaxReceives)
	began := time.Now()
	stop := q.progress(began)
	if drain {
		err = cons.Drain(ctx, handle)
	} else {
		err = cons.Run(ctx, handle)
	}
	stop()
	q.logDone(began, drain)
	return err
}

// client returns the queue's client, from the credentials of its first
// bucket. While they cannot be built (no route to STS, a profile not yet
// there) it retries with backoff; a drain gives up at the first failure.
// It returns nil, nil when ctx ends first.
func (q *queueRun) client(ctx context.Context, drain bool) (sqs.Client, error) {
	ready := "sqs " + q.cfg.QueueURL
	wait := time.Second
	for {
		c, err := q.d.clientsFor(ctx, q.buckets[0])
		if err == nil {
			if c.SQS == nil {
				return nil, fmt.Errorf("queue %s: the clients of bucket %s have no SQS client", q.cfg.QueueURL, q.buckets[0].Name)
			}
			for _, b := range q.buckets[1:] {
				_, _ = q.d.clientsFor(ctx, b) // built now rather than by the first objects
			}
			return c.SQS, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		q.d.opts.Metrics.SetReady(ready, err)
		q.d.opts.Metrics.Error(metrics.ErrorS3)
		q.log.Error("queue unavailable: AWS clients", "bucket", q.buckets[0].Name, "reason", reason(err), "error", err.Error(), "retry_in", wait.String())
		if drain {
			return nil, fmt.Errorf("queue %s: %w", q.cfg.QueueURL, err)
		}
		if !q.d.wait(ctx, wait) {
			return nil, nil
		}
		wait = min(2*wait, time.Minute)
	}
}

// handle reads one announced object and returns nil once its alerts are
// durably written and it is marked done (or when it needs no reading: done
// already, or outside every bucket's folders). A bad or unreadable object
// returns its error: the message is retried, then moved aside. An object
// that no longer exists returns an error wrapping sqs.ErrObjectGone.
func (q *queueRun) handle(ctx context.Context, n sqs.Object) error {
	counted, err := q.read(ctx, n)
	switch {
	case err == nil || counted:
	case errors.Is(err, sqs.ErrObjectGone):
		q.gone.Add(1)
	case ctx.Err() != nil:
		q.c.retry.Add(1)
	default:
		q.c.errors.Add(1)
		q.c.retry.Add(1)
	}
	return err
}

// read does handle's work; counted says whether a failure was counted
// already.
func (q *queueRun) read(ctx context.Context, n sqs.Object) (counted bool, err error) {
	d := q.d
	b, sc, ki, err := q.route(n)
	if err != nil {
		return false, err
	}
	if b == nil {
		q.ignored.Add(1)
		q.log.Debug("object outside the folders the buckets read; notification dropped", "bucket", n.Bucket, "key", n.Key)
		return false, nil
	}
	clients, err := d.clientsFor(ctx, b)
	if err != nil {
		return false, fmt.Errorf("bucket %s: AWS clients: %w", b.Name, err)
	}
	br := &bucketRun{cfg: b, clients: clients}
	obj := s3.Object{Bucket: n.Bucket, Key: n.Key, ETag: quoteETag(n.ETag), Size: n.Size, LastModified: n.EventTime}
	if obj.ETag == "" {
		// CloudTrail's notifications name the files only.
		if clients.Head == nil {
			return false, fmt.Errorf("s3://%s/%s: the notification has no ETag and the bucket's client cannot ask S3", n.Bucket, n.Key)
		}
		if obj, err = clients.Head(ctx, n.Bucket, n.Key); err != nil {
			return false, err
		}
	}
	var format string
	if b.Type == event.LogTypeVPCFlow {
		fls, err := q.flowLogs(ctx, br, sc.Region)
		if err != nil {
			return false, fmt.Errorf("s3://%s/%s: flow logs of %s (flow_log_files: described): %w", n.Bucket, n.Key, sc.Region, err)
		}
		f, known := fls[ki.FlowLogID]
		if b.FlowLogFiles == config.FlowLogFilesDescribed && !known {
			q.ignored.Add(1)
			q.log.Debug("flow log not described (flow_log_files: described); notification dropped", "bucket", n.Bucket, "key", n.Key)
			return false, nil
		}
		format = f.LogFormat
	}

	id := state.ObjectID{Bucket: obj.Bucket, Key: obj.Key, ETag: obj.ETag}
	cl, err := d.claims.wait(ctx, id)
	if err != nil {
		return false, err
	}
	done, err := d.opts.Store.Done([]state.ObjectID{id})
	if err != nil {
		cl.release()
		return false, fmt.Errorf("state: %w", err)
	}
	if done[0] {
		// Read already: a repeated notification, or a message delivered
		// again after its object was committed.
		cl.release()
		return false, nil
	}
	scope, err := d.queueMarkScope(obj.Bucket)
	if err != nil {
		cl.release()
		return false, err
	}
	q.c.listed.Add(1)
	j := &job{bucket: br, markScope: scope, obj: obj, c: &q.c, claim: cl, origin: event.Origin{
		Type: b.Type, Bucket: obj.Bucket, Key: obj.Key, Path: obj.Path(),
		AccountID: sc.AccountID, AccountAlias: b.AccountAlias, Region: sc.Region,
		ETag: obj.ETag, LogFormat: format,
	}}
	select {
	case q.reading <- struct{}{}:
	case <-ctx.Done():
		cl.release()
		return false, ctx.Err()
	}
	d.iso.place(j, d.seq)
	res := d.process(ctx, j)
	<-q.reading
	if res.outcome != outcomeDone && res.outcome != outcomePoison {
		j.unplace(d.seq)
		d.endReading(res)
		res.release()
		cl.release()
		return true, q.failure(res)
	}
	committed := make(chan error, 1)
	res.wait = true
	res.finished = func(err error) { committed <- err }
	cm := d.shared.Load()
	if cm == nil {
		d.awaitOver(res.reading)
		res.finish(nil)
		return false, errors.New("the daemon's committer is not running")
	}
	cm.submit(res)
	err = <-committed
	if err == nil && res.outcome == outcomePoison {
		// Marked as skipped; the consumer moves the message aside.
		return true, fmt.Errorf("%w: %w", sqs.ErrMoveAside, res.err)
	}
	return false, err
}

// failure counts an object that was not done and returns what the
// consumer should hear.
func (q *queueRun) failure(res *result) error {
	switch res.outcome {
	case outcomeBad:
		q.c.bad.Add(1)
		q.c.errors.Add(1)
	case outcomeRetry:
		if errors.Is(res.err, s3.ErrNoSuchKey) || errors.Is(res.err, s3.ErrChanged) {
			// Deleted, or replaced by a version that has a notification of
			// its own.
			q.gone.Add(1)
			return fmt.Errorf("%w: %w", sqs.ErrObjectGone, res.err)
		}
		q.c.retry.Add(1)
		q.c.errors.Add(1)
	case outcomeAbandoned:
		q.c.retry.Add(1)
	}
	return res.err
}

// route finds the bucket configuration that reads an announced object: the
// first with its bucket name whose folders hold the key. It returns a nil
// bucket for keys no configuration reads (another prefix, another log
// type, CloudTrail digests, accounts or regions not configured, days before
// only_logs_after), and ErrUnknownBucket when no configuration names the
// bucket at all.
func (q *queueRun) route(o sqs.Object) (*config.Bucket, s3.Scope, collector.Key, error) {
	named := false
	for _, b := range q.buckets {
		if b.Name != o.Bucket {
			continue
		}
		named = true
		if sc, ki, ok := matchKey(b, o.Key); ok {
			return b, sc, ki, nil
		}
	}
	if !named {
		names := make([]string, 0, len(q.buckets))
		for _, b := range q.buckets {
			names = append(names, b.Name)
		}
		return nil, s3.Scope{}, collector.Key{}, fmt.Errorf("s3://%s/%s: %w (it follows %s)", o.Bucket, o.Key, ErrUnknownBucket, strings.Join(names, ", "))
	}
	return nil, s3.Scope{}, collector.Key{}, nil
}

// matchKey says whether bucket configuration b reads key, and gives the
// account/region scope the key is in, the same scope a listing of b finds
// (collector/s3 Discover).
func matchKey(b *config.Bucket, key string) (s3.Scope, collector.Key, bool) {
	k, ok := collector.ParseKeyUnder(b.Path+"AWSLogs/"+b.PathSuffix, key)
	if !ok || k.Layout == nil || k.Skip || k.Type != b.Type || (b.OrganizationID != "" && k.OrgID != b.OrganizationID) ||
		(len(b.AccountIDs) > 0 && !contains(b.AccountIDs, k.AccountID)) || (len(b.Regions) > 0 && !contains(b.Regions, k.Region)) {
		return s3.Scope{}, collector.Key{}, false
	}
	if !b.OnlyLogsAfter.IsZero() && !k.Day.IsZero() && k.Day.Before(b.OnlyLogsAfter) {
		return s3.Scope{}, collector.Key{}, false
	}
	return s3.ScopeOf(b.Name, k), k, true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// quoteETag gives a notification's ETag the quotes S3 lists it with, so
// that both name the same done-mark.
func quoteETag(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

// flowLogs returns a region's flow logs by id, asking EC2 at most once per
// Interval (and, after a failure with flow_log_files: all, once an hour).
func (q *queueRun) flowLogs(ctx context.Context, br *bucketRun, region string) (map[string]flowlogs.FlowLog, error) {
	key := br.cfg.ID() + " " + region
	q.flowMu.Lock()
	defer q.flowMu.Unlock()
	if e, ok := q.flows[key]; ok && q.d.now().Sub(e.at) < q.d.cfg.Interval {
		return e.byID, nil
	}
	m, err := q.d.flowLogs(ctx, br, region, map[string]map[string]flowlogs.FlowLog{})
	if err != nil {
		return nil, err
	}
	q.flows[key] = flowEntry{byID: m, at: q.d.now()}
	return m, nil
}

// queueMarkScope returns the scope of the marks written today for objects
// of bucket read from queues. (The bucket is part of the scope: the store
// indexes a scope's marks by key and ETag.) The first time a day is used
// in this process its time is recorded, so that prune finds it and
// PruneScopes forgets it.
func (d *Daemon) queueMarkScope(bucket string) (string, error) {
	now := d.now()
	id := queueScopeID(bucket, utcDay(now))
	d.mu.Lock()
	known := d.queueDays[id]
	d.mu.Unlock()
	if known {
		return id, nil
	}
	if _, err := d.opts.Store.PassDone(id, now, ""); err != nil {
		return "", fmt.Errorf("state: %w", err)
	}
	d.mu.Lock()
	d.queueDays[id] = true
	d.mu.Unlock()
	return id, nil
}

// prune drops the done-marks of objects read from queues on days older
// than queue_marks_retention — for a bucket that is also listed, never
// before the listing's window (look_back plus an interval) is past them, so
// a listing does not read them again. Without listed buckets it also
// forgets scopes not used for 30 days plus four look-back windows (a pass
// does that otherwise).
func (d *Daemon) prune() {
	// Write-ahead records of objects never done (gone, or left behind)
	// are forgotten after the same time as scopes no longer seen.
	if n, err := d.opts.Store.PruneReadings(d.now().Add(-(30*24*time.Hour + 4*d.cfg.LookBack))); err != nil {
		d.log.Error("state: pruning the records of objects being read failed", "error", err.Error())
	} else if n > 0 {
		d.log.Debug("state pruned", "reading_records", n)
	}
	if !d.hasQueues {
		return
	}
	now := d.now()
	keep := map[string]time.Duration{} // bucket name -> retention
	for i := range d.cfg.Buckets {
		b := &d.cfg.Buckets[i]
		if b.SQS == nil {
			continue
		}
		k := d.cfg.QueueMarksRetention
		if b.Listing {
			k = max(k, d.cfg.LookBack+d.cfg.Interval+24*time.Hour)
		}
		keep[b.Name] = max(keep[b.Name], k)
	}
	pruned := 0
	for bucket, k := range keep {
		limit := utcDay(now.Add(-k)) // marks of days before it go
		for day := limit.AddDate(0, 0, -queueSweepDays); day.Before(limit); day = day.AddDate(0, 0, 1) {
			id := queueScopeID(bucket, day)
			d.mu.Lock()
			swept := d.queueSwept[id]
			d.mu.Unlock()
			if swept {
				continue
			}
			_, ok, err := d.opts.Store.LastPass(id)
			if err == nil && ok {
				var n int
				n, err = d.opts.Store.PassDone(id, now, "\xff") // every key sorts before
				pruned += n
			}
			if err != nil {
				d.log.Error("state: pruning the marks of queued objects failed", "scope", id, "error", err.Error())
				continue
			}
			d.mu.Lock()
			d.queueSwept[id] = true
			d.mu.Unlock()
		}
	}
	ns, nm := 0, 0
	if !d.listing() {
		var err error
		if ns, nm, err = d.opts.Store.PruneScopes(now.Add(-(30*24*time.Hour + 4*d.cfg.LookBack))); err != nil {
			d.log.Error("state: pruning failed", "error", err.Error())
		}
	}
	if pruned+nm > 0 || ns > 0 {
		d.log.Debug("state pruned", "marks", pruned+nm, "scopes", ns)
	}
}

// progress logs a progress line every ProgressInterval while objects are
// being done.
func (q *queueRun) progress(began time.Time) (stop func()) {
	if q.d.cfg.ProgressInterval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(q.d.cfg.ProgressInterval)
		defer t.Stop()
		var last int64 = -1
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// Quiet while nothing moves: neither a done object nor a
			// record of one in flight.
			s := q.c.snapshot()
			recs := q.c.flights.snapshot().records
			if s.Objects+s.Records+recs == last {
				continue
			}
			last = s.Objects + s.Records + recs
			q.log.Info("queue progress", append(progressAttrs(&q.c, began), "errors", s.Errors)...)
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (q *queueRun) logDone(began time.Time, drain bool) {
	s := q.c.snapshot()
	msg := "queue stopped"
	if drain {
		msg = "queue drained"
	}
	el := time.Since(began)
	rate := func(n int64) float64 {
		if el <= 0 {
			return 0
		}
		return float64(int64(float64(n)/el.Seconds()*10)) / 10
	}
	q.log.Info(msg, "objects", s.Objects, "bad_objects", s.BadObjects, "retry", s.Retry, "errors", s.Errors,
		"ignored", q.ignored.Load(), "gone", q.gone.Load(), "records", s.Records, "alerts", s.Alerts,
		"bad_lines", s.BadLines, "discarded", s.Discarded, "bytes", s.Bytes,
		"duration", el.Round(time.Millisecond).String(), "objects_per_s", rate(s.Objects), "records_per_s", rate(s.Records))
}
