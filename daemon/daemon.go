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
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/flowlogs"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/output"
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
}

// Options configure a Daemon. Config, Processor, Sink and Store are
// required.
type Options struct {
	Config    *config.Config
	Processor Processor
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
}

// Meta keys of the state store.
const (
	metaCheckpoint = "output.file.checkpoint"
	metaIDs        = "output.ids.next"
)

// Daemon collects the configured buckets.
type Daemon struct {
	opts Options
	cfg  *config.Config
	log  *slog.Logger
	now  func() time.Time

	mu             sync.Mutex // guards clients, warned and describeFailed
	clients        map[string]*Clients
	warned         map[string]bool
	describeFailed map[string]time.Time // bucket id + region -> last DescribeFlowLogs failure

	abort     context.CancelFunc // cancels objects in flight
	abortOnce sync.Once
	abortCh   chan struct{}
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
		opts.NewClients = NewAWSClients
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = filepath.Join(filepath.Dir(opts.Config.StatePath), "spool")
	}
	if opts.SpoolMemory <= 0 {
		opts.SpoolMemory = 16 << 20
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
	return &Daemon{opts: opts, cfg: opts.Config, log: opts.Logger, now: opts.Now,
		clients: map[string]*Clients{}, warned: map[string]bool{}, describeFailed: map[string]time.Time{},
		abortCh: make(chan struct{})}, nil
}

// Abort abandons the objects in flight at once (a second SIGTERM): they are
// not marked done and are read again on the next start.
func (d *Daemon) Abort() {
	d.abortOnce.Do(func() { close(d.abortCh) })
}

// Run runs passes every Interval (the first at once with RunOnStart) until
// ctx is done. Then it stops taking objects, lets the objects in flight
// finish for up to ShutdownGrace (or until Abort), commits what finished and
// returns nil. Only an output or state failure returns an error: the
// outputs can no longer be trusted, and a restart recovers them.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.cfg.RunOnStart {
		if !d.wait(ctx, d.cfg.Interval) {
			return nil
		}
	}
	for {
		began := d.now()
		res, err := d.Pass(ctx)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			d.log.Info("stopped", "objects_done", res.Stats.Objects)
			return nil
		}
		next := d.cfg.Interval - d.now().Sub(began)
		if next < 0 {
			next = 0
		}
		d.log.Info("next pass", "in", next.Round(time.Second).String())
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
