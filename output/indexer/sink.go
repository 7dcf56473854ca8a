package indexer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
)

// Sink is an alert.Sink that indexes alerts into the Wazuh indexer. It is
// safe for concurrent use.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	client *client
	q      queue
	disk   bool
	dlq    *deadLetter // nil without a dead-letter file
	geo    *geoDB

	builders sync.Pool // *builder
	bufs     sync.Pool // *[]byte

	ctx     context.Context // cancelled to stop the workers at once
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close: writers stop waiting
	closed  atomic.Bool
	urgent  atomic.Int32  // > 0 while someone waits for delivery: send partial batches now
	wake    chan struct{} // wakes the dispatcher
	batches chan *batch
	wg      sync.WaitGroup

	ackMu    sync.Mutex // guards the fields below
	nextSeq  uint64     // sequence of the next batch to acknowledge
	done     map[uint64]*batch
	acked    uint64        // records acknowledged (this process)
	ackCh    chan struct{} // closed and replaced after each acknowledgement
	rejected error         // permanent rejections not kept anywhere (no dead-letter file), for Sync
	lastPut  uint64        // highest queue order returned by put

	health      health
	itemRetries itemRetries
	stats       counters

	// retried, when set (tests), is told of each response with documents
	// to send again: how many were sent, how many are sent again, and the
	// retry number the wait before it is computed from.
	retried func(sent, again, attempt int)
}

var _ alert.Sink = (*Sink)(nil)

// Stats counts what the sink did since it started.
type Stats struct {
	Written      int64 // alerts accepted by Write
	Delivered    int64 // documents the indexer accepted (created)
	Duplicates   int64 // documents that were already there (409 on create): retries and re-reads
	Dropped      int64 // documents a user pipeline dropped (result noop)
	DeadLettered int64 // documents rejected for good (in the dead-letter file)
	Repaired     int64 // documents with fields moved aside to fit the template
	Truncated    int64 // documents with keyword values cut to 32766 bytes
	Retries      int64 // requests and per-item retries
	Requests     int64 // `_bulk` requests sent
	QueuedBytes  int64 // bytes in the queue, not yet acknowledged
	Retrying     int64 // documents waiting for a per-item retry now (429, 5xx, read-only index)
}

type counters struct {
	written, delivered, duplicates, dropped, dead, repaired, truncated, retries, requests atomic.Int64
}

// New starts a sink. It reads the credentials, the CA and client
// certificates, opens the queue (delivering what a previous run left in a
// disk queue) and the dead-letter file, and starts the workers. It makes
// no request: an unreachable indexer is not an error here (see Check).
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("indexer: %w", err)
	}
	cfg = cfg.withDefaults()
	c, warnings, err := newClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("indexer: %w", err)
	}
	s := &Sink{cfg: cfg, log: logger, client: c, done: map[uint64]*batch{}, ackCh: make(chan struct{}),
		closing: make(chan struct{}), wake: make(chan struct{}, 1), batches: make(chan *batch)}
	s.health.log = logger
	s.itemRetries.log, s.itemRetries.every = logger, retryReportEvery
	if cfg.GeoIP.Database != "" {
		if s.geo, err = openGeoDB(cfg.GeoIP.Database); err != nil {
			return nil, fmt.Errorf("indexer: %w", err)
		}
	}
	if cfg.Queue.Dir != "" {
		dq, err := openDiskQueue(cfg.Queue.Dir, int64(cfg.Queue.MaxBytes), logger)
		if err != nil {
			s.closeResources()
			return nil, fmt.Errorf("indexer: %w", err)
		}
		s.q, s.disk = dq, true
	} else {
		s.q = newMemQueue(int64(cfg.Queue.MaxBytes))
	}
	if cfg.DeadLetter != "" {
		if s.dlq, err = openDeadLetter(cfg.DeadLetter); err != nil {
			_ = s.q.close()
			s.closeResources()
			return nil, fmt.Errorf("indexer: %w", err)
		}
	}
	s.builders.New = func() any {
		return &builder{prefix: cfg.IndexPrefix, pipeline: cfg.Pipeline, input: cfg.PipelineInput, geo: s.geo, now: time.Now}
	}
	for _, w := range warnings {
		logger.Warn("indexer: " + w)
	}
	urls := make([]string, len(c.urls))
	for i, u := range c.urls {
		urls[i] = u.Redacted()
	}
	queueDesc := "memory"
	if s.disk {
		queueDesc = cfg.Queue.Dir
	}
	logger.Info("indexer: output started", "urls", urls, "index_prefix", cfg.IndexPrefix, "pipeline", cfg.Pipeline,
		"queue", queueDesc, "queue_max_bytes", int64(cfg.Queue.MaxBytes), "dead_letter_file", cfg.DeadLetter,
		"auth", c.authDesc, "geoip", cfg.GeoIP.Database != "")
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1 + cfg.Batch.Workers)
	go s.dispatch()
	for range cfg.Batch.Workers {
		go s.work()
	}
	return s, nil
}

// Check makes one request to the indexer (GET /, and the pipeline when one
// is set) and returns why it would fail: unreachable, TLS verification,
// ErrUnauthorized with the user named, a missing pipeline. A CLI calls it
// at start to fail fast on a wrong password; the daemon may start without
// it, since alerts wait in the queue.
func (s *Sink) Check(ctx context.Context) error {
	if err := s.client.check(ctx, s.cfg.Pipeline); err != nil {
		return fmt.Errorf("indexer: %w", err)
	}
	return nil
}

// Write queues the alert's document. It returns once the document is in
// the queue (not yet durable: see Sync). When the queue is full it waits
// up to queue.full_timeout and then returns an error wrapping ErrQueueFull;
// the caller should then stop taking new input, leave the current input
// unacknowledged (it will be read again; the _id makes the re-read
// harmless) and wait with WaitRoom. An alert whose JSON cannot be read
// goes to the dead-letter file.
func (s *Sink) Write(a *alert.Alert) error {
	if s.closed.Load() {
		return ErrClosed
	}
	b := s.builders.Get().(*builder)
	bufp, _ := s.bufs.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	rec, err := b.render((*bufp)[:0], a)
	s.builders.Put(b)
	defer func() {
		*bufp = rec.line[:0]
		if cap(*bufp) <= 1<<20 {
			s.bufs.Put(bufp)
		}
	}()
	if err != nil {
		return s.deadAlert(a, err)
	}
	if int64(len(rec.line))+recHeaderSize > int64(s.cfg.Queue.MaxBytes) {
		return s.deadAlert(a, fmt.Errorf("document of %d bytes is larger than queue.max_bytes", len(rec.line)))
	}
	seq, err := s.q.put(rec.line, s.cfg.Queue.FullTimeout, s.closing)
	if err != nil {
		if errors.Is(err, ErrQueueFull) {
			return fmt.Errorf("indexer: rule %s, %s line %d: %w (%d bytes queued, queue.max_bytes %d)",
				a.RuleID, a.Origin.Key, a.Origin.Line, err, s.q.used(), int64(s.cfg.Queue.MaxBytes))
		}
		return fmt.Errorf("indexer: %w", err)
	}
	s.stats.written.Add(1)
	if rec.repaired > 0 {
		s.stats.repaired.Add(1)
	}
	if rec.truncated > 0 {
		s.stats.truncated.Add(1)
	}
	s.ackMu.Lock()
	s.lastPut = max(s.lastPut, seq)
	s.ackMu.Unlock()
	return nil
}

// deadAlert keeps an alert that could not be turned into a document.
func (s *Sink) deadAlert(a *alert.Alert, cause error) error {
	if s.dlq == nil {
		return fmt.Errorf("indexer: rule %s, %s line %d: %w: %w", a.RuleID, a.Origin.Key, a.Origin.Line, ErrRejected, cause)
	}
	e := deadEntry{Reason: cause.Error(), Alert: string(a.JSON),
		Origin: &deadOrigin{Bucket: a.Origin.Bucket, Key: a.Origin.Key, Line: a.Origin.Line, RuleID: a.RuleID, Seq: a.Seq}}
	if err := s.dlq.write([]deadEntry{e}); err != nil {
		return fmt.Errorf("indexer: %w", err)
	}
	s.stats.dead.Add(1)
	s.log.Warn("indexer: alert written to the dead-letter file", "file", s.dlq.path, "rule", a.RuleID, "key", a.Origin.Key, "line", a.Origin.Line, "reason", cause)
	return nil
}

// Sync returns once every alert written before it is durable: fsync'd to
// the disk queue, or, with the queue in memory, accepted by the indexer
// (or in the dead-letter file). With the queue in memory it returns early
// with an error when delivery is blocked by something only a person can
// fix (ErrUnauthorized, a TLS verification failure, a missing pipeline),
// and with ErrRejected when documents were rejected and no dead-letter
// file keeps them.
func (s *Sink) Sync() error {
	if s.disk {
		if err := s.q.sync(); err != nil {
			return fmt.Errorf("indexer: %w", err)
		}
		return s.takeRejected()
	}
	s.ackMu.Lock()
	target := s.lastPut
	s.ackMu.Unlock()
	s.urgent.Add(1)
	defer s.urgent.Add(-1)
	signal(s.wake)
	for {
		s.ackMu.Lock()
		acked, ch := s.acked, s.ackCh
		s.ackMu.Unlock()
		if acked >= target {
			return s.takeRejected()
		}
		if err := s.health.blockedErr(); err != nil {
			return fmt.Errorf("indexer: delivery blocked: %w", err)
		}
		select {
		case <-ch:
		case <-s.health.changed():
		case <-s.ctx.Done():
			return ErrClosed
		}
	}
}

func (s *Sink) takeRejected() error {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	err := s.rejected
	s.rejected = nil
	return err
}

// Drain waits until the queue is empty (everything acknowledged by the
// indexer or dead-lettered), or ctx ends.
func (s *Sink) Drain(ctx context.Context) error {
	s.urgent.Add(1)
	defer s.urgent.Add(-1)
	signal(s.wake)
	for {
		s.ackMu.Lock()
		ch := s.ackCh
		s.ackMu.Unlock()
		if s.q.used() == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("indexer: %d bytes still queued: %w", s.q.used(), ctx.Err())
		case <-s.ctx.Done():
			return ErrClosed
		}
	}
}

// WaitRoom waits until the queue can take n more bytes, or ctx ends. The
// daemon calls it before taking a new object after Write returned
// ErrQueueFull.
func (s *Sink) WaitRoom(ctx context.Context, n int64) error {
	for {
		select {
		case <-s.q.room(n):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
	}
}

// QueueFull reports whether the queue has no room for another average
// document (the daemon should not start a new object).
func (s *Sink) QueueFull() bool {
	select {
	case <-s.q.room(64 << 10):
		return false
	default:
		return true
	}
}

// Stats returns the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Written: s.stats.written.Load(), Delivered: s.stats.delivered.Load(), Duplicates: s.stats.duplicates.Load(),
		Dropped: s.stats.dropped.Load(), DeadLettered: s.stats.dead.Load(), Repaired: s.stats.repaired.Load(),
		Truncated: s.stats.truncated.Load(), Retries: s.stats.retries.Load(), Requests: s.stats.requests.Load(),
		QueuedBytes: s.q.used(), Retrying: s.itemRetries.retrying(),
	}
}

// Close stops taking alerts, syncs the queue, waits up to close_timeout for
// the indexer to take what is queued, then stops. What a disk queue still
// holds is delivered after the next start; with the queue in memory, alerts
// not delivered by then are lost and Close says how many bytes.
func (s *Sink) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.closing)
	var errs []error
	if err := s.q.sync(); err != nil {
		errs = append(errs, fmt.Errorf("indexer: %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.CloseTimeout)
	drainErr := s.Drain(ctx)
	cancel()
	s.cancel()
	s.wg.Wait()
	left := s.q.used()
	if err := s.q.close(); err != nil {
		errs = append(errs, fmt.Errorf("indexer: queue: %w", err))
	}
	if drainErr != nil {
		if s.disk {
			s.log.Info("indexer: alerts left in the disk queue for the next start", "dir", s.cfg.Queue.Dir, "bytes", left)
		} else {
			errs = append(errs, fmt.Errorf("indexer: %d bytes of alerts were not delivered before close_timeout %v: %w",
				left, s.cfg.CloseTimeout, s.health.lastErrOr(drainErr)))
		}
	}
	if err := s.takeRejected(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.closeResources())
	st := s.Stats()
	s.log.Info("indexer: output stopped", "written", st.Written, "delivered", st.Delivered, "duplicates", st.Duplicates,
		"dead_lettered", st.DeadLettered, "repaired", st.Repaired, "requests", st.Requests, "retries", st.Retries)
	return errors.Join(errs...)
}

func (s *Sink) closeResources() error {
	var errs []error
	if s.dlq != nil {
		errs = append(errs, s.dlq.close())
	}
	if s.geo != nil {
		errs = append(errs, s.geo.Close())
	}
	s.client.close()
	return errors.Join(errs...)
}
