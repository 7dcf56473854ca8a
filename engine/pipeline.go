package engine

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/rules"
)

// The pipeline of one Process call. A stream goes through five stages, in
// batches of records (decoders.Batch):
//
//	read      serial: read, gunzip, cut lines, header lines (decoders.Stream.ReadBatch)
//	prepare   parallel: decode the batch, then the half of the rules that depends on
//	          each event alone (decoders.Stream.Decode, rules.Evaluator.Prepare)
//	sequence  serial, batches in order, records in order: the processing clock and
//	          the half of the rules that reads and writes correlation state
//	          (rules.Evaluator.Finish); it waits for the object's Turn first
//	render    parallel: each alert's JSON but its id
//	write     serial, batches in order: ids, sink, observer, bad records
//
// Each of the call's workers carries one batch through all five stages in
// turn: it reads the next batch, prepares it, waits for the batch's place
// in the sequence stage, sequences it, renders it, waits for its place in
// the write stage and writes it, then reads the next one. The serial
// stages take the batches in the order they were read (ticket), the
// parallel ones run on all workers at once. A batch thus stays on one
// goroutine from its lines to its alerts: handing a freshly decoded batch
// to another goroutine, often on another core, made the parallel stages
// cost 40-70 % more CPU time per record on two cores than on one
// (docs/sizing.md §6, session 4).
//
// Only the sequence stage touches state shared with other objects, and only
// the write stage talks to the caller's sink and callbacks (one batch at a
// time, in order, from whichever worker holds the batch), so the output is
// the serial one byte for byte whatever the number of workers: the same
// alerts in the same order with the same ids, the same messages in the same
// order. With one worker (GOMAXPROCS=1) the stages run in turn on the
// caller's goroutine.
//
// A call still waiting for its turn (Order) runs lookahead workers, which
// read and prepare one batch each and then wait; the call starts its other
// workers when its first batch has been sequenced, i.e. when its turn
// came. So the daemon's `concurrency` objects at once run about GOMAXPROCS
// goroutines that work, and the objects queued behind the one the rules
// are busy with hold little memory.

// maxWorkers bounds the workers of one object.
const maxWorkers = 32

// lookahead is how many workers a call runs before its turn: how many
// batches it reads and prepares ahead.
const lookahead = 2

// errStopped is what a stage waiting for its turn returns when the call
// ends early for another reason.
var errStopped = errors.New("processing stopped")

// batch is a decoders.Batch and what the later stages add to it.
type batch struct {
	dec  decoders.Batch
	recs []record
	// alerts are the batch's alerts in write order.
	alerts []batchAlert
	// out holds the rendered alerts.
	out []byte
	// bytes and records are the stream's counts after the batch was read.
	bytes, records int64
}

// record is the per-record state of the later stages.
type record struct {
	prep rules.Prepared
	now  time.Time
	// planned says that the event went to the shared store.
	planned bool
}

// batchAlert is one alert of a batch.
type batchAlert struct {
	rec        int
	m          rules.Match
	head, tail [2]int // spans in out
}

// ticket lets the batches of a call through a serial stage one at a time,
// in the order they were read.
type ticket struct {
	mu   sync.Mutex // guards the fields below
	next int        // the batch that may go
	// moved is closed and replaced when next moves on.
	moved chan struct{}
}

func newTicket() *ticket { return &ticket{moved: make(chan struct{})} }

// wait blocks until batch no may go (true), or until stop is closed.
func (t *ticket) wait(no int, stop <-chan struct{}) bool {
	for {
		t.mu.Lock()
		next, moved := t.next, t.moved
		t.mu.Unlock()
		if next == no {
			return true
		}
		select {
		case <-moved:
		case <-stop:
			return false
		}
	}
}

// done lets the next batch go.
func (t *ticket) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	close(t.moved)
	t.moved = make(chan struct{})
}

// pipeline is one Process call.
type pipeline struct {
	e       *Engine
	ctx     context.Context
	st      *decoders.Stream
	sink    alert.Sink
	obj     Object // the call's time, ids and turn
	watch   *Watch
	onError func(error)
	stats   *Stats

	// stop is closed when the call ends early (a sink error, a cancelled
	// context while waiting for the turn): every stage returns.
	stop     chan struct{}
	stopOnce sync.Once
	// readErr is why the read stage stopped early (the context), read
	// once the stages are done.
	readErr error
	turnErr error
	// streamErr is the *decoders.StreamError that ended the stream.
	streamErr error
	waited    bool // the turn was waited for
	// undo is the correlation state when the turn came (Object.Undo).
	undo []byte
	// batches counts the batches sequenced: with Object.Key, it names a
	// batch for the shared store.
	batches int

	line  []byte // the write stage's alert line
	idPre idPrefix
	ev    alert.Alert
}

func (p *pipeline) abort() { p.stopOnce.Do(func() { close(p.stop) }) }

// run processes the whole stream and returns the first error that ends
// Process early (nil at the end of the stream).
func (p *pipeline) run() error {
	workers := min(runtime.GOMAXPROCS(0), maxWorkers)
	if workers <= 1 {
		return p.runInline()
	}
	return p.runParallel(workers)
}

// runInline runs the stages in turn on the caller's goroutine.
func (p *pipeline) runInline() error {
	if cs := p.e.opts.Correlation; cs != nil {
		return p.runInlineShared(cs) // in rounds of several batches (shared.go)
	}
	e := p.e
	w := e.getWorker()
	defer e.workers.Put(w)
	b := e.getBatch()
	defer e.batches.Put(b)
	defer p.turnDone()
	for {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		if !p.read(b) {
			return nil
		}
		p.prepare(w, b)
		if err := p.sequence(w, b); err != nil {
			return err
		}
		p.render(w, b)
		if err := p.write(b); err != nil {
			return err
		}
	}
}

// runParallel runs the stages on the given number of workers, each
// carrying its batch through them all.
func (p *pipeline) runParallel(workers int) error {
	c := &parallel{p: p, seq: newTicket(), write: newTicket()}
	defer p.turnDone()
	// Before its turn, a call runs lookahead workers; the one that
	// sequences the first batch starts the others.
	start := workers
	if t := p.obj.Turn; t != nil && workers > lookahead {
		select {
		case <-t.Ready():
		default:
			start, c.more = lookahead, workers-lookahead
		}
	}
	c.wg.Add(start)
	for range start {
		go c.work()
	}
	c.wg.Wait()
	err := c.writeErr
	if err == nil {
		err = p.turnErr
	}
	if err == nil {
		err = p.readErr
	}
	return err
}

// parallel is the state the workers of runParallel share.
type parallel struct {
	p          *pipeline
	wg         sync.WaitGroup
	seq, write *ticket
	// more is how many workers to start when the turn comes (set before
	// the first worker starts, read by the one that sequences batch 0).
	more int

	readMu sync.Mutex // guards the fields below, and the stream's reading
	eof    bool       // the stream is read (or its reading stopped)
	read   int        // batches read

	writeErr error // the sink's; set by the worker holding the write ticket
}

// work is one worker: read a batch, prepare, sequence, render and write
// it, until the stream is read or the call stops.
func (c *parallel) work() {
	defer c.wg.Done()
	p, e := c.p, c.p.e
	w := e.getWorker()
	defer e.workers.Put(w)
	b := e.getBatch()
	for {
		no, ok := c.next(b)
		if !ok {
			break
		}
		p.prepare(w, b)
		if !c.seq.wait(no, p.stop) {
			return
		}
		if err := p.sequence(w, b); err != nil {
			p.turnErr = err
			p.abort()
			return
		}
		if no == 0 && c.more > 0 {
			// The turn came: the other workers.
			c.wg.Add(c.more)
			for range c.more {
				go c.work()
			}
		}
		c.seq.done()
		p.render(w, b)
		if !c.write.wait(no, p.stop) {
			return
		}
		if err := p.write(b); err != nil {
			c.writeErr = err
			p.abort()
			return
		}
		c.write.done()
	}
	// Every batch came back (a call that stops early drops the batches
	// some worker may still hold).
	e.batches.Put(b)
}

// next reads the next batch into b and returns its number; false at the
// end of the stream, when the context is done (readErr) or the call
// stopped. The worker that finds the end waits until every batch read
// has been sequenced and ends the turn: the next object's records may
// reach the rules while this one's last batches are rendered and written.
func (c *parallel) next(b *batch) (int, bool) {
	p := c.p
	c.readMu.Lock()
	if c.eof {
		c.readMu.Unlock()
		return 0, false
	}
	select {
	case <-p.stop:
		c.eof = true
		c.readMu.Unlock()
		return 0, false
	default:
	}
	if err := p.ctx.Err(); err != nil {
		p.readErr = err
		c.eof = true
		c.readMu.Unlock()
		return 0, false
	}
	if !p.read(b) {
		c.eof = true
		last := c.read
		c.readMu.Unlock()
		if c.seq.wait(last, p.stop) {
			p.turnDone()
		}
		return 0, false
	}
	no := c.read
	c.read++
	c.readMu.Unlock()
	return no, true
}

// read is the read stage for one batch: it reads the next batch of the
// stream into b, with the stream's counts after it; false at the end of
// the stream (io.EOF: ReadBatch returns no other error).
func (p *pipeline) read(b *batch) bool {
	if p.st.ReadBatch(&b.dec) != nil {
		return false
	}
	b.bytes, b.records = p.st.BytesRead(), p.st.Records()
	return true
}

// clock is the processing time of the next record: the object's Now when
// the caller fixed it (a re-read gets its first read's), else the engine's
// clock.
func (p *pipeline) clock() time.Time {
	if !p.obj.Now.IsZero() {
		return p.obj.Now
	}
	return p.e.opts.Now()
}

// prepare is the prepare stage for one batch: decode, then Prepare every
// event.
func (p *pipeline) prepare(w *worker, b *batch) {
	p.st.Decode(&b.dec)
	n := b.dec.Len()
	if cap(b.recs) < n {
		b.recs = append(b.recs[:cap(b.recs)], make([]record, n-cap(b.recs))...)
	}
	b.recs = b.recs[:n]
	for i := 0; i < n; i++ {
		if r := b.dec.Record(i); r.Err == nil && !r.Skip {
			w.eval.Prepare(&r.Event, &b.recs[i].prep)
		}
	}
}

// sequence is the sequence stage for one batch: in record order, the
// processing time and the stateful half of the rules.
func (p *pipeline) sequence(w *worker, b *batch) error {
	if err := p.beginSequence(b); err != nil {
		return err
	}
	switch cs := p.e.opts.Correlation; {
	case cs == nil:
		p.sequenceLocal(w, b)
	case cs.Available():
		// A round of one batch (shared.go).
		sb := p.sharedBatch(w, cs, 0)
		sb.Reset(p.roundID())
		p.planShared(w, b, sb)
		return p.sequenceRound(w, b, sb, cs)
	default:
		p.sequenceUnshared(w, b, cs)
	}
	return nil
}

// beginSequence starts the sequence stage of b: before the object's first
// batch it waits for the object's turn; it counts the batch (roundID) and
// empties its alerts.
func (p *pipeline) beginSequence(b *batch) error {
	if !p.waited {
		p.waited = true
		if err := p.obj.Turn.wait(p.ctx, p.stop); err != nil {
			return err
		}
		if p.undoable() {
			p.undo = p.e.rules.Snapshot()
		}
	}
	p.batches++
	b.alerts = b.alerts[:0]
	return nil
}

// sequenceLocal is the sequence stage of b with the process's own
// correlation state.
func (p *pipeline) sequenceLocal(w *worker, b *batch) {
	// The aggregates this batch counts in stay locked until its last
	// event (rules/hold.go): one lock per aggregate and batch, not two
	// atomic operations per event.
	w.eval.Hold()
	defer w.eval.Release()
	for i := 0; i < b.dec.Len(); i++ {
		r := b.dec.Record(i)
		if r.Err != nil || r.Skip {
			continue
		}
		rec := &b.recs[i]
		rec.now = p.clock()
		// The stock result first, then one per pack root that matched.
		for _, m := range w.eval.Finish(&r.Event, &rec.prep, rec.now) {
			if m.Alert {
				b.alerts = append(b.alerts, batchAlert{rec: i, m: m})
			}
		}
	}
}

// render is the render stage for one batch: each alert's JSON but its id.
func (p *pipeline) render(w *worker, b *batch) {
	e := p.e
	b.out = b.out[:0]
	if e.opts.NoJSON {
		return // the write stage hands out alerts without JSON
	}
	for i := range b.alerts {
		a := &b.alerts[i]
		rec := &b.recs[a.rec]
		start := len(b.out)
		b.out = e.appendHead(b.out, w, &a.m, rec.now)
		mid := len(b.out)
		b.out = e.appendTail(b.out, w, &b.dec.Record(a.rec).Event, &a.m)
		a.head, a.tail = [2]int{start, mid}, [2]int{mid, len(b.out)}
	}
}

// write is the write stage for one batch: problems and events in record
// order, each event's alerts with their ids.
func (p *pipeline) write(b *batch) error {
	e := p.e
	st := p.stats
	next := 0
	for i := 0; i < b.dec.Len(); i++ {
		r := b.dec.Record(i)
		switch {
		case r.Skip:
			continue
		case r.Warning:
			p.onError(r.Err)
			continue
		case r.Err != nil:
			st.BadLines++
			p.onError(r.Err)
			var se *decoders.StreamError
			if errors.As(r.Err, &se) {
				p.streamErr = r.Err
			}
			continue
		}
		st.Events++
		ev := &r.Event
		if e.opts.Observer != nil {
			e.opts.Observer.Event(ev)
		}
		now := b.recs[i].now
		for ; next < len(b.alerts) && b.alerts[next].rec == i; next++ {
			ba := &b.alerts[next]
			a := &p.ev
			*a = alert.Alert{RuleID: ba.m.Rule.ID(), Level: ba.m.Rule.Level(), Time: now, Origin: ev.Origin, Description: ba.m.Description}
			if !e.opts.NoJSON {
				a.JSON = p.assemble(b.out[ba.head[0]:ba.head[1]], b.out[ba.tail[0]:ba.tail[1]], now.Unix())
			}
			if err := p.sink.Write(a); err != nil {
				return &SinkError{Err: err}
			}
			if e.opts.Observer != nil {
				e.opts.Observer.Alert(ev, a)
			}
			st.Alerts++
			e.alerts[ba.m.Rule.Index()].Add(1)
		}
	}
	p.watch.report(Stats{Bytes: b.bytes, Records: b.records, Alerts: st.Alerts})
	return nil
}

// assemble puts the alert's id between its head and tail.
func (p *pipeline) assemble(head, tail []byte, epoch int64) []byte {
	p.line = p.e.assemble(p.line[:0], head, tail, epoch, p.obj.IDs, &p.idPre)
	return p.line
}

// assemble appends head, the id and tail to dst. The offset half of the
// id comes from ids when set, else from the engine's counter, by the
// length of the line; the epoch half's text comes from pre, which keeps
// the last one (every alert of the same second shares it).
func (e *Engine) assemble(dst, head, tail []byte, epoch int64, ids IDAllocator, pre *idPrefix) []byte {
	idHead := pre.text(epoch)
	fixed := int64(len(head)+len(tail)+len(`",`)+1) + int64(len(idHead))
	var off int64
	if ids != nil {
		off = ids.Take(fixed)
	} else {
		for {
			off = e.offset.Load()
			if e.offset.CompareAndSwap(off, off+fixed+int64(digits(off))) {
				break
			}
		}
	}
	dst = append(dst, head...)
	dst = append(dst, idHead...)
	dst = strconv.AppendInt(dst, off, 10)
	dst = append(dst, `",`...)
	return append(dst, tail...)
}

// idPrefix is the text `"id":"<epoch>.` of an alert id, kept for the last
// epoch it was asked for.
type idPrefix struct {
	epoch int64
	buf   []byte
}

// text returns the prefix of epoch, valid until a call with another epoch.
func (p *idPrefix) text(epoch int64) []byte {
	if p.buf == nil || p.epoch != epoch {
		p.epoch = epoch
		p.buf = append(p.buf[:0], `"id":"`...)
		p.buf = strconv.AppendInt(p.buf, epoch, 10)
		p.buf = append(p.buf, '.')
	}
	return p.buf
}

// turnDone ends the object's turn, unless the call may have to undo its
// correlation (Object.Undo): Process ends it then.
func (p *pipeline) turnDone() {
	if !p.undoable() {
		p.obj.Turn.Done()
	}
}

func (p *pipeline) undoable() bool { return p.obj.Undo != nil && p.obj.Turn != nil }

func (e *Engine) getWorker() *worker {
	w := e.workers.Get().(*worker)
	if w.eval == nil {
		w.eval = e.rules.NewEvaluator()
	}
	return w
}

func (e *Engine) getBatch() *batch {
	if b, ok := e.batches.Get().(*batch); ok {
		return b
	}
	return &batch{}
}
