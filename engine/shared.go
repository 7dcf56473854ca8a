package engine

import (
	"strconv"

	"github.com/vpcalertd/vpcalertd/rules"
)

// CorrelationStore keeps the rules' correlation state outside the process,
// shared by the daemons that read one queue (rules/redisstore). The
// sequence stage sends it, per batch of records, the events that reach a
// correlation rule (rules.SharedBatch), in one call; while it is not
// Available, or when a call fails, the batch is correlated in the process
// with the engine's own state, and Local counts its events.
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

// sequenceShared is the sequence stage for one batch with the correlation
// state in cs: the events that reach a stateful rule are planned into one
// batch for the store (rules.Evaluator.Plan), the store runs it atomically,
// then every event is finished in order, with the store's answers for the
// planned ones. done is false, with nothing changed, when the store failed
// the call: the caller then correlates the batch in the process.
func (p *pipeline) sequenceShared(w *worker, b *batch, cs CorrelationStore) (done bool, err error) {
	if w.shared == nil {
		w.shared = p.e.rules.NewSharedBatch(cs.SharedOptions())
	}
	sb := w.shared
	id := ""
	if p.obj.Key != "" {
		id = p.obj.Key + "#" + strconv.Itoa(p.batches)
	}
	sb.Reset(id)
	for i := 0; i < b.dec.Len(); i++ {
		r := b.dec.Record(i)
		if r.Err != nil || r.Skip {
			continue
		}
		rec := &b.recs[i]
		rec.now = p.clock()
		rec.planned = w.eval.Plan(&r.Event, &rec.prep, rec.now, sb)
	}
	if sb.Len() > 0 {
		if err := cs.Run(p.ctx, sb); err != nil {
			if cerr := p.ctx.Err(); cerr != nil {
				return false, cerr
			}
			return false, nil
		}
	}
	var failed error
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
	if failed == nil && sb.Len() > 0 {
		failed = sb.Done()
	}
	if failed != nil {
		cs.Failed(failed)
	}
	return true, nil
}
