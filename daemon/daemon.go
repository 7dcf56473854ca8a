package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/flowlogs"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/sqs"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/rules"
)

// Processor decodes one object and writes its alerts to sink;
// *engine.Engine is one. It must be safe for concurrent use on different
// objects.
type Processor interface {
	Process(ctx context.Context, origin event.Origin, r io.Reader, sink alert.Sink) (engine.Stats, error)
}

// FlowLogDescriber lists a region's flow logs; *flowlogs.Client is one.
type FlowLogDescriber interface {
	Describe(ctx context.Context, region string) ([]flowlogs.FlowLog, error)
}

// Clients are the AWS clients of one configured bucket.
type Clients struct {
	S3       *s3.Client
	FlowLogs FlowLogDescriber // nil: no DescribeFlowLogs
	// Head returns an object's ETag (quoted, as S3 lists it), size and
	// time, for notifications that carry none (CloudTrail's); nil: none.
	Head func(ctx context.Context, bucket, key string) (s3.Object, error)
	// SQS is the client of the bucket's queue; nil without an sqs section.
	SQS sqs.Client
	// Credentials says where the credentials came from (the SDK's
	// provider, profile, role), for messages about refused access.
	Credentials string
}

// Options configure a Daemon. Config is required; New also requires
// Processor, Sink and Store, which Serve opens from Config when they are
// nil (and then closes).
type Options struct {
	Config *config.Config
	// Once makes Serve run one pass over the listed buckets and read what
	// the queues hold now, then return (`vpcalertd run --once`).
	Once bool
	// Stdout receives the alerts when Config asks for the stdout output
	// (Serve only); default: discard.
	Stdout io.Writer
	// Processor decodes objects; Serve builds it with NewProcessor.
	Processor Processor
	// NewProcessor builds the Processor for Serve, numbering alert ids
	// from idOffset and reporting bad records to onError; default
	// NewEngine. Tests wrap it to slow objects down.
	NewProcessor func(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error)
	// Sink receives every alert, in object order; Sync must make them
	// durable (it is called before objects are marked done).
	Sink alert.Sink
	// File is the alerts file inside Sink, or nil. Its checkpoint is stored
	// with the done-marks and it is rotated between commits.
	File *output.FileSink
	// IDs is the alert id source; its high-water mark is stored with the
	// done-marks. Nil: none is kept.
	IDs   *output.IDSource
	Store *state.Store
	// Logger receives the daemon's structured log; default: discard.
	Logger *slog.Logger
	// Metrics counts objects, records, alerts and errors; nil: none.
	Metrics *metrics.Metrics
	// NewClients builds a bucket's AWS clients; default: from the AWS SDK's
	// credential chain and the bucket's settings.
	NewClients func(ctx context.Context, b *config.Bucket) (*Clients, error)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SpoolDir holds alerts of objects larger than SpoolMemory while they
	// wait to be written; default: "spool" beside the state file.
	SpoolDir string
	// SpoolMemory is how many bytes of one object's alerts are held in
	// memory before they go to SpoolDir; default 16 MiB.
	SpoolMemory int
	// RoomWait bounds the wait for room in the indexer's queue when its
	// queue.full_timeout is not set; default 30s, the default of
	// full_timeout.
	RoomWait time.Duration
	// RoomBackoff is the first wait before a write the disk refused for
	// lack of room is tried again (it then doubles up to 30s); default 1s.
	RoomBackoff time.Duration
	// BeforeCommit, when set, runs after the outputs were synced and before
	// the done-marks are committed: crash tests stretch that moment.
	BeforeCommit func()
}

// Meta keys of the state store.
const (
	metaCheckpoint  = "output.file.checkpoint"
	metaIDs         = "output.ids.next"
	metaCorrelation = "rules.correlation"
)

// StateKeeper is a Processor whose correlation state can be saved with the
// marks and put back at the next start; *engine.Engine is one.
type StateKeeper interface {
	Snapshot() []byte
	Restore(data []byte) (rules.RestoreReport, error)
}

// Daemon collects the configured buckets.
type Daemon struct {
	opts Options
	cfg  *config.Config
	log  *slog.Logger
	now  func() time.Time

	mu             sync.Mutex // guards clients, warned, describeFailed, queueDays, queueSwept and older
	clients        map[string]*Clients
	warned         map[string]bool
	describeFailed map[string]time.Time // bucket id + region -> last DescribeFlowLogs failure
	queueDays      map[string]bool      // mark scopes of queue days whose time is recorded
	queueSwept     map[string]bool      // mark scopes of queue days pruned
	older          map[string]s3.Older  // scope id + window start -> objects before it

	abortOnce sync.Once
	abortCh   chan struct{}

	// claims are the objects being read now, by listings and queues.
	claims claims
	// hasQueues is set when a bucket has an sqs section.
	hasQueues bool
	// rooms are the outputs with a bounded queue (the indexer).
	rooms []roomWaiter
	// shared is the committer of Run, used by its passes and queues; nil
	// outside Run.
	shared atomic.Pointer[committer]
	// lastQueues are the queues of the last Run or Once, for benchmarks.
	lastQueues atomic.Pointer[[]*queueRun]
	// keeper is the processor when it keeps correlation state, and seq
	// the order objects reach it in (sequence.go); both nil otherwise.
	keeper StateKeeper
	seq    *sequence
	// iso has the objects a death cut a read of read alone (isolate.go).
	iso *isolation
}

// New checks opts and returns a Daemon.
func New(opts Options) (*Daemon, error) {
	if opts.Config == nil || opts.Processor == nil || opts.Sink == nil || opts.Store == nil {
		return nil, errors.New("daemon: Config, Processor, Sink and Store are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewClients == nil {
		log := opts.Logger.With("component", "aws-sdk")
		opts.NewClients = func(ctx context.Context, b *config.Bucket) (*Clients, error) {
			return newAWSClients(ctx, b, log)
		}
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = filepath.Join(filepath.Dir(opts.Config.StatePath), "spool")
	}
	if opts.SpoolMemory <= 0 {
		opts.SpoolMemory = 16 << 20
	}
	if opts.RoomWait <= 0 {
		opts.RoomWait = defaultRoomWait
	}
	if opts.RoomBackoff <= 0 {
		opts.RoomBackoff = defaultRoomBackoff
	}
	if opts.BeforeCommit == nil {
		opts.BeforeCommit = func() {}
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// Spool files left by a crash belong to objects that were not done.
	if old, _ := filepath.Glob(filepath.Join(opts.SpoolDir, "object-*.spool")); len(old) > 0 {
		for _, p := range old {
			os.Remove(p)
		}
	}
	d := &Daemon{opts: opts, cfg: opts.Config, log: opts.Logger, now: opts.Now,
		clients: map[string]*Clients{}, warned: map[string]bool{}, describeFailed: map[string]time.Time{},
		queueDays: map[string]bool{}, queueSwept: map[string]bool{}, older: map[string]s3.Older{}, abortCh: make(chan struct{})}
	for i := range d.cfg.Buckets {
		if d.cfg.Buckets[i].SQS != nil {
			d.hasQueues = true
		}
	}
	d.rooms = roomWaitersOf(opts.Sink)
	d.iso = newIsolation()
	d.warnEndpoints()
	if k, ok := opts.Processor.(StateKeeper); ok {
		d.keeper, d.seq = k, newSequence()
		if err := d.restoreCorrelation(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// restoreCorrelation puts back the correlation state committed with the
// last marks, so that the objects read again (not marked) are correlated
// as they were the first time.
func (d *Daemon) restoreCorrelation() error {
	data, err := d.opts.Store.Meta(metaCorrelation)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if data == nil {
		return nil
	}
	rep, err := d.keeper.Restore(data)
	if err != nil {
		// Correlation starts empty: alerts may differ from an
		// uninterrupted run, nothing is lost.
		d.log.Warn("correlation state not restored; frequency and aggregate windows start empty", "state", d.cfg.StatePath, "error", err.Error())
		return nil
	}
	for _, s := range rep.Skipped {
		d.log.Warn("correlation state of a rule not restored", "reason", s)
	}
	d.log.Info("correlation state restored", "bytes", len(data))
	return nil
}

// warnEndpoints warns about vpcflow buckets with a custom S3 endpoint but
// none for EC2: their DescribeFlowLogs calls go to AWS's EC2 (or
// AWS_ENDPOINT_URL_EC2), unlike Wazuh, which sends them to the
// service_endpoint.
func (d *Daemon) warnEndpoints() {
	for i := range d.cfg.Buckets {
		b := &d.cfg.Buckets[i]
		if b.Type != event.LogTypeVPCFlow || b.ServiceEndpoint == "" || b.EC2Endpoint != "" {
			continue
		}
		to := "AWS's EC2 endpoint of each region"
		if e := os.Getenv("AWS_ENDPOINT_URL_EC2"); e != "" {
			to = e + " (AWS_ENDPOINT_URL_EC2)"
		}
		d.log.Warn("service_endpoint is set but ec2_endpoint is not: DescribeFlowLogs calls go to "+to+
			"; set ec2_endpoint to send them elsewhere", "bucket", b.Name, "service_endpoint", b.ServiceEndpoint,
			"flow_log_files", string(b.FlowLogFiles), "config", b.Pos)
	}
}

// listing says whether a bucket is listed.
func (d *Daemon) listing() bool {
	for i := range d.cfg.Buckets {
		if d.cfg.Buckets[i].Listing {
			return true
		}
	}
	return false
}

// Abort abandons the objects in flight at once (a second SIGTERM): they are
// not marked done and are read again on the next start.
func (d *Daemon) Abort() {
	d.abortOnce.Do(func() { close(d.abortCh) })
}

// Run follows the SQS queues and runs passes over the listed buckets every
// Interval (the first at once with RunOnStart) until ctx is done. Then it
// stops taking objects and messages, lets the objects in flight finish for
// up to ShutdownGrace (or until Abort), commits what finished and returns
// nil. Only an output or state failure (or a queue that cannot start)
// returns an error: the outputs can no longer be trusted, and a restart
// recovers them.
func (d *Daemon) Run(ctx context.Context) error {
	_, err := d.run(ctx, false)
	return err
}

// Once runs one pass over the listed buckets and, at the same time, reads
// what the SQS queues hold now (until a receive finds nothing), then
// returns the summed stats: `vpcalertd run --once`.
func (d *Daemon) Once(ctx context.Context) (PassResult, error) {
	return d.run(ctx, true)
}

func (d *Daemon) run(ctx context.Context, once bool) (PassResult, error) {
	start := d.now()
	cm := d.startCommitter(once, ctx.Done())
	d.shared.Store(cm)
	defer d.shared.Store(nil)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-cm.failed:
			cancel()
		case <-runCtx.Done():
		}
	}()

	queues := d.newQueues()
	d.lastQueues.Store(&queues)
	qerrs := make([]error, len(queues))
	var wg sync.WaitGroup
	for i, q := range queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if qerrs[i] = q.run(runCtx, once); qerrs[i] != nil {
				cancel()
			}
		}()
	}
	var res PassResult
	var err error
	switch {
	case once && d.listing():
		res, err = d.Pass(runCtx)
	case !once:
		err = d.loop(runCtx)
		cancel()
	}
	if err != nil {
		cancel()
	}
	wg.Wait()
	if cerr := cm.close(); cerr != nil {
		err = cerr
	}
	for _, q := range queues {
		s := q.c.snapshot()
		res.Stats.Objects += s.Objects
		res.Stats.BadObjects += s.BadObjects
		res.Stats.Retry += s.Retry
		res.Stats.Records += s.Records
		res.Stats.Alerts += s.Alerts
		res.Stats.BadLines += s.BadLines
		res.Stats.Bytes += s.Bytes
		res.Stats.Discarded += s.Discarded
		res.Stats.Errors += s.Errors
	}
	res.Duration = d.now().Sub(start)
	if once && err == nil && ctx.Err() == nil {
		d.prune()
	}
	return res, errors.Join(append([]error{err}, qerrs...)...)
}

// loop runs the passes (and the done-set housekeeping of the queues) every
// Interval until ctx is done.
func (d *Daemon) loop(ctx context.Context) error {
	listing := d.listing()
	if !d.cfg.RunOnStart || !listing {
		if !d.wait(ctx, d.cfg.Interval) {
			d.log.Info("stopped")
			return nil
		}
	}
	for {
		began := d.now()
		if listing {
			res, err := d.Pass(ctx)
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				d.log.Info("stopped", "objects_done", res.Stats.Objects)
				return nil
			}
		}
		d.prune()
		next := d.cfg.Interval - d.now().Sub(began)
		if next < 0 {
			next = 0
		}
		if listing {
			d.log.Info("next pass", "in", next.Round(time.Second).String())
		}
		if !d.wait(ctx, next) {
			d.log.Info("stopped")
			return nil
		}
	}
}

func (d *Daemon) wait(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// workContext is the context objects are processed under: it outlives
// ctx by ShutdownGrace, and Abort ends it at once.
func (d *Daemon) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-work.Done():
			return
		case <-d.abortCh:
			cancel()
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(d.cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-work.Done():
		case <-d.abortCh:
			d.log.Warn("abandoning objects in flight")
		case <-t.C:
			d.log.Warn("shutdown grace over, abandoning objects in flight", "grace", d.cfg.ShutdownGrace.String())
		}
		cancel()
	}()
	return work, cancel
}

// warnOnce logs a warning the first time key is seen, and at debug level
// afterwards, so a problem repeated every interval is not noise.
func (d *Daemon) warnOnce(key, msg string, args ...any) {
	d.mu.Lock()
	seen := d.warned[key]
	d.warned[key] = true
	d.mu.Unlock()
	if seen {
		d.log.Debug(msg, args...)
		return
	}
	d.log.Warn(msg, args...)
}
