package engine

import (
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

// sharedBatch returns the worker's batch for the store.
func (p *pipeline) sharedBatch(w *worker, cs CorrelationStore) *rules.SharedBatch {
	if w.shared == nil {
		w.shared = p.e.rules.NewSharedBatch(cs.SharedOptions())
	}
	return w.shared
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
// A round holds its batches in memory: 16 × 512 records at most.
const roundBatches = 16

// runInlineShared is runInline with a correlation store: the stages run in
// turn on the caller's goroutine, the sequence stage in rounds of
// roundBatches batches, each round one batch for the store. Rounds start
// at fixed batch numbers (1, 1+roundBatches, …), whatever the store's
// state, so that a re-read of the object sends the store the same rounds
// under the same ids. A round that starts while the store is unavailable,
// or whose call fails, is correlated in the process, batch by batch.
func (p *pipeline) runInlineShared(cs CorrelationStore) error {
	e := p.e
	w := e.getWorker()
	defer e.workers.Put(w)
	var held []*batch
	defer func() {
		for _, b := range held {
			e.batches.Put(b)
		}
	}()
	defer p.turnDone()
	sb := p.sharedBatch(w, cs)
	finish := func(b *batch) error { return p.finishBatch(w, b) }
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		n, eof := 0, false
		store := false
		for n < roundBatches {
			if n == len(held) {
				held = append(held, e.getBatch())
			}
			b := held[n]
			if !p.read(b) {
				eof = true
				break
			}
			p.prepare(w, b)
			if err := p.beginSequence(b); err != nil {
				return err
			}
			if n == 0 {
				store = cs.Available()
				if store {
					sb.Reset(p.roundID())
				}
			}
			n++
			if !store {
				// The store is unavailable: the round goes batch by
				// batch in the process.
				p.sequenceUnshared(w, b, cs)
				if err := p.finishBatch(w, b); err != nil {
					return err
				}
				continue
			}
			p.planShared(w, b, sb)
		}
		if store && n > 0 {
			if err := p.sequenceRound(w, held[:n], sb, cs, finish); err != nil {
				return err
			}
		}
		if eof {
			return nil
		}
	}
}

// sequenceRound is the sequence stage of a round, the batches bs, with the
// correlation state in cs: sb, planned from the batches' events that reach
// a stateful rule (rules.Evaluator.Plan), goes to the store in one call,
// which runs it atomically; then every event is finished in order, batch
// after batch, with the store's answers for the planned ones, and each
// batch is handed to then (nil: none; runInlineShared renders and writes
// it there). When the store fails the call, the round is correlated in the
// process, batch by batch.
func (p *pipeline) sequenceRound(w *worker, bs []*batch, sb *rules.SharedBatch, cs CorrelationStore, then func(*batch) error) error {
	if then == nil {
		then = func(*batch) error { return nil }
	}
	if sb.Len() > 0 {
		if err := cs.Run(p.ctx, sb); err != nil {
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
