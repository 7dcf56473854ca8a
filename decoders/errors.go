package decoders

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoDecoder is returned by Set.Open when no decoder accepts a stream.
var ErrNoDecoder = errors.New("no decoder accepts the stream")

// RecordError reports one bad record (a malformed flow-log line, a CloudTrail
// record that is not an object, ...). It is not fatal: the next call to
// Stream.Next goes on with the next record.
type RecordError struct {
	Path string // origin.Path, or origin.Key when Path is empty
	Line int    // 1-based line number, record index for JSON arrays, row number for tables
	// RowGroup is the 1-based row group of a table's row; 0 for other
	// streams.
	RowGroup int
	Reason   string
	// Err, when set, is the cause callers test with errors.Is or As (a
	// record skipped for its size: *ojson.LimitError); nil otherwise.
	Err error
}

// Unwrap returns the cause, if any.
func (e *RecordError) Unwrap() error { return e.Err }

// Error returns "path:line: reason", or "path: row group G, row N: reason"
// for a row of a table.
func (e *RecordError) Error() string {
	if e.RowGroup > 0 {
		return fmt.Sprintf("%s: row group %d, row %d: %s", e.Path, e.RowGroup, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Reason)
}

// StreamError reports a problem that ends a stream early (a truncated or
// corrupt gzip stream, broken JSON, a read error). Every record before it has
// been returned; the next call to Stream.Next returns io.EOF.
type StreamError struct {
	Path string
	// Line is the line, record index or table row being read when the
	// stream broke; 0 when it broke before its first record (a table whose
	// footer or schema cannot be read).
	Line int
	// RowGroup is the 1-based row group of a table being read; 0 for other
	// streams, and for a table that broke before its first row.
	RowGroup int
	// Skipped is, for a table, the number of its rows not read because of
	// the error (from the footer's count); -1 when unknown. 0 otherwise.
	Skipped int64
	Err     error
}

// Error returns "path:line: err", and for a table
// "path: row group G, row N: err (K of the file's rows not read)".
func (e *StreamError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	switch {
	case e.RowGroup > 0:
		fmt.Fprintf(&b, ": row group %d, row %d", e.RowGroup, e.Line)
	case e.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	switch {
	case e.Skipped > 0:
		fmt.Fprintf(&b, " (%d rows not read)", e.Skipped)
	case e.Skipped < 0:
		b.WriteString(" (the whole file is skipped)")
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *StreamError) Unwrap() error { return e.Err }

// gzipError marks an error of the gzip layer so that messages say where the
// stream broke ("unexpected EOF in gzip stream").
type gzipError struct{ err error }

func (e *gzipError) Error() string {
	return strings.TrimPrefix(e.err.Error(), "gzip: ") + " in gzip stream"
}

func (e *gzipError) Unwrap() error { return e.err }
