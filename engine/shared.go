package engine

import (
	"runtime"
	"strconv"

	"github.com/vpcalertd/vpcalertd/rules"
)

// CorrelationStore keeps the rules' correlation state outside the process,
// shared by the daemons that read one queue (rules/redisstore). The
// sequence stage sends it, per round (one batch of records on several
// cores, roundBatches on one), the events that reach a correlation rule
// (rules.SharedBatch), in one call; while it is not Available, or when a
// call fails, the round is correlated in the process with the engine's own
// state, and Local counts its events.
type CorrelationStore interface {
	rules.SharedStore
	// Available reports whether batches go to the store now.
	Available() bool
	// SharedOptions are the settings of the store's batches.
	SharedOptions() rules.SharedOptions
	// Local counts n events that reached a correlation rule and were
	// correlated in the process because the store was unavailable.
	Local(n int)
	// Failed reports a reply of the store that did not fit its batch,
	// found after the batch was applied; the store becomes unavailable.
	Failed(err error)
}

// stateful counts the events of b that reach a correlation rule.
func stateful(b *batch) int {
	n := 0
	for i := 0; i < b.dec.Len(); i++ {
		if r := b.dec.Record(i); r.Err == nil && !r.Skip && b.recs[i].prep.Stateful() {
			n++
		}
	}
	return n
}

// sequenceUnshared is the sequence stage of b with the process's own
// correlation state while the store cs is unavailable, or after it failed
// a call: Local counts the events that reach a correlation rule.
func (p *pipeline) sequenceUnshared(w *worker, b *batch, cs CorrelationStore) {
	if n := stateful(b); n > 0 {
		cs.Local(n)
	}
	p.sequenceLocal(w, b)
}

// sharedBatch returns the worker's batch i (0 or 1) for the store.
func (p *pipeline) sharedBatch(w *worker, cs CorrelationStore, i int) *rules.SharedBatch {
	if w.shared[i] == nil {
		w.shared[i] = p.e.rules.NewSharedBatch(cs.SharedOptions())
	}
	return w.shared[i]
}

// roundID names the store's batch that starts with the batch sequenced
// last: "<object key>#<batch number>", so that the store applies it at most
// once (a re-read of the object cuts the same batches); "" for an object
// without a key.
func (p *pipeline) roundID() string {
	if p.obj.Key == "" {
		return ""
	}
	return p.obj.Key + "#" + strconv.Itoa(p.batches)
}

// planShared plans the events of b that reach a stateful rule into sb, at
// their processing time.
func (p *pipeline) planShared(w *worker, b *batch, sb *rules.SharedBatch) {
	for i := 0; i < b.dec.Len(); i++ {
		r := b.dec.Record(i)
		if r.Err != nil || r.Skip {
			continue
		}
		rec := &b.recs[i]
		rec.now = p.clock()
		rec.planned = w.eval.Plan(&r.Event, &rec.prep, rec.now, sb)
	}
}

// completeShared finishes every event of b in order, the planned ones with
// the answers of sb, which the store has run. failed is a reply found not
// to fit earlier in the store's batch: from there on, and from the first
// answer that does not fit, events are finished in the process; the error
// is returned.
func (p *pipeline) completeShared(w *worker, b *batch, sb *rules.SharedBatch, failed error) error {
	for i := 0; i < b.dec.Len(); i++ {
		r := b.dec.Record(i)
		if r.Err != nil || r.Skip {
			continue
		}
		rec := &b.recs[i]
		var ms []rules.Match
		if rec.planned && failed == nil {
			ms, failed = w.eval.Complete(&r.Event, &rec.prep, rec.now, sb)
		}
		if !rec.planned || failed != nil {
			// A reply that did not fit: the rest of the batch is
			// correlated in the process.
			ms = w.eval.Finish(&r.Event, &rec.prep, rec.now)
		}
		for _, m := range ms {
			if m.Alert {
				b.alerts = append(b.alerts, batchAlert{rec: i, m: m})
			}
		}
	}
	return failed
}

// roundBatches is how many consecutive batches of an object make one
// round of the store on one core: one batch for the store (one call, or
// one read and one commit), planned batch after batch, then completed,
// rendered and written batch after batch. The groups an object's events
// count in repeat from batch to batch, so a round of several batches sends
// the store fewer groups per record (the flows of BenchmarkSharedStore:
// 0.24 per record a batch at a time, 0.16 in rounds of 16) and fewer calls.
// A round holds its batches in memory: 16 × 512 records at most, and two
// rounds are held while a call is in flight (runInlineShared).
const roundBatches = 16

// round is the batches of one round of runInlineShared.
type round struct {
	held []*batch // the batches, kept from round to round
	n    int      // batches read into held
	eof  bool     // the stream ended in this round
	// planned says that the round's events were planned into sb: the
	// store was available at its first batch.
	planned bool
	sb      *rules.SharedBatch // the round's batch for the store
}

// flight is the store's call for a round, running on its own goroutine
// while the caller goes on.
type flight struct {
	r    *round
	done chan struct{}
	err  error
}

// runInlineShared is runInline with a correlation store: the stages run in
// turn on the caller's goroutine, the sequence stage in rounds of
// roundBatches batches, each round one batch for the store. Rounds start
// at fixed batch numbers (1, 1+roundBatches, …), whatever the store's
// state, so that a re-read of the object sends the store the same rounds
// under the same ids. A round that starts while the store is unavailable,
// or whose call fails, is correlated in the process, batch by batch.
//
// The store's calls overlap the process's work. A round's call runs on its
// own goroutine (flight) while the caller reads, decodes, prepares and
// plans the next round, batch after batch (a batch is planned while its
// records are still in the cache): none of that depends on correlation
// state (Plan records the gates that Complete decides, as Prepare does),
// so it need not wait for the rounds before to be completed. Once the call
// has ended, the caller starts the next round's call, then completes,
// renders and writes the round whose call ended while the next call runs;
// Complete runs the rounds in order. The caller yields between batches, so
// that the call's goroutine gets the core (GOMAXPROCS=1) to send its
// request and to take its reply. Two rounds are held at most: the one in
// flight and the one read or completed. A round is planned when the store
// is available at its first batch, and goes to the store when, besides,
// the call before it succeeded: a failed call makes the store unavailable
// for the rounds after it, as without the overlap (a reply found not to
// fit only when its round is completed, from the round after the next).
func (p *pipeline) runInlineShared(cs CorrelationStore) error {
	e := p.e
	w := e.getWorker()
	defer e.workers.Put(w)
	var rounds [2]round
	defer func() {
		for i := range rounds {
			for _, b := range rounds[i].held {
				e.batches.Put(b)
			}
		}
	}()
	defer p.turnDone()
	rounds[0].sb, rounds[1].sb = p.sharedBatch(w, cs, 0), p.sharedBatch(w, cs, 1)
	// fl is the call in flight, nil when none.
	var fl *flight
	defer func() {
		if fl != nil {
			<-fl.done // the call uses its round's batch: it ends before the batch is reused
		}
	}()
	for slot := 0; ; slot ^= 1 {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		// The other slot's round is in flight, or done with.
		r := &rounds[slot]
		if err := p.readRound(w, r, cs, fl != nil); err != nil {
			return err
		}
		prev := fl
		var prevErr error
		if prev != nil {
			<-prev.done
			prevErr = prev.err
		}
		fl = nil
		if r.n > 0 && r.planned && prevErr == nil && cs.Available() {
			fl = p.startCall(r, cs)
		}
		if prev != nil {
			if err := p.completeRound(w, prev.r, cs, prevErr, fl != nil); err != nil {
				return err
			}
		}
		if fl == nil && r.n > 0 {
			// The store is unavailable, or failed the call before.
			if err := p.localRound(w, r, cs); err != nil {
				return err
			}
		}
		if r.eof {
			if fl == nil {
				return nil
			}
			<-fl.done
			last := fl
			fl = nil
			return p.completeRound(w, last.r, cs, last.err, false)
		}
	}
}

// readRound reads the next round into r: up to roundBatches batches, each
// read, prepared, begun in the sequence stage and, when the store is
// available at the round's first batch, planned into r.sb. With inFlight
// a store's call runs meanwhile: before each batch the goroutine yields,
// so that the call's goroutine, which needs the core (GOMAXPROCS=1) to
// send its request and to take its reply, gets it promptly.
func (p *pipeline) readRound(w *worker, r *round, cs CorrelationStore, inFlight bool) error {
	r.n, r.eof = 0, false
	for r.n < roundBatches {
		if r.n == len(r.held) {
			r.held = append(r.held, p.e.getBatch())
		}
		b := r.held[r.n]
		if inFlight {
			runtime.Gosched()
		}
		if !p.read(b) {
			r.eof = true
			return nil
		}
		p.prepare(w, b)
		if err := p.beginSequence(b); err != nil {
			return err
		}
		if r.n == 0 {
			r.planned = cs.Available()
			if r.planned {
				r.sb.Reset(p.roundID())
			}
		}
		if r.planned {
			p.planShared(w, b, r.sb)
		}
		r.n++
	}
	return nil
}

// localRound correlates the batches of r in the process, renders and
// writes them.
func (p *pipeline) localRound(w *worker, r *round, cs CorrelationStore) error {
	for _, b := range r.held[:r.n] {
		p.sequenceUnshared(w, b, cs)
		if err := p.finishBatch(w, b); err != nil {
			return err
		}
	}
	return nil
}

// startCall starts the store's call of r's batch on a goroutine, which
// runs at once (the caller yields); a batch without events needs no call.
func (p *pipeline) startCall(r *round, cs CorrelationStore) *flight {
	f := &flight{r: r, done: make(chan struct{})}
	if r.sb.Len() == 0 {
		close(f.done)
		return f
	}
	go func() {
		defer close(f.done)
		f.err = cs.Run(p.ctx, r.sb)
	}()
	runtime.Gosched()
	return f
}

// completeRound finishes the round r, whose call ended with runErr: every
// event in order with the store's answers, each batch rendered and
// written; when the call failed, the round is correlated in the process,
// batch by batch. With inFlight the next round's call runs meanwhile: the
// goroutine yields after each batch.
func (p *pipeline) completeRound(w *worker, r *round, cs CorrelationStore, runErr error, inFlight bool) error {
	finish := func(b *batch) error {
		if err := p.finishBatch(w, b); err != nil {
			return err
		}
		if inFlight {
			runtime.Gosched()
		}
		return nil
	}
	return p.sequenceDone(w, r.held[:r.n], r.sb, cs, runErr, finish)
}

// sequenceRound is the sequence stage of a round of one batch b (several
// cores), with the correlation state in cs: sb, planned from the batch's
// events that reach a stateful rule (rules.Evaluator.Plan), goes to the
// store in one call, which runs it atomically; then every event is
// finished in order with the store's answers for the planned ones. When
// the store fails the call, the batch is correlated in the process.
func (p *pipeline) sequenceRound(w *worker, b *batch, sb *rules.SharedBatch, cs CorrelationStore) error {
	var err error
	if sb.Len() > 0 {
		err = cs.Run(p.ctx, sb)
	}
	return p.sequenceDone(w, []*batch{b}, sb, cs, err, func(*batch) error { return nil })
}

// sequenceDone is the sequence stage of the batches bs of a round once the
// store's call of sb has ended with runErr: every event finished in order,
// batch after batch, with the store's answers for the planned ones (in the
// process when the call failed), and each batch handed to then.
func (p *pipeline) sequenceDone(w *worker, bs []*batch, sb *rules.SharedBatch, cs CorrelationStore, runErr error, then func(*batch) error) error {
	if runErr != nil {
		if cerr := p.ctx.Err(); cerr != nil {
			return cerr
		}
		for _, b := range bs {
			p.sequenceUnshared(w, b, cs)
			if err := then(b); err != nil {
				return err
			}
		}
		return nil
	}
	var failed error
	for _, b := range bs {
		failed = p.completeShared(w, b, sb, failed)
		if err := then(b); err != nil {
			return err
		}
	}
	if failed == nil && sb.Len() > 0 {
		failed = sb.Done()
	}
	if failed != nil {
		cs.Failed(failed)
	}
	return nil
}

// finishBatch renders and writes b.
func (p *pipeline) finishBatch(w *worker, b *batch) error {
	p.render(w, b)
	return p.write(b)
}
