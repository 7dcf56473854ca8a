package alert

import (
	"bufio"
	"io"
)

// WriterSink writes alerts as alerts.json lines to an io.Writer through a
// buffer. Sync flushes the buffer; it makes nothing more durable than the
// writer itself is (use the output package's file sink for fsync).
type WriterSink struct {
	w *bufio.Writer
	c io.Closer
}

var _ Sink = (*WriterSink)(nil)

// NewWriterSink returns a sink writing to w. If w is an io.Closer, Close
// closes it after flushing.
func NewWriterSink(w io.Writer) *WriterSink {
	s := &WriterSink{w: bufio.NewWriterSize(w, 256<<10)}
	if c, ok := w.(io.Closer); ok {
		s.c = c
	}
	return s
}

// Write writes one line.
func (s *WriterSink) Write(a *Alert) error {
	if _, err := s.w.Write(a.JSON); err != nil {
		return err
	}
	return s.w.WriteByte('\n')
}

// Sync flushes the buffer.
func (s *WriterSink) Sync() error { return s.w.Flush() }

// Close flushes and closes the writer when it can be closed.
func (s *WriterSink) Close() error {
	err := s.w.Flush()
	if s.c != nil {
		if cerr := s.c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
