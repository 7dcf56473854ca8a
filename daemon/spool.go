package daemon

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// spool holds one object's alerts, in order, until the committer writes
// them to the outputs: in memory up to a limit, then in a temporary file, so
// memory stays bounded whatever the object's size. It is an alert.Sink for
// the engine.
type spool struct {
	dir   string
	limit int
	mem   []byte
	f     *os.File
	w     *bufio.Writer
	n     int
	err   error // the first write error; the object is then not done
}

var _ alert.Sink = (*spool)(nil)

func newSpool(dir string, limit int) *spool { return &spool{dir: dir, limit: limit} }

// Write appends one alert: rule id, level, time, line, offset, seq, JSON.
func (s *spool) Write(a *alert.Alert) error {
	if s.err != nil {
		return s.err
	}
	var hdr [6 * binary.MaxVarintLen64]byte
	h := binary.AppendUvarint(hdr[:0], uint64(len(a.RuleID)))
	h = append(h, a.RuleID...)
	h = binary.AppendVarint(h, int64(a.Level))
	h = binary.AppendVarint(h, a.Time.UnixNano())
	h = binary.AppendVarint(h, int64(a.Origin.Line))
	h = binary.AppendVarint(h, a.Origin.Offset)
	h = binary.AppendVarint(h, int64(a.Seq))
	h = binary.AppendUvarint(h, uint64(len(a.JSON)))
	s.n++
	if s.f == nil && len(s.mem)+len(h)+len(a.JSON) <= s.limit {
		s.mem = append(s.mem, h...)
		s.mem = append(s.mem, a.JSON...)
		return nil
	}
	if s.f == nil {
		if err := s.spill(); err != nil {
			s.err = err
			return err
		}
	}
	if _, err := s.w.Write(h); err != nil {
		s.err = fmt.Errorf("spool: %w", err)
		return s.err
	}
	if _, err := s.w.Write(a.JSON); err != nil {
		s.err = fmt.Errorf("spool: %w", err)
		return s.err
	}
	return nil
}

func (s *spool) spill() error {
	f, err := os.CreateTemp(s.dir, "object-*.spool")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.f = f
	s.w = bufio.NewWriterSize(f, 256<<10)
	if _, err := s.w.Write(s.mem); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.mem = nil
	return nil
}

// Sync does nothing: the committer decides when alerts are durable.
func (s *spool) Sync() error { return nil }

// Close drops the spool and its file.
func (s *spool) Close() error {
	s.mem = nil
	if s.f == nil {
		return nil
	}
	name := s.f.Name()
	s.f.Close()
	s.f = nil
	return os.Remove(name)
}

// Len returns the number of alerts held.
func (s *spool) Len() int { return s.n }

// Replay calls fn for every alert in order. origin is the object's origin;
// each alert gets its own line and offset back.
func (s *spool) Replay(origin event.Origin, fn func(*alert.Alert) error) error {
	if s.err != nil {
		return s.err
	}
	var r *bufio.Reader
	if s.f != nil {
		if err := s.w.Flush(); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		if _, err := s.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		r = bufio.NewReaderSize(s.f, 256<<10)
	}
	mem := s.mem
	var buf []byte
	a := alert.Alert{Origin: origin}
	for i := 0; i < s.n; i++ {
		var err error
		if r != nil {
			buf, err = readRecord(r, &a, buf)
		} else {
			mem, err = decodeRecord(mem, &a)
		}
		if err != nil {
			return fmt.Errorf("spool: record %d: %w", i, err)
		}
		if err := fn(&a); err != nil {
			return err
		}
	}
	return nil
}

var errShort = errors.New("short record")

func decodeRecord(b []byte, a *alert.Alert) ([]byte, error) {
	next := func() (int64, bool) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	l, n := binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return nil, errShort
	}
	a.RuleID = string(b[n : n+int(l)])
	b = b[n+int(l):]
	var vals [5]int64
	for i := range vals {
		v, ok := next()
		if !ok {
			return nil, errShort
		}
		vals[i] = v
	}
	a.Level, a.Time, a.Origin.Line, a.Origin.Offset, a.Seq = int(vals[0]), time.Unix(0, vals[1]), int(vals[2]), vals[3], int(vals[4])
	l, n = binary.Uvarint(b)
	if n <= 0 || uint64(len(b)-n) < l {
		return nil, errShort
	}
	a.JSON = b[n : n+int(l)]
	return b[n+int(l):], nil
}

func readRecord(r *bufio.Reader, a *alert.Alert, buf []byte) ([]byte, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return buf, err
	}
	buf = grow(buf, int(l))
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	a.RuleID = string(buf)
	var vals [5]int64
	for i := range vals {
		if vals[i], err = binary.ReadVarint(r); err != nil {
			return buf, err
		}
	}
	a.Level, a.Time, a.Origin.Line, a.Origin.Offset, a.Seq = int(vals[0]), time.Unix(0, vals[1]), int(vals[2]), vals[3], int(vals[4])
	if l, err = binary.ReadUvarint(r); err != nil {
		return buf, err
	}
	buf = grow(buf, int(l))
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	a.JSON = buf
	return buf, nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
