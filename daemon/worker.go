package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/engine"
)

// outcome is what became of one object.
type outcome int

const (
	outcomeDone      outcome = iota // read to the end; alerts in spool
	outcomeBad                      // the object's content is bad (truncated gzip, not JSON, empty)
	outcomeRetry                    // a transport or local failure; read again next pass
	outcomeAbandoned                // shutdown or bucket stopped before it finished
	outcomePoison                   // the daemon died while reading it too often: skipped, quarantined
)

// result is one processed object, handed to the committer.
type result struct {
	job     *job
	outcome outcome
	err     error
	spool   *spool
	stats   engine.Stats
	// discarded counts alerts dropped by discard_regex.
	discarded int64
	// deaths is how many reads of the object the daemon's death cut
	// before this one.
	deaths int
	// wait is set when the submitter blocks until the object is committed
	// (an SQS handler): the committer then commits without batching.
	wait bool
	// reading is the object's write-ahead record; nil when the object was
	// not read (bad before its first record, abandoned).
	reading *reading
	// finished, when set, is called once by the committer: with nil after
	// the commit that made the object's alerts durable (at once for a
	// result that is not marked), else with the committer's failure.
	finished func(err error)
}

// ErrEmptyObject is the error of an object with no bytes: AWS never writes
// one, so it is reported as bad.
var ErrEmptyObject = errors.New("empty object")

// ErrNotGzip is the error of an object whose key ends in .gz but whose
// bytes are not gzip.
var ErrNotGzip = errors.New("not gzip data although the key ends in .gz")

// process fetches and decodes one object into a spool.
func (d *Daemon) process(ctx context.Context, j *job) *result {
	res := &result{job: j}
	defer j.turn.Done() // whatever happens, the next object may go
	defer d.iso.gone(j) // ended before the gate: the jobs after it need not wait
	if j.bucket.stopped.Load() || ctx.Err() != nil {
		res.outcome = outcomeAbandoned
		return res
	}
	if j.obj.Size == 0 {
		return d.bad(res, ErrEmptyObject)
	}
	// An object a death already cut a read of is read alone, so that
	// another death counts against it only (isolate.go).
	leave, err := d.enterReading(ctx, j)
	if err != nil {
		return d.failed(res, ctx, err)
	}
	defer leave()
	// The write-ahead record comes before the first byte is read: a read
	// cut by the daemon's death counts against the object.
	obj, rd, err := d.beginReading(j)
	if err != nil {
		return d.failed(res, ctx, err)
	}
	res.reading, res.deaths = rd, rd.deaths
	if limit := d.cfg.Limits.CrashesPerObject; limit > 0 && rd.deaths >= limit {
		res.outcome = outcomePoison
		res.err = d.objErr(j, fmt.Errorf("%w: the daemon stopped while reading it %d times", ErrPoison, rd.deaths))
		return res
	}
	done := d.opts.Metrics.ObjectStarted(j.obj.LastModified)
	defer done()
	r := j.bucket.clients.S3.Open(ctx, j.obj)
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	if strings.HasSuffix(j.obj.Key, ".gz") {
		magic, err := br.Peek(2)
		switch {
		case r.Err() != nil:
			return d.failed(res, ctx, r.Err())
		case err != nil && !errors.Is(err, io.EOF):
			return d.failed(res, ctx, err)
		case len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b:
			return d.bad(res, ErrNotGzip)
		}
	}
	var in io.Reader = br
	if magic, _ := br.Peek(4); string(magic) == "PAR1" {
		// Parquet is read from its footer: the object goes to the spool
		// folder first (disk, not memory, whatever its size).
		f, err := spoolObject(d.opts.SpoolDir, br)
		if err != nil {
			if r.Err() != nil {
				err = r.Err()
			}
			return d.failed(res, ctx, err)
		}
		defer f.Close()
		in = f
	}
	sp := newSpool(d.opts.SpoolDir, d.opts.SpoolMemory)
	res.spool = sp
	var sink alert.Sink = sp
	if j.bucket.cfg.DiscardRegex != nil {
		sink = &discardSink{next: sp, field: j.bucket.cfg.DiscardField, re: j.bucket.cfg.DiscardRegex}
	}
	// The records reach the rules in the daemon's sequence (sequence.go):
	// the engine waits for the object's turn before its first record
	// reaches the stateful rules, and ends it after its last. A read the
	// daemon lets go without a mark (below: a transport or local error,
	// a shutdown, a bad object without skip_on_error) is read again
	// later, so the engine takes back what its records did to the
	// correlation state before the turn ends: they count once.
	if d.keeper != nil {
		obj.Undo = func(error) bool {
			return r.Err() != nil || sp.err != nil || ctx.Err() != nil || !d.cfg.SkipOnError
		}
	}
	pctx := engine.WithObject(ctx, obj)
	fl := j.c.flights.start(j.origin.Path, d.log.With("bucket", j.obj.Bucket, "key", j.obj.Key), d.opts.Metrics)
	st, err := d.opts.Processor.Process(engine.WithWatch(pctx, &fl.watch), j.origin, in, sink)
	// The read is over: a death from now on is not the object's.
	d.readOver(rd)
	j.turn.Done()
	j.c.flights.end(fl)
	fl.finish()
	res.stats = st
	if ds, ok := sink.(*discardSink); ok {
		res.stats.Alerts -= ds.dropped
		res.discarded = ds.dropped
	}
	switch {
	case err == nil:
		res.outcome = outcomeDone
	case r.Err() != nil:
		return d.failed(res, ctx, r.Err())
	case sp.err != nil:
		return d.failed(res, ctx, sp.err)
	case ctx.Err() != nil:
		return d.failed(res, ctx, ctx.Err())
	default:
		// Stop the bucket now (without skip_on_error), not when the
		// committer gets here, so that its next object is not started.
		return d.bad(res, err)
	}
	return res
}

// ErrPoison is the error of an object skipped because the daemon died
// while reading it too often (limits.crashes_per_object).
var ErrPoison = errors.New("object skipped")

// bad ends res as a bad object.
func (d *Daemon) bad(res *result, err error) *result {
	res.outcome, res.err = outcomeBad, d.objErr(res.job, err)
	// A listed bucket stops at a bad object without skip_on_error; a
	// queue goes on (the message is retried, then moved aside).
	if !d.cfg.SkipOnError && res.job.scope != nil {
		res.job.bucket.stopped.Store(true)
	}
	return res
}

// failed ends res as retried or abandoned.
func (d *Daemon) failed(res *result, ctx context.Context, err error) *result {
	if ctx.Err() != nil {
		res.outcome = outcomeAbandoned
	} else {
		res.outcome = outcomeRetry
	}
	res.err = d.objErr(res.job, err)
	return res
}

// objErr names the object in err unless the decoder already did
// ("s3://bucket/key:line: reason").
func (d *Daemon) objErr(j *job, err error) error {
	if strings.HasPrefix(err.Error(), j.origin.Path) || strings.Contains(err.Error(), "s3://"+j.obj.Bucket+"/"+j.obj.Key) {
		return err
	}
	return fmt.Errorf("%s: %w", j.origin.Path, err)
}
