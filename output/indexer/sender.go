package indexer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// dispatch reads batches from the queue: a batch leaves when it reaches
// batch.max_bytes or batch.max_count, when its first record has waited
// batch.interval, or at once while someone waits in Sync, Drain or Close.
func (s *Sink) dispatch() {
	defer s.wg.Done()
	defer close(s.batches)
	var seq uint64
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b := &batch{seq: seq}
		var deadline time.Time
		for {
			if err := s.q.next(b, int(s.cfg.Batch.MaxBytes), s.cfg.Batch.MaxCount); err != nil {
				s.health.set(stateBlocked, fmt.Errorf("reading the queue: %w", err))
			}
			if b.count() >= s.cfg.Batch.MaxCount || len(b.body) >= int(s.cfg.Batch.MaxBytes) {
				break
			}
			now := time.Now()
			if b.count() > 0 {
				if deadline.IsZero() {
					deadline = now.Add(s.cfg.Batch.Interval)
				}
				if s.urgent.Load() > 0 || !now.Before(deadline) {
					break
				}
				timer.Reset(deadline.Sub(now))
			}
			select {
			case <-s.q.ready():
			case <-s.wake:
			case <-timer.C:
			case <-s.ctx.Done():
				return
			}
			timer.Stop()
		}
		select {
		case s.batches <- b:
			seq++
		case <-s.ctx.Done():
			return
		}
	}
}

// work sends batches until the sink stops.
func (s *Sink) work() {
	defer s.wg.Done()
	for b := range s.batches {
		if !s.send(b) {
			return // stopping; the batch stays queued
		}
		s.acknowledge(b)
	}
}

// acknowledge releases batches from the queue in order.
func (s *Sink) acknowledge(b *batch) {
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	s.done[b.seq] = b
	for {
		d, ok := s.done[s.nextSeq]
		if !ok {
			break
		}
		delete(s.done, s.nextSeq)
		s.nextSeq++
		if err := s.q.ack(d.end, d.qsize); err != nil {
			s.log.Error("indexer: saving the queue position", "err", err)
		}
		s.acked += uint64(d.count())
	}
	close(s.ackCh)
	s.ackCh = make(chan struct{})
}

// itemOutcome is what to do with one document after a response.
type itemOutcome uint8

const (
	itemDone  itemOutcome = iota // indexed, already there, or dropped by a pipeline
	itemRetry                    // transient: send again after a backoff
	itemDead                     // permanent: dead-letter file
	itemBlock                    // needs a person (permissions, missing pipeline): retry, report
)

// classifyItem decides from a bulk item's status and error type.
func classifyItem(r *bulkItemResult) (itemOutcome, string) {
	if r.Status >= 200 && r.Status < 300 {
		return itemDone, ""
	}
	reason := errorReason(r.Error)
	typ := errorType(r.Error)
	switch {
	case r.Status == http.StatusConflict && typ == "version_conflict_engine_exception":
		return itemDone, reason
	case r.Status == http.StatusTooManyRequests, r.Status >= 500:
		return itemRetry, reason
	case r.Status == http.StatusForbidden && typ == "cluster_block_exception":
		// A read-only index (disk flood stage) is lifted once space is freed.
		return itemRetry, reason
	case r.Status == http.StatusUnauthorized, r.Status == http.StatusForbidden:
		return itemBlock, reason
	case typ == "illegal_argument_exception" && strings.Contains(reason, "pipeline with id"):
		return itemBlock, reason
	}
	return itemDead, reason
}

func errorType(raw []byte) string {
	var e struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &e)
	return e.Type
}

// delivery is the progress of one batch.
type delivery struct {
	b       *batch
	groups  [][]int     // records still to send, by request; the first goes next
	tries   map[int]int // per-item retries by record
	attempt int         // consecutive failures, for the backoff
	// retrying is how many records of the first group wait for a
	// per-item retry (counted in Stats.Retrying).
	retrying int
	scratch  []byte // body of a partial group; never aliases b.body
}

func (d *delivery) body(g []int) []byte {
	if len(g) == d.b.count() {
		return d.b.body
	}
	d.scratch = d.scratch[:0]
	for _, i := range g {
		d.scratch = append(d.scratch, d.b.record(i)...)
	}
	return d.scratch
}

// send delivers one batch; it returns false only when the sink stops
// before every document is settled (indexed or dead-lettered).
func (s *Sink) send(b *batch) bool {
	all := make([]int, b.count())
	for i := range all {
		all[i] = i
	}
	d := &delivery{b: b, groups: [][]int{all}, tries: map[int]int{}}
	defer func() { s.itemRetries.waiting(-int64(d.retrying)) }()
	for len(d.groups) > 0 {
		if s.ctx.Err() != nil {
			return false
		}
		g := d.groups[0]
		s.stats.requests.Add(1)
		resp, err := s.client.bulk(s.ctx, d.body(g), s.cfg.Pipeline != "")
		if s.ctx.Err() != nil {
			return false
		}
		ok := false
		if err != nil {
			ok = s.onRequestError(d, g, err)
		} else {
			ok = s.onResponse(d, g, resp)
		}
		if !ok {
			return false
		}
	}
	return true
}

// onRequestError handles a failed request for group g.
func (s *Sink) onRequestError(d *delivery, g []int, err error) bool {
	var he *httpError
	if errors.As(err, &he) && (he.status == http.StatusRequestEntityTooLarge || he.status == http.StatusBadRequest) {
		// The request as a whole was refused: halve it to find the
		// documents at fault; a single one is dead.
		if len(g) == 1 {
			d.groups = d.groups[1:]
			return s.bury(d.b, g, []string{err.Error()}, []int{he.status}, nil)
		}
		h := len(g) / 2
		d.groups = append([][]int{g[:h], g[h:]}, d.groups[1:]...)
		return true
	}
	s.failed(err)
	retryAfter := time.Duration(0)
	if he != nil {
		retryAfter = he.retryAfter
	}
	d.attempt++
	return s.backoff(d.attempt-1, retryAfter)
}

// onResponse handles a 200 answer for group g.
func (s *Sink) onResponse(d *delivery, g []int, resp *bulkResponse) bool {
	if len(resp.Items) != len(g) && (resp.Errors || resp.Items != nil) {
		s.failed(fmt.Errorf("_bulk response has %d items for %d documents", len(resp.Items), len(g)))
		d.attempt++
		return s.backoff(d.attempt-1, 0)
	}
	s.health.set(stateOK, nil)
	retry, ok := s.settle(d.b, g, resp, d.tries)
	if !ok {
		return false
	}
	s.itemRetries.waiting(int64(len(retry) - d.retrying))
	d.retrying = len(retry)
	if len(retry) == 0 {
		d.groups = d.groups[1:]
		d.attempt = 0
		return true
	}
	d.groups[0] = retry
	s.stats.retries.Add(1)
	if len(retry) < len(g) {
		// Documents got through: the indexer takes work, so the waits
		// start over instead of growing while it throttles part of
		// each request (they grow only while nothing gets through).
		d.attempt = 0
	}
	d.attempt++
	if s.retried != nil {
		s.retried(len(g), len(retry), d.attempt-1)
	}
	return s.backoff(d.attempt-1, 0)
}

// settle applies a 200 response to the records g: it counts what was
// indexed, dead-letters permanent failures and returns the records to send
// again.
func (s *Sink) settle(b *batch, g []int, resp *bulkResponse, tries map[int]int) ([]int, bool) {
	if !resp.Errors {
		s.stats.delivered.Add(int64(len(g)))
		// Pipelines that drop documents report noop; count them when known.
		for _, it := range resp.Items {
			for _, r := range it {
				if r.Result == "noop" {
					s.stats.dropped.Add(1)
					s.stats.delivered.Add(-1)
				}
			}
		}
		return nil, true
	}
	var retry, dead []int
	var reasons []string
	var statuses []int
	var errs [][]byte
	var blocked string
	var report retryCounts
	for k, it := range resp.Items {
		for _, r := range it {
			out, reason := classifyItem(&r)
			switch out {
			case itemDone:
				switch {
				case r.Status == http.StatusConflict:
					s.stats.duplicates.Add(1)
				case r.Result == "noop":
					s.stats.dropped.Add(1)
				default:
					s.stats.delivered.Add(1)
				}
			case itemRetry, itemBlock:
				i := g[k]
				if out == itemBlock {
					blocked = reason
				} else {
					report.add(r.Status, reason)
				}
				// 429 is backpressure, not a failure: it never counts
				// towards max_item_retries.
				if r.Status != http.StatusTooManyRequests {
					tries[i]++
				}
				if max := s.cfg.Retry.MaxItemRetries; max > 0 && tries[i] > max {
					dead, reasons, statuses, errs = append(dead, i), append(reasons, fmt.Sprintf("gave up after %d retries: %s", max, reason)), append(statuses, r.Status), append(errs, r.Error)
					continue
				}
				retry = append(retry, i)
			case itemDead:
				dead, reasons, statuses, errs = append(dead, g[k]), append(reasons, reason), append(statuses, r.Status), append(errs, r.Error)
			}
		}
	}
	if blocked != "" {
		s.health.set(stateBlocked, errors.New(blocked))
	}
	s.itemRetries.report(&report)
	if len(dead) > 0 && !s.bury(b, dead, reasons, statuses, errs) {
		return nil, false
	}
	return retry, true
}

// bury writes records to the dead-letter file (or, without one, reports
// them through Sync and Close). It retries a failing file write until the
// sink stops, since acknowledging would lose the documents.
func (s *Sink) bury(b *batch, idx []int, reasons []string, statuses []int, errs [][]byte) bool {
	entries := make([]deadEntry, len(idx))
	for k, i := range idx {
		_, doc, index, id, pipeline := parseAction(b.record(i))
		entries[k] = deadEntry{Index: index, ID: id, Pipeline: pipeline, Status: statuses[k], Reason: reasons[k], Document: doc}
		if errs != nil {
			entries[k].Error = errs[k]
		}
	}
	if s.dlq == nil {
		s.log.Error("indexer: documents rejected and no dead_letter_file is set: they are lost",
			"count", len(entries), "first_id", entries[0].ID, "reason", entries[0].Reason)
		s.stats.dead.Add(int64(len(entries)))
		s.ackMu.Lock()
		s.rejected = errors.Join(s.rejected, fmt.Errorf("%w: %d documents, first %s in %s: %s", ErrRejected, len(entries), entries[0].ID, entries[0].Index, entries[0].Reason))
		s.ackMu.Unlock()
		return true
	}
	for attempt := 0; ; attempt++ {
		err := s.dlq.write(entries)
		if err == nil {
			break
		}
		s.log.Error("indexer: cannot write the dead-letter file", "err", err)
		if !s.backoff(attempt, 0) {
			return false
		}
	}
	s.stats.dead.Add(int64(len(entries)))
	s.log.Warn("indexer: documents rejected by the indexer, kept in the dead-letter file", "file", s.dlq.path,
		"count", len(entries), "first_id", entries[0].ID, "reason", entries[0].Reason)
	return true
}

// failed records a failed request: a person must act on refused
// credentials, TLS verification failures and wrong URLs; anything else is
// an outage to wait out.
func (s *Sink) failed(err error) {
	var he *httpError
	switch {
	case errors.As(err, &he) && (he.status == 429 || he.status >= 500):
		s.health.set(stateDown, err)
	case he != nil:
		s.health.set(stateBlocked, err) // 401, 403, 404, 405, 406: configuration
	case tlsConfigError(err):
		s.health.set(stateBlocked, err)
	default:
		s.health.set(stateDown, err)
	}
	s.stats.retries.Add(1)
}

// tlsConfigError reports TLS failures that only a configuration change
// fixes: an unverifiable server certificate, a refused or missing client
// certificate (the server's alert), plain HTTP on an https URL.
func tlsConfigError(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inval x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	return errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &inval) ||
		errors.As(err, &rec) || strings.Contains(err.Error(), "remote error: tls:")
}

// backoff waits before retry number attempt: exponential from
// retry.initial_backoff up to retry.max_backoff, jittered between half and
// all of it, or retryAfter when the server asked for longer. It returns
// false when the sink stops.
func (s *Sink) backoff(attempt int, retryAfter time.Duration) bool {
	d := s.cfg.Retry.InitialBackoff << min(attempt, 30)
	if d <= 0 || d > s.cfg.Retry.MaxBackoff {
		d = s.cfg.Retry.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = min(retryAfter, s.cfg.Retry.MaxBackoff)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// healthState is the indexer as the workers see it.
type healthState uint8

const (
	stateOK      healthState = iota
	stateDown                // unreachable, 429 or 5xx: wait it out
	stateBlocked             // refused credentials, TLS, missing pipeline: needs a person
)

// health tracks state changes and logs each one once, never per request.
type health struct {
	log   *slog.Logger
	mu    sync.Mutex // guards the fields below
	state healthState
	err   error
	since time.Time
	ch    chan struct{}
}

func (h *health) set(st healthState, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if st == h.state {
		h.err = err
		return
	}
	prev, prevSince := h.state, h.since
	h.state, h.err, h.since = st, err, time.Now()
	if h.ch != nil {
		close(h.ch)
		h.ch = nil
	}
	switch st {
	case stateOK:
		h.log.Info("indexer: reachable again; delivering", "after", time.Since(prevSince).Round(time.Millisecond), "was", prev.String())
	case stateDown:
		h.log.Warn("indexer: unavailable; alerts wait in the queue and are retried", "err", err)
	case stateBlocked:
		h.log.Error("indexer: delivery blocked until the configuration or the indexer is fixed; alerts wait in the queue", "err", err)
	}
}

func (s healthState) String() string {
	return [...]string{"ok", "down", "blocked"}[s]
}

// blockedErr returns the error while delivery is blocked.
func (h *health) blockedErr() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == stateBlocked {
		return h.err
	}
	return nil
}

func (h *health) lastErrOr(def error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state != stateOK && h.err != nil {
		return h.err
	}
	return def
}

// changed returns a channel closed at the next state change.
func (h *health) changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ch == nil {
		h.ch = make(chan struct{})
	}
	return h.ch
}
