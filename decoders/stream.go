package decoders

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/klauspost/compress/gzip"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// DefaultMaxLineBytes is the longest line a line-framed stream accepts when
// OpenOptions.MaxLineBytes is 0; longer lines are skipped with a
// RecordError, without being held in memory.
const DefaultMaxLineBytes = 64 << 10

// longLineReason is the reason of a line skipped for its length: what it
// is and what to do.
func longLineReason(max int) string {
	return fmt.Sprintf("line longer than %d bytes skipped, not decoded (no AWS log line is that long: check who writes to the bucket)", max)
}

// OpenOptions configure one stream.
type OpenOptions struct {
	// Symbols resolves field names to the ruleset's symbol ids
	// (event.Field.Sym); nil leaves every Sym at event.NoSym.
	Symbols *event.Symbols
	// MaxLineBytes is the longest accepted line; 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
	// OnWarning receives problems that do not reject a record, such as
	// unknown columns in a header (once per stream), as "path:line: reason".
	OnWarning func(error)
	// Header is a header line read before the stream, as if the stream
	// began with it: logtest keeps the last header line typed for the
	// lines that follow. Its own problems (unknown columns) are not
	// warned about again: the caller met them when it read that line. Open fails when the chosen decoder takes no
	// header lines or Header is not one.
	Header []byte
	// FirstLine is the line number of the stream's first line (default
	// 1), for a stream that continues another: logtest numbers its input
	// lines as typed.
	FirstLine int
	// OpenTable reads the columnar files of the parquet framing (package
	// decoders/parquet's Open); nil: such a stream ends with
	// ErrNoTableReader.
	OpenTable TableOpener
	// TempDir holds the copy of a Parquet stream that is not a file (a
	// compressed or network stream), which needs random access; default
	// os.TempDir(). The copy is unlinked at once and freed at the end of
	// the stream.
	TempDir string
	// Limits bound each record of the json_array framing (a CloudTrail
	// record): one larger than Limits.MaxBytes (default 1 MiB), with more
	// fields than Limits.MaxFields (default 10,000) or nested deeper than
	// Limits.MaxDepth (default 1000) is skipped without being held, as a
	// *RecordError whose Err is the *ojson.LimitError, and the records
	// after it are read. Zero fields take the defaults.
	Limits ojson.Limits
}

// Stream decodes the records of one file or object. It is used by one
// goroutine at a time.
type Stream struct {
	// layoutBase makes the stream's layout ids unique among all streams
	// (event.Event.Layout): a stream number above the low 24 bits.
	layoutBase uint64
	dec        *Decoder
	in         *input
	origin     event.Origin
	path       string
	run        runState
	states     []stepState
	src        *bufio.Reader // decompressed bytes
	raw        *bufio.Reader // compressed bytes, when gzip
	gz         *gzip.Reader
	pooled     bool // src and raw come from bufPool
	lines      lineReader
	arr        *ojson.Records
	table      *tableState
	max        int
	records    int64
	pending    error // returned by the next call to Next
	done       bool
	onWarning  func(error)
	// batch is the Batch ReadBatch is filling: warnings go into it.
	batch   *Batch
	workers sync.Pool // *decodeWorker, for Decode
	// batchRecords bounds the records of a batch (tests make it small).
	batchRecords int
}

var (
	bufPool  sync.Pool // *bufio.Reader of defaultBufSize
	gzipPool sync.Pool // *gzip.Reader
)

const defaultBufSize = DefaultMaxLineBytes + 2 // a line, \r and \n

// Open picks the decoder for a stream and prepares to decode it. The
// decoder is the first (in file name order, then input order) whose input
// condition holds for origin; when origin.Type is empty the conditions also
// see a sniff of the content. Gzip is recognised by its magic bytes. Open
// fails only when no decoder accepts the stream or opts are invalid;
// problems of the data come from Next.
func (s *Set) Open(origin event.Origin, r io.Reader, opts OpenOptions) (*Stream, error) {
	st := &Stream{origin: origin, path: origin.Path, max: opts.MaxLineBytes, layoutBase: streamSeq.Add(1) << 24, batchRecords: batchRecords}
	if st.path == "" {
		st.path = origin.Key
	}
	if st.max < 0 {
		return nil, fmt.Errorf("%s: max line bytes %d: must not be negative", st.path, st.max)
	}
	if st.max == 0 {
		st.max = DefaultMaxLineBytes
	}
	st.openSource(r)
	peek, err := st.src.Peek(min(sniffBytes, st.src.Size()))
	if len(peek) == 0 && err == io.EOF && st.pending == nil {
		st.pending = &RecordError{Path: st.path, Line: 1, Reason: "empty file"}
	}
	if err := st.choose(s, peek); err != nil {
		st.finish()
		return nil, err
	}
	if st.in.framing == framingParquet {
		if err := st.openTable(r, peek, opts); err != nil {
			st.finish()
			return nil, err
		}
	}
	if err := st.start(opts); err != nil {
		st.finish()
		return nil, err
	}
	return st, nil
}

// openSource sets src to the decompressed bytes of r.
func (st *Stream) openSource(r io.Reader) {
	size := max(st.max+2, 16)
	get := func(r io.Reader) *bufio.Reader {
		if size == defaultBufSize {
			if b, ok := bufPool.Get().(*bufio.Reader); ok {
				b.Reset(r)
				return b
			}
		}
		return bufio.NewReaderSize(r, size)
	}
	st.pooled = size == defaultBufSize
	raw := get(&stickyReader{r: r})
	magic, _ := raw.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		st.src = raw
		return
	}
	st.raw = raw
	gz, _ := gzipPool.Get().(*gzip.Reader)
	if gz == nil {
		gz = new(gzip.Reader)
	}
	st.gz = gz
	if err := gz.Reset(raw); err != nil {
		st.pending = &StreamError{Path: st.path, Line: 1, Err: &gzipError{err}}
		st.done = true
	}
	st.src = get(&gzipSource{gz: gz})
}

// choose picks the decoder and input.
func (st *Stream) choose(s *Set, peek []byte) error {
	env := matchEnv{
		Type: string(st.origin.Type), Bucket: st.origin.Bucket, Key: st.origin.Key, Path: st.origin.Path,
		AccountID: st.origin.AccountID, AccountAlias: st.origin.AccountAlias, Region: st.origin.Region,
		LogFormat: st.origin.LogFormat,
	}
	if len(peek) >= len(parquetMagic) && string(peek[:len(parquetMagic)]) == parquetMagic {
		env.Format = "parquet"
	}
	if st.origin.Type == event.LogTypeUnknown {
		env.Content = sniff(peek, s.prefixes)
	}
	for _, d := range s.decoders {
		for _, in := range d.inputs {
			out, err := expr.Run(in.when, env)
			if err != nil {
				return fmt.Errorf("%s: decoder %s: when: %w", st.path, d.name, err)
			}
			if ok, _ := out.(bool); ok {
				st.dec, st.in = d, in
				return nil
			}
		}
	}
	return fmt.Errorf("%s: %w (type %q)", st.path, ErrNoDecoder, st.origin.Type)
}

// start prepares the run state, the steps and the framing.
func (st *Stream) start(opts OpenOptions) error {
	r := &st.run
	r.path = st.path
	r.syms = opts.Symbols
	st.onWarning = opts.OnWarning
	r.warn = st.warning
	r.layouts = layoutStart
	r.setOrigin(&st.origin)
	r.scratch = make([]byte, 0, 256)
	st.states = make([]stepState, len(st.dec.steps))
	for i, s := range st.dec.steps {
		s.prepare(r, &st.states[i])
	}
	if st.in.framing == framingParquet {
		if opts.Header != nil {
			return fmt.Errorf("%s: decoder %s: a header line applies to line framings", st.path, st.dec.name)
		}
		return nil
	}
	if st.in.framing == framingJSONArray {
		st.arr = ojson.NewRecordsLimited(st.src, st.in.array, st.in.bareArray, opts.Limits)
		if opts.Header != nil {
			return fmt.Errorf("%s: decoder %s: a header line applies to line framings", st.path, st.dec.name)
		}
		return nil
	}
	st.lines = lineReader{br: st.src, max: st.max, n: max(opts.FirstLine-1, 0)}
	if opts.Header != nil {
		var cs *columnsStep
		for _, s := range st.dec.steps {
			if c, ok := s.(*columnsStep); ok {
				cs = c
			}
		}
		if cs == nil {
			return fmt.Errorf("%s: decoder %s reads no header lines", st.path, st.dec.name)
		}
		r.lineNo = st.lines.n
		if err := cs.headerLine(r, opts.Header); err != nil {
			return fmt.Errorf("%s: decoder %s: %w", st.path, st.dec.name, err)
		}
	}
	return nil
}

// Header returns the column names of the last header line of the stream
// (or of OpenOptions.Header), nil before any.
func (st *Stream) Header() []string { return st.run.cols.header }

// warning reports a problem of the stream that rejects no record: into
// the batch being read, so that it comes in order, else to OnWarning.
func (st *Stream) warning(err error) {
	if b := st.batch; b != nil {
		rec := b.add()
		rec.Err, rec.Warning = err, true
		return
	}
	if st.onWarning != nil {
		st.onWarning(err)
	}
}

// Decoder returns the name of the decoder chosen for the stream.
func (st *Stream) Decoder() string { return st.dec.name }

// BytesRead returns how many decompressed bytes have been consumed.
func (st *Stream) BytesRead() int64 {
	if st.table != nil {
		return st.table.size
	}
	if st.arr != nil {
		return st.arr.InputOffset()
	}
	return st.lines.off
}

// Records returns how many records have been seen, header lines and bad
// records included (blank lines are not records).
func (st *Stream) Records() int64 { return st.records }

// Next decodes the next record into ev (after ev.Reset). It returns io.EOF
// after the last record; a *RecordError for a bad record (call Next again
// to go on); a *StreamError when the stream ends early (the next call
// returns io.EOF). Field values alias the stream's buffers and are valid
// until the next call.
func (st *Stream) Next(ev *event.Event) error {
	if err := st.pending; err != nil {
		st.pending = nil
		return err
	}
	if st.done {
		st.finish()
		return io.EOF
	}
	if st.table != nil {
		return st.nextRow(ev)
	}
	if st.arr != nil {
		return st.nextElement(ev)
	}
	return st.nextLine(ev)
}

func (st *Stream) nextLine(ev *event.Event) error {
	r := &st.run
	for {
		line, off, tooLong, err := st.lines.next()
		if err != nil {
			st.finish()
			if err == io.EOF {
				return io.EOF
			}
			return &StreamError{Path: st.path, Line: st.lines.n + 1, Err: err}
		}
		if tooLong {
			st.records++
			return &RecordError{Path: st.path, Line: st.lines.n, Reason: longLineReason(st.max)}
		}
		if p := st.in.stripPrefix; len(p) > 0 {
			line = bytes.TrimPrefix(line, p)
		}
		if blank(line) {
			continue
		}
		st.records++
		if !st.dec.checksUTF8 && !isASCII(line) && !utf8.Valid(line) {
			return &RecordError{Path: st.path, Line: st.lines.n, Reason: errInvalidUTF8.Error()}
		}
		ev.Reset()
		ev.Origin = st.origin
		ev.Origin.Line, ev.Origin.Offset = st.lines.n, off
		r.line, r.lineNo = line, st.lines.n
		err = st.runSteps(ev)
		switch {
		case err == nil:
			ev.Layout = st.eventLayout(st.run.layout)
			return nil
		case err == errSkip:
			continue
		}
		return &RecordError{Path: st.path, Line: st.lines.n, Reason: err.Error()}
	}
}

func (st *Stream) nextElement(ev *event.Event) error {
	a := st.arr
	r := &st.run
	for {
		ok, err := a.Next()
		var le *ojson.LimitError
		if errors.As(err, &le) {
			st.records++
			return &RecordError{Path: st.path, Line: a.Index(), Reason: le.Error(), Err: le}
		}
		if err != nil {
			st.finish()
			return recordsError(a, st.path, err)
		}
		if !ok {
			st.finish()
			return io.EOF
		}
		st.records++
		ev.Reset()
		ev.Origin = st.origin
		ev.Origin.Line, ev.Origin.Offset = a.Index(), a.Offset()
		r.json, r.lineNo = a, a.Index()
		err = st.runSteps(ev)
		if !r.consumed {
			if serr := a.Skip(); serr != nil {
				st.finish()
				return recordsError(a, st.path, serr)
			}
		}
		var sf *streamFail
		switch {
		case err == nil:
			return nil
		case err == errSkip:
			continue
		case errors.As(err, &sf):
			st.finish()
			return recordsError(a, st.path, sf.err)
		}
		return &RecordError{Path: st.path, Line: a.Index(), Reason: err.Error()}
	}
}

// eventLayout is the layout id of an event whose steps ended on layout l
// (0: none), unique among all streams.
func (st *Stream) eventLayout(l int) uint64 {
	if l > 0 && l < 1<<24 {
		return st.layoutBase | uint64(l)
	}
	return 0
}

// runSteps applies the decoder's steps to the current record.
func (st *Stream) runSteps(ev *event.Event) error {
	r := &st.run
	r.layout = layoutStart
	r.scratch = r.scratch[:0]
	r.tree.Reset()
	r.consumed = false
	for i, s := range st.dec.steps {
		if err := s.apply(r, ev, &st.states[i]); err != nil {
			return err
		}
	}
	return nil
}

// streamSeq numbers the streams opened, for Stream.layoutBase.
var streamSeq atomic.Uint64

// finish ends the stream and gives its buffers back.
func (st *Stream) finish() {
	if t := st.table; t != nil && t.close != nil {
		t.tbl.Close()
		t.close()
		t.close = nil
	}
	if st.src == nil {
		st.done = true
		return
	}
	if st.pooled {
		st.src.Reset(nil)
		bufPool.Put(st.src)
		if st.raw != nil {
			st.raw.Reset(nil)
			bufPool.Put(st.raw)
		}
	}
	if st.gz != nil {
		_ = st.gz.Reset(bytes.NewReader(nil)) // drop the reference to the source
		gzipPool.Put(st.gz)
	}
	st.src, st.raw, st.gz = nil, nil, nil
	st.lines.br = nil
	st.done = true
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// stickyReader returns the first error of r on every later call: bufio
// forgets an error once it has reported it.
type stickyReader struct {
	r   io.Reader
	err error
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.err = err
	return n, err
}

// gzipSource marks the errors of the gzip layer and keeps them.
type gzipSource struct {
	gz  *gzip.Reader
	err error
}

func (g *gzipSource) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.gz.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipError{err}
	}
	g.err = err
	return n, err
}

// lineReader cuts a stream into lines without copying them.
type lineReader struct {
	br  *bufio.Reader
	max int
	off int64 // bytes consumed
	n   int   // lines returned
}

// next returns the next line without its line ending and the offset where
// it starts. A line longer than max is skipped up to its end and reported
// with tooLong. At a read error, the unterminated rest is dropped.
func (lr *lineReader) next() (line []byte, off int64, tooLong bool, err error) {
	if lr.br == nil {
		return nil, lr.off, false, io.EOF
	}
	off = lr.off
	b, err := lr.br.ReadSlice('\n')
	lr.off += int64(len(b))
	switch err {
	case nil:
	case bufio.ErrBufferFull:
		for err == bufio.ErrBufferFull {
			b, err = lr.br.ReadSlice('\n')
			lr.off += int64(len(b))
		}
		if err != nil && err != io.EOF {
			return nil, off, false, err
		}
		lr.n++
		return nil, off, true, nil
	case io.EOF:
		if len(b) == 0 {
			return nil, off, false, io.EOF
		}
	default:
		return nil, off, false, err
	}
	lr.n++
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if len(b) > lr.max {
		return nil, off, true, nil
	}
	return b, off, false, nil
}

// recordsError turns an error of the document into a StreamError naming
// the record being read and the byte offset where the document broke.
func recordsError(a *ojson.Records, path string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	line := max(a.Index(), 1)
	var ge *gzipError
	off := a.ErrorOffset(err, errors.As(err, &ge))
	return &StreamError{Path: path, Line: line, Err: fmt.Errorf("byte offset %d: %w", off, err)}
}
