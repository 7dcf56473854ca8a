package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/decoders/parquet"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/internal/filelock"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/ojson"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/output/indexer"
	"github.com/vpcalertd/vpcalertd/report"
)

// NewEngine builds the engine of cfg: the default of Options.NewProcessor.
func NewEngine(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error) {
	return newEngine(cfg, idOffset, onError, nil, openStores.of(cfg))
}

// newEngine is NewEngine with an observer (the /traffic page's aggregator).
func newEngine(cfg *config.Config, idOffset int64, onError func(error), obs engine.Observer, corr *correlation) (Processor, error) {
	opts := engine.Options{ManagerName: cfg.ManagerName, IDOffset: idOffset, OnError: onError, DisabledPacks: cfg.DisabledPacks, Observer: obs,
		OpenTable:    parquet.Open,
		RecordLimits: ojson.Limits{MaxBytes: int(cfg.Limits.RecordSize), MaxFields: cfg.Limits.RecordFields}}
	if corr != nil {
		opts.Correlation = corr.store
	}
	if cfg.Ruleset != "" {
		opts.Ruleset = engine.Dir(cfg.Ruleset)
	}
	for _, d := range cfg.Rules {
		opts.UserRulesets = append(opts.UserRulesets, engine.Dir(d))
	}
	return engine.New(opts)
}

// NewLogger returns the logger l asks for (level, text or JSON), writing
// to w.
func NewLogger(w io.Writer, l config.Log) *slog.Logger {
	var level slog.Level
	// config.Load accepted the level; an empty one is Info.
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Serve is `vpcalertd run`: it opens the state store, the outputs and the
// engine of opts.Config (those of opts that are nil), serves the metrics
// endpoint, and runs the daemon until ctx ends or SIGTERM or SIGINT comes
// (a second signal abandons the objects in flight), or, with opts.Once,
// for one pass. It returns the exit status and the fatal error, if any,
// for the caller to report: 0 after a clean stop or a clean pass, 1 on a
// fatal error or a pass that left objects or buckets unread.
func Serve(ctx context.Context, opts Options) (int, error) {
	if opts.Config == nil {
		return 1, errors.New("daemon: Config is required")
	}
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger
	for _, w := range cfg.Warnings {
		log.Warn("configuration: " + w.Error())
	}
	if opts.Store == nil {
		if err := checkFreshState(cfg); err != nil {
			return 1, err
		}
		store, err := state.Open(cfg.StatePath)
		if err != nil {
			return 1, err
		}
		defer store.Close()
		opts.Store = store
	}
	closeSink := func() error { return nil }
	if opts.Sink == nil {
		stdout := opts.Stdout
		if stdout == nil {
			stdout = io.Discard
		}
		sink, file, err := openOutputs(cfg, opts.Store, stdout, log)
		if err != nil {
			return 1, err
		}
		opts.Sink, opts.File = sink, file
		closeSink = sync.OnceValue(sink.Close)
		defer closeSink()
	}
	if opts.IDs == nil {
		ids, err := idSource(opts.Store, opts.File)
		if err != nil {
			return 1, err
		}
		opts.IDs = ids
	}
	// The /traffic page aggregates what the engine reads, in memory only.
	traffic, err := newTraffic(cfg)
	if err != nil {
		return 1, err
	}
	var trafficObs *report.Observer
	if traffic != nil {
		trafficObs = report.NewObserver(traffic)
	}
	corr, err := openCorrelation(cfg, log)
	if err != nil {
		return 1, err
	}
	defer corr.close()
	// NewEngine, the default of NewProcessor and what wrappers of it
	// call, finds the store Serve opened for cfg.
	openStores.put(cfg, corr)
	defer openStores.put(cfg, nil)
	if opts.Processor == nil {
		newProc := opts.NewProcessor
		if newProc == nil {
			newProc = func(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error) {
				var obs engine.Observer
				if trafficObs != nil {
					obs = trafficObs
				}
				return newEngine(cfg, idOffset, onError, obs, corr)
			}
		}
		proc, err := newProc(cfg, opts.IDs.Start(), badRecordLogger(log))
		if err != nil {
			return 1, fmt.Errorf("engine: %w", err)
		}
		opts.Processor = proc
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	if cfg.Metrics != nil && opts.Metrics == nil {
		m, err := serveMetrics(runCtx, cfg, opts.Sink, trafficObs, log)
		if err != nil {
			return 1, err
		}
		opts.Metrics = m
	}
	corr.watch(opts.Metrics)
	if re, ok := opts.Processor.(interface{ RuleErrors() map[string]int64 }); ok {
		opts.Metrics.RuleErrors(re.RuleErrors) // vpcalertd_rule_errors_total
	}
	d, err := New(opts)
	if err != nil {
		return 1, err
	}
	defer onSignals(d, stop, cfg.ShutdownGrace, log)()

	log.Info("vpcalertd run", "buckets", len(cfg.Buckets), "interval", cfg.Interval.String(), "look_back", cfg.LookBack.String(),
		"concurrency", cfg.Concurrency, "state", cfg.StatePath, "once", opts.Once, "queues", len(d.newQueues()))
	code := 0
	if opts.Once {
		if code, err = runOnce(runCtx, d, log); err != nil {
			return 1, err
		}
	} else if err := d.Run(runCtx); err != nil {
		return 1, err
	}
	if err := closeSink(); err != nil {
		return 1, fmt.Errorf("output: %w", err)
	}
	return code, nil
}

// runOnce runs one pass (`run --once`) and returns its exit status: 1
// when objects failed (bad objects aside with skip_on_error) or are left
// to retry.
func runOnce(ctx context.Context, d *Daemon, log *slog.Logger) (int, error) {
	res, err := d.Once(ctx)
	if err != nil {
		return 1, err
	}
	code := 0
	failures := res.Stats.Errors
	if d.cfg.SkipOnError {
		failures -= res.Stats.BadObjects
	}
	if (failures > 0 || res.Stats.Retry > 0) && ctx.Err() == nil {
		code = 1
	}
	logOnce(log, res, code)
	return code, nil
}

// logOnce ends `run --once` with a summary of the pass and the queues,
// and why the exit status is not 0.
func logOnce(log *slog.Logger, res PassResult, code int) {
	s := res.Stats
	attrs := []any{"exit", code, "objects", s.Objects, "bad_objects", s.BadObjects, "retry", s.Retry, "errors", s.Errors,
		"records", s.Records, "alerts", s.Alerts, "bad_lines", s.BadLines, "bytes", s.Bytes,
		"duration", res.Duration.Round(time.Millisecond).String()}
	if code != 0 {
		log.Warn("run --once done: objects or buckets were left unread (see the errors above); they are read by the next run", attrs...)
		return
	}
	log.Info("run --once done", attrs...)
}

// idSource returns the alert id source, seeded with the high-water mark
// stored with the done-marks, the alerts file's size and the id ranges of
// the objects being read.
func idSource(store *state.Store, file *output.FileSink) (*output.IDSource, error) {
	var seed int64
	v, err := store.Meta(metaIDs)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if v != nil {
		if seed, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return nil, fmt.Errorf("state: alert id high-water mark %q: %w (the state file is damaged; restore it or start a new one)", v, err)
		}
	}
	var fileSize int64
	if file != nil {
		fileSize = file.Size()
	}
	// Ranges taken by reads a crash cut short stay theirs: their re-reads
	// number their alerts from them.
	reserved, err := readingsHighWater(store)
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	return output.NewIDSource(seed, fileSize, reserved), nil
}

// newTraffic returns the aggregator of the /traffic page: a rolling window
// of cfg.Metrics.TrafficWindow, or nil without a metrics endpoint.
func newTraffic(cfg *config.Config) (*report.Aggregator, error) {
	if cfg.Metrics == nil {
		return nil, nil
	}
	w := cfg.Metrics.TrafficWindow
	if w == 0 {
		w = config.DefaultTrafficWindow
	}
	agg, err := report.New(report.Options{Window: w})
	if err != nil {
		return nil, fmt.Errorf("metrics.traffic_window: %w", err)
	}
	return agg, nil
}

// serveMetrics serves the metrics endpoint, and /traffic when traffic is
// set, until ctx ends.
func serveMetrics(ctx context.Context, cfg *config.Config, sink alert.Sink, traffic *report.Observer, log *slog.Logger) (*metrics.Metrics, error) {
	mc := cfg.Metrics
	m := metrics.New(metrics.Options{})
	watchIndexer(m, sink)
	so := metrics.ServeOptions{AllowNonLoopback: mc.AllowNonLoopback}
	if traffic != nil {
		var inputs []string
		for _, b := range cfg.Buckets {
			inputs = append(inputs, "s3://"+b.Name)
		}
		meta := report.Meta{Title: "VPC traffic (live)", Source: "live", Inputs: inputs,
			Notes: []string{fmt.Sprintf("The last %s of record times, as this daemon read them since it started: the page is kept in memory only, so it starts empty after a restart.", mc.TrafficWindow)}}
		so.Pages = map[string]http.Handler{"/traffic": report.Handler(traffic, meta)}
	}
	srv, err := metrics.Listen(mc.Listen, m, so)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := srv.Serve(ctx); err != nil {
			log.Error("metrics endpoint", "error", err.Error())
		}
	}()
	log.Info("metrics endpoint", "addr", srv.Addr().String())
	return m, nil
}

// onSignals makes the first SIGTERM or SIGINT call stop (objects in flight
// finish for up to grace) and the second abort d. The returned function
// stops listening.
func onSignals(d *Daemon, stop func(), grace time.Duration, log *slog.Logger) func() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	finished := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case s := <-sigs:
				n++
				if n == 1 {
					log.Info("signal: stop taking objects; finishing those in flight", "signal", s.String(), "grace", grace.String())
					stop()
				} else {
					log.Warn("second signal: abandoning objects in flight", "signal", s.String())
					d.Abort()
				}
			case <-finished:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(finished)
	}
}

// openOutputs opens the alerts file (recovering it to the checkpoint
// stored with the done-marks) and stdout.
func openOutputs(cfg *config.Config, store *state.Store, stdout io.Writer, log *slog.Logger) (alert.Sink, *output.FileSink, error) {
	var tee output.Tee
	var file *output.FileSink
	if fo := cfg.Output.File; fo != nil {
		var cp *output.FileCheckpoint
		if v, err := store.Meta(metaCheckpoint); err != nil {
			return nil, nil, err
		} else if v != nil {
			if cp, err = decodeCheckpoint(v); err != nil {
				return nil, nil, err
			}
			if cp.Path != fo.Path {
				cp = nil
			}
		}
		f, rec, err := output.OpenFile(fo.Path, fileOptions(cfg), cp)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case rec.Truncated > 0 && rec.NoPos:
			log.Warn("alerts file: cut the alerts of objects not marked done before the stop; they are read again "+
				"(no note of how far vpcalertd wrote was found: everything after the last commit was taken as its own)",
				"path", fo.Path, "bytes", rec.Truncated)
		case rec.Truncated > 0:
			log.Warn("alerts file: cut the alerts of objects not marked done before the stop; they are read again",
				"path", fo.Path, "bytes", rec.Truncated)
		case rec.PartialLine > 0:
			log.Warn("alerts file: cut an unterminated last line", "path", fo.Path, "bytes", rec.PartialLine)
		case rec.Emptied:
			log.Warn("alerts file was emptied by someone else since the last commit (copytruncate?); appending to it", "path", fo.Path)
		case rec.Foreign:
			log.Info("alerts file was replaced or rotated by someone else; appending to it", "path", fo.Path)
		}
		// A file left from an earlier day (or over its size) is rotated
		// before new alerts go in.
		if f.RotationDue() {
			dst, err := f.Rotate()
			if err != nil {
				f.Close()
				return nil, nil, err
			}
			log.Info("alerts file rotated", "to", dst)
		}
		// Whatever the file holds now is accounted for: record it before
		// anything is written, so that a crash before the first commit
		// cuts back to here.
		fcp, err := f.Checkpoint()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		cpb, err := encodeCheckpoint(fcp)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := store.Commit(state.Commit{Meta: map[string][]byte{metaCheckpoint: cpb}}); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("state: %w", err)
		}
		file = f
		tee = append(tee, f)
	}
	if cfg.Output.Stdout {
		tee = append(tee, output.NewStream(stdout))
	}
	if ic := cfg.Output.Indexer; ic != nil {
		// With a disk queue, Sync is durable once the alerts are queued, so
		// objects are marked read while the indexer is away. Before an
		// object's alerts are written the committer waits for room in the
		// queue (queue.full_timeout); an object that finds none is left for
		// a later read. A Write that still fails stops the daemon (exit 1):
		// the restart cuts the alerts file back to the last commit, so
		// nothing is lost or repeated.
		s, err := indexer.New(*ic, log.With("output", "indexer"))
		if err != nil {
			tee.Close()
			return nil, nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.Check(ctx)
		cancel()
		switch {
		case errors.Is(err, indexer.ErrUnauthorized):
			s.Close()
			tee.Close()
			return nil, nil, err
		case err != nil:
			log.Warn("indexer not reachable at start; alerts wait in its queue", "err", err)
		}
		tee = append(tee, s)
	}
	if len(tee) == 1 {
		return tee[0], file, nil
	}
	return tee, file, nil
}

// fileOptions are the alerts file's options: the position note lives
// beside the state file, whose checkpoint it completes.
func fileOptions(cfg *config.Config) output.FileOptions {
	fo := cfg.Output.File
	return output.FileOptions{Fsync: fo.Fsync == config.FsyncCommit, MaxSize: fo.MaxSize, Daily: fo.Daily,
		PosPath: cfg.StatePath + ".alerts-pos"}
}

// ErrNoState is the error of a start without a state file while the alerts
// file holds alerts: a new state would read the window's objects again and
// write their alerts a second time.
var ErrNoState = errors.New("no state file for a non-empty alerts file")

// checkFreshState refuses to start a new state while the alerts file
// holds alerts (the state was deleted or moved, or the configuration points
// at another file): `vpcalertd state reset` starts one on purpose.
func checkFreshState(cfg *config.Config) error {
	fo := cfg.Output.File
	if fo == nil {
		return nil
	}
	exists, err := state.Exists(cfg.StatePath)
	if err != nil || exists {
		return err
	}
	f, err := os.Open(fo.Path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return nil
	}
	// Another daemon writing the file is the likelier story: say that.
	if err := filelock.Lock(f); err != nil {
		return fmt.Errorf("alerts file %s: %w; one vpcalertd per alerts file, and no other writer", fo.Path, err)
	}
	return fmt.Errorf("%w: state file %s does not exist, but alerts file %s holds %d bytes; a new state would read "+
		"the objects of the window again and write their alerts a second time. Restore the state file, or run "+
		"`vpcalertd state reset --config FILE` to start a new state that keeps the alerts file as it is, or move the alerts file aside",
		ErrNoState, cfg.StatePath, fo.Path, st.Size())
}

// badRecordLogger logs the engine's bad records ("path:line: reason") at
// most 20 a minute, then a count of those left out. Stream errors are not
// logged here: they come back from Process and are reported per object.
// The engine's warnings (a rule on a field no decoder produces, a rule's
// first run-time error) come once each and are logged as such.
func badRecordLogger(log *slog.Logger) func(error) {
	var mu sync.Mutex
	var window time.Time
	var n, dropped int
	return func(err error) {
		var se *decoders.StreamError
		if errors.As(err, &se) {
			return
		}
		var w *engine.Warning
		if errors.As(err, &w) {
			log.Warn("ruleset", "warning", w.Err.Error())
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(window) > time.Minute {
			if dropped > 0 {
				log.Warn("bad records not logged", "count", dropped)
			}
			window, n, dropped = now, 0, 0
		}
		if n >= 20 {
			dropped++
			return
		}
		n++
		log.Warn("bad record", "error", strings.TrimSpace(err.Error()))
	}
}

// encodeCheckpoint encodes the alerts file's checkpoint for the state
// (metaCheckpoint); decodeCheckpoint reads it back.
func encodeCheckpoint(cp output.FileCheckpoint) ([]byte, error) {
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, fmt.Errorf("alerts file checkpoint: %w", err)
	}
	return b, nil
}

func decodeCheckpoint(v []byte) (*output.FileCheckpoint, error) {
	cp := new(output.FileCheckpoint)
	if err := json.Unmarshal(v, cp); err != nil {
		return nil, fmt.Errorf("state: alerts file checkpoint: %w", err)
	}
	return cp, nil
}
