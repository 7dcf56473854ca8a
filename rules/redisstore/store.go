package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpcalertd/vpcalertd/rules"
)

// Options configure a Store.
type Options struct {
	// Address is host:port of the server.
	Address string
	// Username and Password authenticate (Redis 6 ACL, or requirepass
	// with Username empty).
	Username, Password string
	// TLS, when set, talks TLS to the server.
	TLS *tls.Config
	// DB is the database number.
	DB int
	// Batch are the settings of the batches (key prefix, grace, how long
	// an applied batch is remembered); defaults: "vpcalertd:", 5 minutes,
	// 1 hour (the records cost about 2 bytes per correlated event).
	Batch rules.SharedOptions
	// Timeout bounds each call to the server; default 2s.
	Timeout time.Duration
	// Retry is how often an unavailable server is tried again; default 5s.
	Retry time.Duration
	// Logger receives the store's state changes; default slog.Default().
	Logger *slog.Logger
	// OnChange, when set, is called with the new state each time the
	// store becomes available or unavailable (the daemon's metrics).
	OnChange func(Status)
}

// Status is what the store says about itself (the daemon's /readyz).
type Status struct {
	// Available says that correlation goes to the server.
	Available bool
	// Since is when the store last became available or unavailable.
	Since time.Time
	// Err is why it is unavailable.
	Err error
	// LocalEvents counts the events that reached a correlation rule and
	// were correlated in the process because the store was unavailable.
	LocalEvents int64
	// Outages counts the times the store became unavailable.
	Outages int64
}

// Store is a rules.SharedStore on a Redis server. When the server cannot be
// reached or fails a call, the store becomes unavailable: Available says
// so (the engine then correlates in the process), the change is logged, and
// the server is tried again every Options.Retry until it answers.
type Store struct {
	opts   Options
	client *redis.Client
	script *redis.Script
	// read and commit are the optimistic path's scripts (rules/sharedfast.go).
	read, commit *redis.Script

	// Counters of the batches by the way they went (Stats).
	optimistic, exact, conflicts, reads atomic.Int64

	up      atomic.Bool
	local   atomic.Int64
	outages atomic.Int64
	mu      sync.Mutex // guards status, retrying
	status  Status
	retry   bool
	closed  chan struct{}
	closing sync.Once
	wg      sync.WaitGroup
}

// Open returns a Store for the server of o. It tries the server once
// (within o.Timeout): when that fails the store starts unavailable, which
// is logged, and keeps trying; Open itself never fails on an unreachable
// server.
func Open(o Options) *Store {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Batch.KeyPrefix == "" {
		o.Batch.KeyPrefix = "vpcalertd:"
	}
	if o.Batch.Grace <= 0 {
		o.Batch.Grace = 5 * time.Minute
	}
	if o.Batch.MarkerTTL <= 0 {
		o.Batch.MarkerTTL = time.Hour
	}
	ro := &redis.Options{
		Addr: o.Address, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLS,
		DialTimeout: o.Timeout, ReadTimeout: o.Timeout, WriteTimeout: o.Timeout,
		// A batch that timed out may have been applied: it is never
		// sent again by the client (the daemon correlates it locally).
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		PoolSize:              4,
		DisableIdentity:       true,
	}
	// Replies are taken at the engine's next yield (yield.go).
	ro.Dialer = yieldDialer(ro)
	s := &Store{
		opts:   o,
		client: redis.NewClient(ro),
		script: redis.NewScript(rules.SharedScript),
		read:   redis.NewScript(rules.SharedReadScript),
		commit: redis.NewScript(rules.SharedCommitScript),
		closed: make(chan struct{}),
	}
	s.status.Since = time.Now()
	if err := s.check(); err != nil {
		s.down(err)
	} else {
		s.setUp()
	}
	return s
}

// check pings the server and loads the script.
func (s *Store) check() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	for _, sc := range []*redis.Script{s.script, s.read, s.commit} {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return fmt.Errorf("correlation store %s: %w", s.opts.Address, err)
		}
	}
	return nil
}

// Available reports whether correlation goes to the server.
func (s *Store) Available() bool { return s.up.Load() }

// Status returns the store's state.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Available = s.up.Load()
	st.LocalEvents = s.local.Load()
	st.Outages = s.outages.Load()
	return st
}

// SharedOptions returns the settings of the store's batches.
func (s *Store) SharedOptions() rules.SharedOptions { return s.opts.Batch }

// Local counts n events correlated in the process while the store was
// unavailable.
func (s *Store) Local(n int) { s.local.Add(int64(n)) }

// Failed makes the store unavailable after a reply that did not fit its
// batch (a server running another version of the script).
func (s *Store) Failed(err error) {
	s.down(fmt.Errorf("correlation store %s: %w", s.opts.Address, err))
}

// Run applies b on the server. On an error the store becomes unavailable
// and the batch's outcome is unknown.
//
// A batch whose stateful work is aggregate windows only takes the
// optimistic path (rules/sharedfast.go): its groups are read, the batch is
// run in the process, and the result committed if the groups did not
// change meanwhile — a read and a write per group instead of the server
// interpreting every event. Others, and those whose commit was refused,
// go to the interpreter (rules.SharedScript).
func (s *Store) Run(ctx context.Context, b *rules.SharedBatch) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	err := s.run(ctx, b)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			// The caller stopped: not the server's fault.
			return err
		}
		err = fmt.Errorf("correlation store %s: %w", s.opts.Address, err)
		s.down(err)
		return err
	}
	return nil
}

func (s *Store) run(ctx context.Context, b *rules.SharedBatch) error {
	step := rules.StepExact
	if b.Optimistic() {
		step = rules.StepRead
	}
	for step != rules.StepDone {
		var err error
		switch step {
		case rules.StepRead:
			var args []string
			if args, err = b.ReadArgs(); err != nil {
				return err
			}
			s.reads.Add(1)
			var res []any
			if res, err = s.read.Run(ctx, s.client, nil, anys(args)...).Slice(); err != nil {
				return err
			}
			if step, err = b.Simulate(res); err != nil {
				return err
			}
		case rules.StepCommit:
			var res []any
			if res, err = s.commit.Run(ctx, s.client, nil, anys(b.CommitArgs())...).Slice(); err != nil {
				return err
			}
			if len(res) == 1 && res[0] == int64(1) {
				s.optimistic.Add(1)
			} else {
				s.conflicts.Add(1)
			}
			if step, err = b.Committed(res); err != nil {
				return err
			}
		case rules.StepExact:
			s.exact.Add(1)
			var res []any
			if res, err = s.script.Run(ctx, s.client, nil, anys(b.ExactArgs())...).Slice(); err != nil {
				return err
			}
			if step, err = b.ExactDone(res); err != nil {
				return err
			}
		}
	}
	return nil
}

// anys returns args as the client's arguments: a pointer to each string,
// which the client writes as the string (proto.Writer takes *string). A
// pointer goes into an interface without a copy; a string would be copied
// to the heap, one allocation per argument — per group of the batch, 1.5
// of the 8 allocations per flow record of BenchmarkSharedStore. args must
// not change until the call returns.
func anys(args []string) []any {
	av := make([]any, len(args))
	for i := range args {
		av[i] = &args[i]
	}
	return av
}

// Stats counts the parts of batches committed on the optimistic path, the
// calls of the interpreter (whole batches, or parts of optimistic ones),
// and the optimistic commits refused (a group changed meanwhile, or a
// sweep was due).
type Stats struct {
	Optimistic, Exact, Refused int64
	// Reads counts the reads of the optimistic path (one per part, and
	// one more per refused commit).
	Reads int64
}

// Stats returns the store's batch counters.
func (s *Store) Stats() Stats {
	return Stats{Optimistic: s.optimistic.Load(), Exact: s.exact.Load(), Refused: s.conflicts.Load(), Reads: s.reads.Load()}
}

// down makes the store unavailable and starts trying the server again.
func (s *Store) down(err error) {
	s.mu.Lock()
	wasUp := s.up.Swap(false)
	if wasUp || s.status.Err == nil {
		s.status.Since = time.Now()
	}
	s.status.Err = err
	start := !s.retry
	s.retry = true
	st := s.status
	s.mu.Unlock()
	if start {
		s.outages.Add(1)
	}
	if wasUp || start {
		s.opts.Logger.Warn("correlation store unavailable: correlating in this process until it is back (alerts that need events counted by other instances meanwhile can be missed)",
			"address", s.opts.Address, "error", err.Error(), "retry", s.opts.Retry.String())
		if f := s.opts.OnChange; f != nil {
			f(st)
		}
	}
	if start {
		s.wg.Add(1)
		go s.retryLoop()
	}
}

// setUp makes the store available.
func (s *Store) setUp() {
	s.mu.Lock()
	s.up.Store(true)
	s.status = Status{Available: true, Since: time.Now()}
	st := s.status
	s.mu.Unlock()
	if f := s.opts.OnChange; f != nil {
		f(st)
	}
}

// retryLoop tries the server every Retry until it answers.
func (s *Store) retryLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Retry)
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		err := s.check()
		if err != nil {
			s.mu.Lock()
			s.status.Err = err
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		since := s.status.Since
		s.retry = false
		s.mu.Unlock()
		s.opts.Logger.Info("correlation store available again: correlating in the store", "address", s.opts.Address,
			"unavailable_for", time.Since(since).Round(time.Second).String())
		s.setUp()
		return
	}
}

// Close ends the retries and closes the connections.
func (s *Store) Close() error {
	s.closing.Do(func() { close(s.closed) })
	s.wg.Wait()
	return s.client.Close()
}
