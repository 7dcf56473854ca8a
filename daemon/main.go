package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/output/indexer"
)

// newProcessor builds the engine; tests replace it.
var newProcessor = func(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error) {
	opts := engine.Options{ManagerName: cfg.ManagerName, IDOffset: idOffset, OnError: onError, DisabledPacks: cfg.DisabledPacks}
	if cfg.Ruleset != "" {
		opts.Ruleset = os.DirFS(cfg.Ruleset)
	}
	for _, d := range cfg.Rules {
		opts.UserRulesets = append(opts.UserRulesets, os.DirFS(d))
	}
	return engine.New(opts)
}

const usage = `usage: vpcalertd run --config FILE [--once]

Collects the configured S3 buckets every interval, and follows the SQS
queues of buckets with an sqs section, until SIGTERM or SIGINT. With --once
it lists the buckets once and reads what the queues hold now, then exits.
FILE is the daemon's YAML configuration, or an ossec.conf whose
<wodle name="aws-s3"> block is read as is (see docs/daemon.md, docs/sqs.md).

`

// Main runs "vpcalertd run": args are the arguments after "run" (a leading
// "run" is accepted). It returns the exit status: 0 after a clean stop
// (SIGTERM, SIGINT or the end of ctx) or a clean --once pass, 1 on a fatal
// error or a --once pass that left objects or buckets unread, 2 on a usage
// or configuration error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "run" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("vpcalertd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "configuration `file` (YAML, or an ossec.conf)")
	once := fs.Bool("once", false, "run one pass over the buckets and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "vpcalertd run: configuration errors:\n%v\n", err)
		return 2
	}
	log := newLogger(stderr, cfg.Log)
	code, err := run(ctx, cfg, *once, stdout, log)
	if err != nil {
		log.Error("fatal", "error", err.Error())
	}
	return code
}

func newLogger(w io.Writer, l config.Log) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func run(ctx context.Context, cfg *config.Config, once bool, stdout io.Writer, log *slog.Logger) (int, error) {
	store, err := state.Open(cfg.StatePath)
	if err != nil {
		return 1, err
	}
	defer store.Close()

	sink, file, err := openOutputs(cfg, store, stdout, log)
	if err != nil {
		return 1, err
	}
	closeSink := sync.OnceValue(sink.Close)
	defer closeSink()
	var seed int64
	if v, err := store.Meta(metaIDs); err == nil && v != nil {
		seed, _ = strconv.ParseInt(string(v), 10, 64)
	}
	var fileSize int64
	if file != nil {
		fileSize = file.Size()
	}
	ids := output.NewIDSource(seed, fileSize)
	proc, err := newProcessor(cfg, ids.Start(), badRecordLogger(log))
	if err != nil {
		return 1, fmt.Errorf("engine: %w", err)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var m *metrics.Metrics
	if cfg.Metrics != nil {
		m = metrics.New(metrics.Options{})
		watchIndexer(m, sink)
		srv, err := metrics.Listen(cfg.Metrics.Listen, m, metrics.ServeOptions{AllowNonLoopback: cfg.Metrics.AllowNonLoopback})
		if err != nil {
			return 1, err
		}
		go func() {
			if err := srv.Serve(runCtx); err != nil {
				log.Error("metrics endpoint", "error", err.Error())
			}
		}()
		log.Info("metrics endpoint", "addr", srv.Addr().String())
	}
	d, err := New(Options{Config: cfg, Processor: proc, Sink: sink, File: file, IDs: ids, Store: store, Logger: log, Metrics: m})
	if err != nil {
		return 1, err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		n := 0
		for {
			select {
			case s := <-sigs:
				n++
				if n == 1 {
					log.Info("signal: stop taking objects; finishing those in flight", "signal", s.String(), "grace", cfg.ShutdownGrace.String())
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

	log.Info("vpcalertd run", "buckets", len(cfg.Buckets), "interval", cfg.Interval.String(), "look_back", cfg.LookBack.String(),
		"concurrency", cfg.Concurrency, "state", cfg.StatePath, "once", once, "queues", len(d.newQueues()))
	code := 0
	if once {
		res, err := d.Once(runCtx)
		if err != nil {
			return 1, err
		}
		failures := res.Stats.Errors
		if cfg.SkipOnError {
			failures -= res.Stats.BadObjects
		}
		if (failures > 0 || res.Stats.Retry > 0) && runCtx.Err() == nil {
			code = 1
		}
	} else if err := d.Run(runCtx); err != nil {
		return 1, err
	}
	if err := closeSink(); err != nil {
		return 1, fmt.Errorf("output: %w", err)
	}
	return code, nil
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
			cp = new(output.FileCheckpoint)
			if err := json.Unmarshal(v, cp); err != nil {
				return nil, nil, fmt.Errorf("state: alerts file checkpoint: %w", err)
			}
			if cp.Path != fo.Path {
				cp = nil
			}
		}
		f, rec, err := output.OpenFile(fo.Path, output.FileOptions{Fsync: fo.Fsync == config.FsyncCommit, MaxSize: fo.MaxSize, Daily: fo.Daily}, cp)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case rec.Truncated > 0:
			log.Warn("alerts file: cut the alerts of objects not marked done before the stop; they are read again",
				"path", fo.Path, "bytes", rec.Truncated)
		case rec.PartialLine > 0:
			log.Warn("alerts file: cut an unterminated last line", "path", fo.Path, "bytes", rec.PartialLine)
		case rec.Shrunk:
			log.Warn("alerts file is shorter than when last committed; someone truncated it", "path", fo.Path)
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
		cpb, _ := json.Marshal(f.Checkpoint())
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

// badRecordLogger logs the engine's bad records ("path:line: reason") at
// most 20 a minute, then a count of those left out. Stream errors are not
// logged here: they come back from Process and are reported per object.
func badRecordLogger(log *slog.Logger) func(error) {
	var mu sync.Mutex
	var window time.Time
	var n, dropped int
	return func(err error) {
		var se *decoders.StreamError
		if errors.As(err, &se) {
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
