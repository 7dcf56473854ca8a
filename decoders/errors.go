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
	Path   string // origin.Path, or origin.Key when Path is empty
	Line   int    // 1-based line number, or record index for JSON arrays
	Reason string
}

// Error returns "path:line: reason".
func (e *RecordError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Reason)
}

// StreamError reports a problem that ends a stream early (a truncated or
// corrupt gzip stream, broken JSON, a read error). Every record before it has
// been returned; the next call to Stream.Next returns io.EOF.
type StreamError struct {
	Path string
	Line int // the line or record index being read when the stream broke
	Err  error
}

// Error returns "path:line: err".
func (e *StreamError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
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
