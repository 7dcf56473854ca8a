package decoders

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/vpcalertd/vpcalertd/event"
)

// Batches: a stream read on one goroutine and decoded on several. ReadBatch
// cuts the next run of records in order and does everything that depends
// on the records before it (line numbers and offsets, blank and too-long
// lines, header lines and the column plan they set, warnings); Decode then
// turns the batch's lines into events on any goroutine, several batches of
// one stream at once. Reading every batch and decoding it gives the records
// Next gives, with the same events, errors and warnings in the same order.
// Streams whose records cannot be cut without decoding them (a JSON array)
// are decoded by ReadBatch itself, and Decode has nothing left to do.

// Batch bounds: a batch ends after this many records or bytes of lines.
const (
	batchRecords = 512
	batchBytes   = 128 << 10
)

// Batch is a run of consecutive records of one stream. A Batch is reused:
// ReadBatch empties it first.
type Batch struct {
	// Records are the batch's records in stream order: after Decode, each
	// is an event, a bad record (Err) or a warning about the stream
	// (Err, Warning).
	Records []Record
	n       int // records in use
	buf     []byte
	lines   []lineRef
	arena   []byte         // event values copied out of per-record buffers
	tcols   [][]TableValue // a table's rows, column by column, values in buf
	rows    []rowRef       // a table's rows, in tcols order
	scratch []byte         // values the steps produced (timestamps), for the batch's lifetime
	decoded bool
}

// Record is one record of a Batch.
type Record struct {
	// Event is the decoded record when Err is nil. Its values stay valid
	// until the Batch is read into again.
	Event event.Event
	// Err is the record's problem (a *RecordError, or a *StreamError for
	// the last record of a stream that ended early), or a warning about
	// the stream when Warning is set.
	Err     error
	Warning bool
	// Skip marks a record that a step consumed without making an event
	// (Next never returns it).
	Skip bool
	line int32 // index into lines, -1 when ReadBatch decided the record
	row  int32 // index into rows (a table's), -1 when none
}

// rowRef is a row of a table in a batch, to be decoded.
type rowRef struct {
	no    int // 1-based row number in the file
	group int // 1-based row group
}

// lineRef is a data line of a batch, to be decoded.
type lineRef struct {
	start, end int32
	no         int
	off        int64
	plan       *columnPlan // the column layout in force for the line
}

// Len returns the number of records in the batch.
func (b *Batch) Len() int { return b.n }

// Record returns the i-th record, 0 ≤ i < Len.
func (b *Batch) Record(i int) *Record { return &b.Records[i] }

// reset empties the batch for reuse.
func (b *Batch) reset() {
	b.n = 0
	b.buf = b.buf[:0]
	b.lines = b.lines[:0]
	b.arena = b.arena[:0]
	b.rows = b.rows[:0]
	for k := range b.tcols {
		b.tcols[k] = b.tcols[k][:0]
	}
	b.decoded = false
}

// add appends a record slot and returns it.
func (b *Batch) add() *Record {
	if b.n == len(b.Records) {
		b.Records = append(b.Records, Record{})
	}
	r := &b.Records[b.n]
	b.n++
	r.Err, r.Warning, r.Skip, r.line, r.row = nil, false, false, -1, -1
	return r
}

// batchPlan is how a decoder's streams are cut into batches, decided when
// the decoder is compiled.
type batchPlan struct {
	// lines is set when ReadBatch only frames lines and Decode runs the
	// steps: line framing, at most one columns step, and only set steps
	// before it (they cannot fail, so a header line always reaches it).
	lines bool
	cols  *columnsStep // the columns step, nil if none
	// copyValues is set when event values may point into buffers that the
	// next record reuses (parse_json's tree): Decode copies them into the
	// batch.
	copyValues bool
}

// planBatches decides how d's streams are batched.
func planBatches(d *Decoder) batchPlan {
	var p batchPlan
	onlySets := true
	for _, s := range d.steps {
		switch s := s.(type) {
		case *columnsStep:
			if p.cols != nil || !onlySets {
				return batchPlan{} // decoded in order by ReadBatch
			}
			p.cols = s
		case *setStep:
		case *parseJSONStep:
			p.copyValues = true
			onlySets = false
		default:
			onlySets = false
		}
	}
	p.lines = true
	return p
}

// ReadBatch empties b and reads the next records of the stream into it, on
// the stream's goroutine. It returns io.EOF, with b empty, after the last
// record. The records are complete only after Decode(b).
func (st *Stream) ReadBatch(b *Batch) error {
	b.reset()
	if st.done && st.pending == nil {
		st.finish()
		return io.EOF
	}
	st.batch = b
	defer func() { st.batch = nil }()
	switch {
	case st.table != nil && st.dec.batch.lines:
		st.readRows(b)
	case !st.in.lines() || !st.dec.batch.lines:
		st.readDecoded(b)
	default:
		st.readLines(b)
	}
	if b.n == 0 {
		return io.EOF
	}
	return nil
}

// lines reports whether the input is framed as lines.
func (in *input) lines() bool { return in.framing == framingLines || in.framing == framingJSONLines }

// readDecoded fills b with records decoded by Next, their values copied.
func (st *Stream) readDecoded(b *Batch) {
	b.decoded = true
	var ev event.Event
	for b.n < st.batchRecords && len(b.arena) < batchBytes {
		err := st.Next(&ev)
		if err == io.EOF {
			return
		}
		// Warnings raised by Next were added before this record.
		rec := b.add()
		if err != nil {
			rec.Err = err
			continue
		}
		copyEvent(&rec.Event, &ev, &b.arena)
	}
}

// readRows copies the next rows of a table into b, to be decoded by
// Decode like lines.
func (st *Stream) readRows(b *Batch) {
	t := st.table
	if err := st.pending; err != nil {
		st.pending = nil
		b.add().Err = err
	}
	if err := st.planTable(); err != nil {
		b.add().Err = err
		return
	}
	if len(b.tcols) < len(t.cols) {
		b.tcols = append(b.tcols, make([][]TableValue, len(t.cols)-len(b.tcols))...)
	}
	for !st.done && b.n < st.batchRecords && len(b.buf) < batchBytes {
		if t.r == t.n {
			if err := st.tableNext(); err != nil {
				if err != io.EOF {
					b.add().Err = err
				}
				return
			}
		}
		m := min(t.n-t.r, st.batchRecords-b.n)
		for k, col := range t.cols {
			b.tcols[k] = b.copyValues(b.tcols[k], col[t.r:t.r+m])
		}
		group := t.tbl.RowGroup() + 1
		for i := 0; i < m; i++ {
			t.rows++
			st.records++
			rec := b.add()
			rec.row = int32(len(b.rows))
			b.rows = append(b.rows, rowRef{no: int(t.rows), group: group})
		}
		t.r += m
	}
}

// copyValues appends vals to dst with their texts copied into b.buf: the
// batch outlives the reader's next rows, and a batch's values together
// are cheaper to read for the stages after the read than values spread
// over a file's dictionaries.
func (b *Batch) copyValues(dst, vals []TableValue) []TableValue {
	need := 0
	for _, v := range vals {
		need += len(v.Text)
	}
	// A grown buf leaves the values copied before in the old array,
	// unchanged.
	b.buf = slices.Grow(b.buf, need)
	dst = slices.Grow(dst, len(vals))
	for _, v := range vals {
		if n := len(v.Text); n > 0 {
			start := len(b.buf)
			b.buf = append(b.buf, v.Text...)
			v.Text = b.buf[start : start+n : start+n]
		}
		dst = append(dst, v)
	}
	return dst
}

// readLines frames the next lines into b and applies what must be applied
// in order: header lines and the column plan, blank and too-long lines.
func (st *Stream) readLines(b *Batch) {
	cols := st.dec.batch.cols
	r := &st.run
	if err := st.pending; err != nil {
		st.pending = nil
		b.add().Err = err
	}
	for !st.done && b.n < st.batchRecords && len(b.buf) < batchBytes {
		line, off, tooLong, err := st.lines.next()
		if err != nil {
			st.finish()
			if err != io.EOF {
				b.add().Err = &StreamError{Path: st.path, Line: st.lines.n + 1, Err: err}
			}
			return
		}
		if tooLong {
			st.records++
			b.add().Err = &RecordError{Path: st.path, Line: st.lines.n, Reason: longLineReason(st.max)}
			continue
		}
		if p := st.in.stripPrefix; len(p) > 0 {
			line = bytes.TrimPrefix(line, p)
		}
		if blank(line) {
			continue
		}
		st.records++
		var plan *columnPlan
		if cols != nil {
			r.line, r.lineNo = line, st.lines.n
			if cols.header && st.headerLine(line) {
				if names := cols.headerNames(line); names != nil {
					if err := cols.useHeader(r, names, true); err != errSkip {
						b.add().Err = &RecordError{Path: st.path, Line: st.lines.n, Reason: err.Error()}
					}
					continue
				}
			}
			if plan = r.cols.plan; plan == nil {
				switch {
				case r.cols.initDone:
					plan = r.cols.initial
				case st.dec.checksUTF8 || isASCII(line) || utf8.Valid(line):
					// As the columns step does at the first line it sees;
					// an invalid line never reaches it.
					plan = cols.initialPlan(r)
				}
			}
		}
		rec := b.add()
		rec.line = int32(len(b.lines))
		start := len(b.buf)
		b.buf = append(b.buf, line...)
		b.lines = append(b.lines, lineRef{start: int32(start), end: int32(len(b.buf)), no: st.lines.n, off: off, plan: plan})
	}
}

// headerLine reports whether line may be a header line as the columns
// step sees it: its first non-blank byte is a lower-case letter and it is
// valid UTF-8 (else Decode reports it as invalid).
func (st *Stream) headerLine(line []byte) bool {
	i := 0
	for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
		i++
	}
	if i == len(line) || line[i] < 'a' || line[i] > 'z' {
		return false
	}
	return st.dec.checksUTF8 || isASCII(line) || utf8.Valid(line)
}

// Decode turns the lines ReadBatch left in b into events. Batches of one
// stream may be decoded on several goroutines at once, each batch by one.
func (st *Stream) Decode(b *Batch) {
	if b.decoded {
		return
	}
	b.decoded = true
	w := st.worker()
	w.run.scratch = b.scratch[:0]
	defer func() {
		b.scratch, w.run.scratch = w.run.scratch, nil
		st.workers.Put(w)
	}()
	for i := 0; i < b.n; i++ {
		rec := &b.Records[i]
		if rec.row >= 0 {
			st.decodeRow(w, b, rec)
			continue
		}
		if rec.line < 0 {
			continue
		}
		lr := &b.lines[rec.line]
		line := b.buf[lr.start:lr.end:lr.end]
		if !st.dec.checksUTF8 && !isASCII(line) && !utf8.Valid(line) {
			rec.Err = &RecordError{Path: st.path, Line: lr.no, Reason: errInvalidUTF8.Error()}
			continue
		}
		ev := &rec.Event
		ev.Reset()
		ev.Origin = st.origin
		ev.Origin.Line, ev.Origin.Offset = lr.no, lr.off
		r := &w.run
		r.line, r.lineNo = line, lr.no
		r.cols.plan = lr.plan
		err := w.runSteps(st.dec, ev, false)
		switch {
		case err == nil:
			ev.Layout = st.eventLayout(r.layout)
			if st.dec.batch.copyValues {
				copyValuesInPlace(ev, &b.arena)
			}
		case errors.Is(err, errSkip):
			rec.Skip = true
		default:
			rec.Err = &RecordError{Path: st.path, Line: lr.no, Reason: err.Error()}
		}
	}
}

// decodeRow decodes a table's row of b.
func (st *Stream) decodeRow(w *decodeWorker, b *Batch, rec *Record) {
	rr := &b.rows[rec.row]
	ev := &rec.Event
	ev.Reset()
	ev.Origin = st.origin
	ev.Origin.Line, ev.Origin.Offset = rr.no, int64(rr.no-1)
	r := &w.run
	r.tcols, r.trow, r.lineNo = b.tcols, int(rec.row), rr.no
	r.cols.plan = st.run.cols.plan
	err := w.runSteps(st.dec, ev, false)
	r.tcols = nil
	switch {
	case err == nil:
		ev.Layout = st.eventLayout(r.layout)
	case errors.Is(err, errSkip):
		rec.Skip = true
	default:
		rec.Err = &RecordError{Path: st.path, Line: rr.no, RowGroup: rr.group, Reason: err.Error()}
	}
}

// decodeWorker is the state one goroutine decodes a stream's batches with.
type decodeWorker struct {
	run    runState
	states []stepState
}

// worker returns a decodeWorker for st, prepared like the stream's own
// state but with the column plan ReadBatch gives each line.
func (st *Stream) worker() *decodeWorker {
	if w, ok := st.workers.Get().(*decodeWorker); ok {
		return w
	}
	w := &decodeWorker{}
	r := &w.run
	r.path = st.path
	r.syms = st.run.syms
	r.layouts = layoutStart
	r.setOrigin(&st.origin)
	r.cols.initDone = true // the plan comes with each line
	w.states = make([]stepState, len(st.dec.steps))
	for i, s := range st.dec.steps {
		s.prepare(r, &w.states[i])
	}
	return w
}

// runSteps applies the decoder's steps; with resetScratch false the values
// the steps produce accumulate in the scratch buffer for the whole batch
// (a full buffer is replaced, never overwritten, so earlier values stay
// valid).
func (w *decodeWorker) runSteps(d *Decoder, ev *event.Event, resetScratch bool) error {
	r := &w.run
	r.layout = layoutStart
	if resetScratch {
		r.scratch = r.scratch[:0]
	}
	r.tree.Reset()
	r.consumed = false
	for i, s := range d.steps {
		if err := s.apply(r, ev, &w.states[i]); err != nil {
			return err
		}
	}
	return nil
}

// copyEvent makes dst a copy of src whose values live in *arena.
func copyEvent(dst, src *event.Event, arena *[]byte) {
	dst.Fields = append(dst.Fields[:0], src.Fields...)
	dst.Origin, dst.Time, dst.Layout = src.Origin, src.Time, src.Layout
	copyValuesInPlace(dst, arena)
}

// copyValuesInPlace moves ev's values into *arena. A full arena is
// replaced, never overwritten, so values copied before stay valid.
func copyValuesInPlace(ev *event.Event, arena *[]byte) {
	for i := range ev.Fields {
		f := &ev.Fields[i]
		start := len(*arena)
		*arena = append(*arena, f.Value...)
		f.Value = (*arena)[start:len(*arena):len(*arena)]
	}
}
