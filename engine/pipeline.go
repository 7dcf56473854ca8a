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
//	read      one goroutine: read, gunzip, cut lines, header lines (decoders.Stream.ReadBatch)
//	prepare   the workers: decode the batch, then the half of the rules that depends on
//	          each event alone (decoders.Stream.Decode, rules.Evaluator.Prepare)
//	sequence  one goroutine, batches in order, records in order: the processing clock and
//	          the half of the rules that reads and writes correlation state
//	          (rules.Evaluator.Finish); it waits for the object's Turn first
//	render    the workers: each alert's JSON but its id
//	write     the caller, batches in order: ids, sink, observer, bad records
//
// Only the sequence stage touches state shared with other objects, and only
// the write stage talks to the caller's sink and callbacks, so the output is
// the serial one byte for byte whatever the number of workers: the same
// alerts in the same order with the same ids, the same messages in the same
// order. With one worker (GOMAXPROCS=1) the stages run in turn on the
// caller's goroutine.
//
// The workers are the engine's, not the call's: Process calls that run at
// once (the daemon's `concurrency` objects) share min(GOMAXPROCS, 32) of
// them (workerPool), so that several objects at once keep to about as many
// running goroutines as cores — each call adds its read and sequence
// stages, which mostly wait — instead of starting GOMAXPROCS workers each.
// A call still waiting for its turn (Order) reads and prepares at most
// lookahead batches; it gets its full share of batches in flight when the
// turn comes, so that objects queued behind the one the rules are busy
// with hold little memory.

// maxWorkers bounds the workers of an engine.
const maxWorkers = 32

// lookahead is how many batches a call reads and prepares before its turn.
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
	// decoded and rendered are signalled once per trip through the
	// pipeline, when the prepare and the render stages are done.
	decoded, rendered chan struct{}
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

func newBatch() *batch {
	return &batch{decoded: make(chan struct{}, 1), rendered: make(chan struct{}, 1)}
}

// task is a job for a worker: prepare or render a batch of a call.
type task struct {
	p      *pipeline
	b      *batch
	render bool
}

// workerPool is the workers of an engine, shared by the Process calls that
// run at once. They run while at least one call uses them.
type workerPool struct {
	mu    sync.Mutex // guards the fields below
	calls int        // calls using the workers
	size  int        // workers running
	tasks chan task  // closed (and the workers end) when the last call leaves
}

// enter returns the channel the workers take their tasks from and how many
// workers take them, starting size workers if none are running.
func (wp *workerPool) enter(e *Engine, size int) (chan<- task, int) {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.calls == 0 {
		wp.size = size
		wp.tasks = make(chan task, 4*(2*size+3))
		for range size {
			go e.work(wp.tasks)
		}
	}
	wp.calls++
	return wp.tasks, wp.size
}

// leave ends a call's use of the workers. The call has no task left.
func (wp *workerPool) leave() {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if wp.calls--; wp.calls == 0 {
		close(wp.tasks)
		wp.tasks = nil
	}
}

// work is a worker: it runs tasks of every call until the channel closes.
func (e *Engine) work(tasks <-chan task) {
	w := e.getWorker()
	defer e.workers.Put(w)
	for t := range tasks {
		t.p.do(w, t)
	}
}

// do runs t, unless its call has stopped (nothing waits for it then).
func (p *pipeline) do(w *worker, t task) {
	defer p.pending.Done()
	select {
	case <-p.stop:
		return
	default:
	}
	if t.render {
		p.render(w, t.b)
		t.b.rendered <- struct{}{}
	} else {
		p.prepare(w, t.b)
		t.b.decoded <- struct{}{}
	}
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
	// pending counts the call's tasks sent to the workers and not done.
	pending sync.WaitGroup
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
		if err := p.st.ReadBatch(&b.dec); err != nil {
			return nil // io.EOF: ReadBatch returns no other error
		}
		b.bytes, b.records = p.st.BytesRead(), p.st.Records()
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

// runParallel runs the stages on their goroutines and the engine's
// workers (at most the given number); the write stage runs on the
// caller's.
func (p *pipeline) runParallel(workers int) error {
	e := p.e
	tasks, workers := e.pool.enter(e, workers)
	defer e.pool.leave()
	inflight := 2*workers + 3
	free := make(chan *batch, inflight)
	// Before its turn, a call holds lookahead batches; the read stage adds
	// the others when the turn comes.
	n, ready := inflight, (<-chan struct{})(nil)
	if t := p.obj.Turn; t != nil && inflight > lookahead {
		select {
		case <-t.Ready():
		default:
			n, ready = lookahead, t.Ready()
		}
	}
	for range n {
		free <- e.getBatch()
	}
	toSeq := make(chan *batch, inflight)
	toWrite := make(chan *batch, inflight)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(toSeq)
		p.read(free, tasks, toSeq, ready, inflight-n)
	}()
	go func() {
		defer wg.Done()
		defer close(toWrite)
		defer p.turnDone()
		w := e.getWorker()
		defer e.workers.Put(w)
		for b := range toSeq {
			if !p.wait(b.decoded) {
				return
			}
			if err := p.sequence(w, b); err != nil {
				p.turnErr = err
				p.abort()
				return
			}
			if !p.send(tasks, task{p: p, b: b, render: true}) || !p.sendBatch(toWrite, b) {
				return
			}
		}
	}()
	var err error
	for b := range toWrite {
		if !p.wait(b.rendered) {
			break
		}
		if err = p.write(b); err != nil {
			p.abort()
			break
		}
		free <- b
	}
	wg.Wait()
	// The workers may still hold tasks of a call that stopped early.
	p.pending.Wait()
	if err == nil {
		err = p.turnErr
	}
	if err == nil {
		err = p.readErr
	}
	if err == nil {
		// Every batch came back: keep them for the next object.
		for len(free) > 0 {
			e.batches.Put(<-free)
		}
	}
	return err
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

// read is the read stage: it cuts the stream into batches and hands each
// to the workers and, in order, to the sequence stage. When ready is
// closed (the call's turn came), it adds more batches to free.
func (p *pipeline) read(free chan *batch, tasks chan<- task, toSeq chan<- *batch, ready <-chan struct{}, more int) {
	for {
		var b *batch
		select {
		case b = <-free:
		case <-ready:
			ready = nil
			for range more {
				free <- p.e.getBatch()
			}
			continue
		case <-p.stop:
			return
		}
		if err := p.ctx.Err(); err != nil {
			p.readErr = err
			return
		}
		if err := p.st.ReadBatch(&b.dec); err != nil {
			free <- b // io.EOF: ReadBatch returns no other error
			return
		}
		b.bytes, b.records = p.st.BytesRead(), p.st.Records()
		if !p.send(tasks, task{p: p, b: b}) || !p.sendBatch(toSeq, b) {
			return
		}
	}
}

// send hands t to the workers, unless the call stopped.
func (p *pipeline) send(ch chan<- task, t task) bool {
	p.pending.Add(1)
	select {
	case ch <- t:
		return true
	case <-p.stop:
		p.pending.Done()
		return false
	}
}

func (p *pipeline) sendBatch(ch chan<- *batch, b *batch) bool {
	select {
	case ch <- b:
		return true
	case <-p.stop:
		return false
	}
}

func (p *pipeline) wait(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-p.stop:
		return false
	}
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
	if err := p.beginSequence(); err != nil {
		return err
	}
	p.batches++
	b.alerts = b.alerts[:0]
	if cs := p.e.opts.Correlation; cs != nil {
		if cs.Available() {
			done, err := p.sequenceShared(w, b, cs)
			if done || err != nil {
				return err
			}
		}
		if n := stateful(b); n > 0 {
			cs.Local(n)
		}
	}
	p.sequenceLocal(w, b)
	return nil
}

// beginSequence waits, before the object's first batch, for its turn.
func (p *pipeline) beginSequence() error {
	if !p.waited {
		p.waited = true
		if err := p.obj.Turn.wait(p.ctx, p.stop); err != nil {
			return err
		}
		if p.undoable() {
			p.undo = p.e.rules.Snapshot()
		}
	}
	return nil
}

// sequenceLocal is the sequence stage of b with the process's own
// correlation state.
func (p *pipeline) sequenceLocal(w *worker, b *batch) {
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
	return newBatch()
}
