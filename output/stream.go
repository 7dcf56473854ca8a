package output

import (
	"bufio"
	"errors"
	"io"

	"github.com/vpcalertd/vpcalertd/alert"
)

// Stream writes alerts.json lines to a stream such as stdout. Sync flushes;
// Close flushes but leaves the stream open.
type Stream struct {
	w *bufio.Writer
}

var _ alert.Sink = (*Stream)(nil)

// NewStream returns a Stream on w.
func NewStream(w io.Writer) *Stream { return &Stream{w: bufio.NewWriterSize(w, 64<<10)} }

// Write writes a's line and a newline.
func (s *Stream) Write(a *alert.Alert) error {
	if _, err := s.w.Write(a.JSON); err != nil {
		return err
	}
	return s.w.WriteByte('\n')
}

// Sync flushes the buffer.
func (s *Stream) Sync() error { return s.w.Flush() }

// Close flushes the buffer.
func (s *Stream) Close() error { return s.w.Flush() }

// Tee writes every alert to several sinks in order. Sync and Close go to
// all of them and return their errors joined.
type Tee []alert.Sink

var _ alert.Sink = Tee(nil)

// Write writes a to each sink, stopping at the first error.
func (t Tee) Write(a *alert.Alert) error {
	for _, s := range t {
		if err := s.Write(a); err != nil {
			return err
		}
	}
	return nil
}

// Sync syncs every sink.
func (t Tee) Sync() error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Sync())
	}
	return errors.Join(errs...)
}

// Close closes every sink.
func (t Tee) Close() error {
	var errs []error
	for _, s := range t {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
