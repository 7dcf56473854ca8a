package daemon

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// spool holds one object's alerts, in order, until the committer writes
// them to the outputs: in memory (pooled chunks) up to a limit, then in a
// temporary file, so memory stays bounded whatever the object's size. It is
// an alert.Sink for the engine.
type spool struct {
	dir    string
	limit  int
	chunks [][]byte // records in memory; a record never spans two chunks
	mem    int      // bytes in chunks
	f      *os.File
	w      *bufio.Writer
	n      int
	bytes  int64 // bytes of the alerts' JSON
	err    error // the first write error; the object is then not done
}

var _ alert.Sink = (*spool)(nil)

// chunkSize is the size of pooled spool chunks.
const chunkSize = 256 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func newSpool(dir string, limit int) *spool { return &spool{dir: dir, limit: limit} }

// appendRecord encodes one alert: rule id, level, time, line, offset, seq,
// JSON.
func appendRecord(b []byte, a *alert.Alert) []byte {
	b = binary.AppendUvarint(b, uint64(len(a.RuleID)))
	b = append(b, a.RuleID...)
	b = binary.AppendVarint(b, int64(a.Level))
	b = binary.AppendVarint(b, a.Time.UnixNano())
	b = binary.AppendVarint(b, int64(a.Origin.Line))
	b = binary.AppendVarint(b, a.Origin.Offset)
	b = binary.AppendVarint(b, int64(a.Seq))
	b = binary.AppendUvarint(b, uint64(len(a.JSON)))
	return append(b, a.JSON...)
}

// Write appends one alert.
func (s *spool) Write(a *alert.Alert) error {
	if s.err != nil {
		return s.err
	}
	need := 7*binary.MaxVarintLen64 + len(a.RuleID) + len(a.JSON)
	s.n++
	s.bytes += int64(len(a.JSON))
	if s.f == nil && s.mem+need <= s.limit {
		last := len(s.chunks) - 1
		if last < 0 || cap(s.chunks[last])-len(s.chunks[last]) < need {
			if need > chunkSize {
				s.chunks = append(s.chunks, make([]byte, 0, need))
			} else {
				s.chunks = append(s.chunks, (*chunkPool.Get().(*[]byte))[:0])
			}
			last++
		}
		before := len(s.chunks[last])
		s.chunks[last] = appendRecord(s.chunks[last], a)
		s.mem += len(s.chunks[last]) - before
		return nil
	}
	if s.f == nil {
		if err := s.spill(); err != nil {
			s.err = err
			return err
		}
	}
	var hdr [7 * binary.MaxVarintLen64]byte
	rec := appendRecord(hdr[:0], &alert.Alert{RuleID: a.RuleID, Level: a.Level, Time: a.Time, Origin: a.Origin, Seq: a.Seq})
	rec = rec[:len(rec)-1] // drop the zero JSON length; written below
	rec = binary.AppendUvarint(rec, uint64(len(a.JSON)))
	if _, err := s.w.Write(rec); err != nil {
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
	for _, c := range s.chunks {
		if _, err := s.w.Write(c); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.release()
	return nil
}

// release gives the chunks back to the pool.
func (s *spool) release() {
	for _, c := range s.chunks {
		if cap(c) == chunkSize {
			c = c[:0]
			chunkPool.Put(&c)
		}
	}
	s.chunks, s.mem = nil, 0
}

// Sync does nothing: the committer decides when alerts are durable.
func (s *spool) Sync() error { return nil }

// Close drops the spool and its file.
func (s *spool) Close() error {
	s.release()
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

// Bytes returns the size of the alerts' JSON held.
func (s *spool) Bytes() int64 { return s.bytes }

// Replay calls fn for every alert in order. origin is the object's origin;
// each alert gets its own line and offset back. a.JSON is valid only
// during fn.
func (s *spool) Replay(origin event.Origin, fn func(*alert.Alert) error) error {
	if s.err != nil {
		return s.err
	}
	a := alert.Alert{Origin: origin}
	if s.f == nil {
		i := 0
		for _, c := range s.chunks {
			for len(c) > 0 {
				var err error
				if c, err = decodeRecord(c, &a); err != nil {
					return fmt.Errorf("spool: record %d: %w", i, err)
				}
				if err := fn(&a); err != nil {
					return err
				}
				i++
			}
		}
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	r := bufio.NewReaderSize(s.f, 256<<10)
	var buf []byte
	for i := 0; i < s.n; i++ {
		var err error
		if buf, err = readRecord(r, &a, buf); err != nil {
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

// spoolObject copies an object's bytes into a file of the spool folder,
// for a reader that needs random access (Parquet is read from its footer).
// The file is unlinked at once: closing it frees the disk, and a crash
// leaves nothing behind.
func spoolObject(dir string, r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp(dir, "object-*.spool")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f, nil
}
