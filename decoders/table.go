package decoders

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vpcalertd/vpcalertd/event"
)

// The parquet framing: a columnar file (Apache Parquet, as VPC flow logs
// are delivered with FileFormat parquet) read one row at a time. The file
// format itself is read by a TableOpener that the caller passes in
// OpenOptions, so that this package does not depend on a Parquet library
// (package decoders/parquet is one); rows reach the record step as text,
// the columns named by the file's schema, and the columns step maps them
// to fields exactly as it maps the columns of a flow-log line.

// TableOpener opens a columnar file of size bytes read through r.
type TableOpener func(r io.ReaderAt, size int64) (Table, error)

// Table is an open columnar file, read row by row and row group by row
// group. It is used by one goroutine.
type Table interface {
	// Columns describes the file's top-level columns, in schema order.
	Columns() []TableColumn
	// NumRows is the number of rows the file's footer declares.
	NumRows() int64
	// Next reads the next rows, column by column: it sets cols[c] (one
	// entry per column of Columns) to the values of column c, the same
	// number n ≥ 1 for every column, row r being cols[c][r]; or it returns
	// io.EOF after the last row. The rows of one call are of one row group.
	// The values stay valid until the next call. Any other error ends the
	// table: it names the column
	// and what is damaged, and comes only after every row before the damage
	// was returned.
	Next(cols [][]TableValue) (n int, err error)
	// RowGroup is the 0-based index of the row group of the last rows
	// read, or of the row being read when Next failed.
	RowGroup() int
	// Damage returns, and forgets, the damage Next met that cost no row:
	// what a row group's column chunks hold past its last row (a page
	// header that does not decode, more values than rows). The stream
	// reports each as a warning.
	Damage() []error
	// Close releases the table's buffers; it does not close the reader.
	Close() error
}

// ColumnClass is what kind of values a table column holds.
type ColumnClass uint8

// Column classes.
const (
	// ColumnOther is a column whose values cannot be read as flow-log
	// text: floating point, boolean, nested or repeated columns.
	ColumnOther ColumnClass = iota
	// ColumnInteger holds integers (Parquet INT32, INT64); their text is
	// the decimal number.
	ColumnInteger
	// ColumnText holds byte strings (Parquet BYTE_ARRAY, STRING).
	ColumnText
)

// TableColumn describes one column of a table.
type TableColumn struct {
	Name  string
	Class ColumnClass
	// Type is the column's type as the file declares it, for messages
	// ("INT32", "BYTE_ARRAY", "DOUBLE", "group").
	Type string
}

// TableValue is one value of a row.
type TableValue struct {
	// Text is the value as text (decimal for integers); nil for null.
	Text []byte
	// Null is set for a null value.
	Null bool
	// Safe says that Text is printable ASCII without '"' or '\\'
	// (event.Field.Safe); false is always correct.
	Safe bool
}

// ErrNoTableReader is returned for a stream framed as parquet when
// OpenOptions.OpenTable is nil.
var ErrNoTableReader = errors.New("no Parquet reader: OpenOptions.OpenTable is not set")

// errNotParquet is the error of a stream framed as parquet whose bytes do
// not start with Parquet's magic.
var errNotParquet = errors.New("not a Parquet file: it does not start with PAR1")

// parquetMagic starts (and ends) every Parquet file.
const parquetMagic = "PAR1"

// randomAccess returns the stream as an io.ReaderAt with its size: r itself
// when it is one with a known size (a file, a bytes.Reader) and the stream
// was not compressed, else a copy of the decompressed stream in an unlinked
// temporary file. close releases the copy.
func (st *Stream) randomAccess(r io.Reader, dir string) (ra io.ReaderAt, size int64, close func(), err error) {
	if st.gz == nil {
		if ra, ok := r.(io.ReaderAt); ok {
			if n, ok := sizeOf(r); ok {
				return ra, n, func() {}, nil
			}
		}
	}
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "stream-*.parquet")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%s: a copy of the Parquet stream (it is not a file): %w", st.path, err)
	}
	// Unlinked at once: the copy goes away with the file handle, even on a
	// crash.
	os.Remove(f.Name())
	n, err := io.Copy(f, st.src)
	if err != nil {
		f.Close()
		var ge *gzipError
		if errors.As(err, &ge) || !isWriteError(err, f) {
			return nil, 0, nil, &StreamError{Path: st.path, Err: err}
		}
		return nil, 0, nil, fmt.Errorf("%s: a copy of the Parquet stream (it is not a file): %w", st.path, err)
	}
	return f, n, func() { f.Close() }, nil
}

// isWriteError reports whether err came from writing f.
func isWriteError(err error, f *os.File) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Path == f.Name()
}

// sizeOf returns the size of a reader that knows it.
func sizeOf(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size(), true
	case interface{ Stat() (fs.FileInfo, error) }:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0, false
		}
		return fi.Size(), true
	}
	return 0, false
}

// tableState is the part of a Stream that reads a table.
type tableState struct {
	tbl  Table
	cols [][]TableValue // the rows of the last Next, column by column
	n, r int            // rows in cols, and the next one
	rows int64          // rows returned so far
	// planned is set once the record step laid out the columns.
	planned bool
	size    int64 // bytes of the file
	close   func()
}

// openTable prepares the parquet framing: the stream must hold a Parquet
// file; its footer is read now. Problems of the data become the stream's
// first (pending) error; only a local failure (no temporary file) is
// returned.
func (st *Stream) openTable(r io.Reader, peek []byte, opts OpenOptions) error {
	if st.pending != nil {
		return nil // empty stream or broken gzip: already reported
	}
	if len(peek) < len(parquetMagic) || string(peek[:len(parquetMagic)]) != parquetMagic {
		st.tableFail(errNotParquet, -1)
		return nil
	}
	if opts.OpenTable == nil {
		st.tableFail(ErrNoTableReader, -1)
		return nil
	}
	ra, size, closeFn, err := st.randomAccess(r, opts.TempDir)
	if err != nil {
		var se *StreamError
		if errors.As(err, &se) {
			st.pending, st.done = se, true
			return nil
		}
		return err
	}
	tbl, err := opts.OpenTable(ra, size)
	if err != nil {
		closeFn()
		st.tableFail(fmt.Errorf("not a readable Parquet file: %w", err), -1)
		return nil
	}
	st.table = &tableState{tbl: tbl, cols: make([][]TableValue, len(tbl.Columns())), size: size, close: closeFn}
	return nil
}

// tablePlanner is a record step that reads table rows: it makes its
// layout from the table's columns before the first row.
type tablePlanner interface {
	planTable(r *runState, cols []TableColumn) error
}

// planTable lets the record step lay out the table's columns, before the
// first row is read (so that its warnings come where a header line's
// would); a column it cannot read (a wrong type) ends the stream before its
// first row, with the error returned.
func (st *Stream) planTable() error {
	t := st.table
	if t.planned {
		return nil
	}
	t.planned = true
	for _, s := range st.dec.steps {
		if p, ok := s.(tablePlanner); ok {
			if err := p.planTable(&st.run, t.tbl.Columns()); err != nil {
				skipped := t.tbl.NumRows()
				st.finish()
				return &StreamError{Path: st.path, Line: 1, RowGroup: 1, Err: err, Skipped: skipped}
			}
			return nil
		}
	}
	return nil
}

// tableFail ends the stream with err before its first row; rows is the
// number of rows not read, or -1 when unknown.
func (st *Stream) tableFail(err error, rows int64) {
	st.pending = &StreamError{Path: st.path, Err: err, Skipped: rows}
	st.done = true
}

// tableNext reads the table's next rows into its cols, and reports as
// warnings the damage the reader met that cost no row. After the last row
// it finishes the stream and returns io.EOF; on an error it finishes the
// stream and returns a *StreamError.
func (st *Stream) tableNext() error {
	t := st.table
	n, err := t.tbl.Next(t.cols)
	for _, d := range t.tbl.Damage() {
		st.warning(fmt.Errorf("%s: %w", st.path, d))
	}
	if err == nil && n >= 1 {
		t.n, t.r = n, 0
		return nil
	}
	group, skipped := t.tbl.RowGroup()+1, t.tbl.NumRows()-t.rows
	st.finish()
	if err == io.EOF {
		return io.EOF
	}
	if err == nil {
		err = errors.New("the Parquet reader returned no rows")
	}
	return &StreamError{Path: st.path, Line: int(t.rows) + 1, RowGroup: group, Err: err, Skipped: skipped}
}

// nextRow decodes the next row of a table.
func (st *Stream) nextRow(ev *event.Event) error {
	t := st.table
	r := &st.run
	if err := st.planTable(); err != nil {
		return err
	}
	for {
		if t.r == t.n {
			if err := st.tableNext(); err != nil {
				return err
			}
		}
		r.tcols, r.trow = t.cols, t.r
		t.r++
		t.rows++
		st.records++
		ev.Reset()
		ev.Origin = st.origin
		ev.Origin.Line, ev.Origin.Offset = int(t.rows), t.rows-1
		r.lineNo = int(t.rows)
		err := st.runSteps(ev)
		switch {
		case err == nil:
			ev.Layout = st.eventLayout(st.run.layout)
			return nil
		case err == errSkip:
			continue
		}
		return &RecordError{Path: st.path, Line: int(t.rows), RowGroup: t.tbl.RowGroup() + 1, Reason: err.Error()}
	}
}
