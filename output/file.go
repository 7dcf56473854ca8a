package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
)

// FileOptions configure a FileSink. Zero values get defaults.
type FileOptions struct {
	// Fsync makes Sync call fsync; without it Sync only hands the bytes to
	// the operating system (safe against a daemon crash, not a power loss).
	Fsync bool
	// MaxSize makes RotationDue true once the file holds this many bytes;
	// 0 disables size rotation.
	MaxSize int64
	// Daily makes RotationDue true once the day (in Location) differs from
	// the day the file was started.
	Daily bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Location is the time zone of days; default time.Local, as Wazuh
	// rotates at local midnight.
	Location *time.Location
	// BufferSize is the write buffer; default 256 KiB.
	BufferSize int
}

// FileCheckpoint identifies a durable prefix of an alerts file: its path,
// its inode and the size up to which every line belongs to objects already
// marked done. The daemon stores it with its done-marks.
type FileCheckpoint struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	Size int64  `json:"size"`
}

// Recovery says what OpenFile did to the file it found.
type Recovery struct {
	// Truncated is the number of bytes cut after the checkpoint: alerts of
	// objects that were not marked done and will be read again.
	Truncated int64
	// PartialLine is the number of bytes of an unterminated last line cut
	// from a file without a checkpoint.
	PartialLine int64
	// Foreign is set when the file is not the one of the checkpoint (it was
	// rotated or replaced by someone else): it is appended to unchanged.
	Foreign bool
	// Shrunk is set when the checkpointed file is shorter than its
	// checkpoint: someone truncated it.
	Shrunk bool
}

// FileSink appends alerts to a file, one alerts.json line each. It is used
// by one goroutine at a time.
type FileSink struct {
	path string
	opts FileOptions
	f    *os.File
	w    *bufio.Writer
	size int64     // bytes written, buffered ones included
	day  time.Time // the day the file was started, midnight in Location
	dev  uint64
	ino  uint64
}

var _ alert.Sink = (*FileSink)(nil)

// OpenFile opens (or creates) the alerts file at path for appending. With a
// checkpoint of the same file, everything after the checkpoint's size is
// cut: those lines belong to objects that were not marked done and will be
// read again, so the file never holds an alert twice. Without one, an
// unterminated last line (a crash mid-write) is cut.
func OpenFile(path string, opts FileOptions, cp *FileCheckpoint) (*FileSink, Recovery, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 256 << 10
	}
	s := &FileSink{path: path, opts: opts}
	var rec Recovery
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, rec, fmt.Errorf("alerts file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, rec, fmt.Errorf("alerts file %s: %w", path, err)
	}
	s.f = f
	if rec, err = s.recover(cp); err != nil {
		f.Close()
		return nil, rec, fmt.Errorf("alerts file %s: %w", path, err)
	}
	s.w = bufio.NewWriterSize(f, opts.BufferSize)
	return s, rec, nil
}

func (s *FileSink) recover(cp *FileCheckpoint) (Recovery, error) {
	var rec Recovery
	st, err := s.stat()
	if err != nil {
		return rec, err
	}
	switch {
	case cp != nil && cp.Dev == s.dev && cp.Ino == s.ino:
		if s.size > cp.Size {
			rec.Truncated = s.size - cp.Size
			if err := s.truncate(cp.Size); err != nil {
				return rec, err
			}
		} else if s.size < cp.Size {
			rec.Shrunk = true
		}
	default:
		rec.Foreign = cp != nil && s.size > 0
		cut, err := s.cutPartialLine()
		if err != nil {
			return rec, err
		}
		rec.PartialLine = cut
	}
	s.day = s.dayOf(s.opts.Now())
	if s.size > 0 {
		s.day = s.dayOf(st.ModTime())
	}
	return rec, nil
}

func (s *FileSink) stat() (os.FileInfo, error) {
	st, err := s.f.Stat()
	if err != nil {
		return nil, err
	}
	s.size = st.Size()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st, nil
}

func (s *FileSink) truncate(size int64) error {
	if err := s.f.Truncate(size); err != nil {
		return err
	}
	s.size = size
	return s.f.Sync()
}

// cutPartialLine cuts the bytes after the last newline.
func (s *FileSink) cutPartialLine() (int64, error) {
	if s.size == 0 {
		return 0, nil
	}
	buf := make([]byte, 64<<10)
	end := s.size
	for end > 0 {
		start := end - int64(len(buf))
		if start < 0 {
			start = 0
		}
		n, err := s.f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep := start + int64(i) + 1
			if keep == s.size {
				return 0, nil
			}
			cut := s.size - keep
			return cut, s.truncate(keep)
		}
		end = start
	}
	cut := s.size
	return cut, s.truncate(0)
}

func (s *FileSink) dayOf(t time.Time) time.Time {
	t = t.In(s.opts.Location)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.opts.Location)
}

// Write appends a's line and a newline.
func (s *FileSink) Write(a *alert.Alert) error {
	if _, err := s.w.Write(a.JSON); err != nil {
		return fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	if err := s.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	s.size += int64(len(a.JSON)) + 1
	return nil
}

// Sync flushes the buffer and, with Fsync, fsyncs the file.
func (s *FileSink) Sync() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	if s.opts.Fsync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("alerts file %s: fsync: %w", s.path, err)
		}
	}
	return nil
}

// Close syncs and closes the file.
func (s *FileSink) Close() error {
	err := s.Sync()
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("alerts file %s: %w", s.path, cerr)
	}
	return err
}

// Checkpoint returns the file's identity and size. After Sync, every line
// before Size is durable (as durable as the fsync policy makes it).
func (s *FileSink) Checkpoint() FileCheckpoint {
	return FileCheckpoint{Path: s.path, Dev: s.dev, Ino: s.ino, Size: s.size}
}

// Size returns the bytes written so far, buffered ones included.
func (s *FileSink) Size() int64 { return s.size }

// RotationDue says whether the file should be rotated now: it reached
// MaxSize, or Daily is set and the day changed. An empty file is never due.
func (s *FileSink) RotationDue() bool {
	if s.size == 0 {
		return false
	}
	if s.opts.MaxSize > 0 && s.size >= s.opts.MaxSize {
		return true
	}
	return s.opts.Daily && !s.dayOf(s.opts.Now()).Equal(s.day)
}

// Rotate syncs the file, renames it to "<name>-YYYY-MM-DD[.N]<ext>" (the day
// it was started; N counts files of the same day, never overwriting one)
// and starts a new, empty file at the same path. Call it only where every
// line written is accounted for (the daemon commits its done-marks first):
// a crash between the rename and the next commit leaves a new, empty file,
// which OpenFile accepts as is. It returns the rotated file's path.
func (s *FileSink) Rotate() (string, error) {
	if err := s.Sync(); err != nil {
		return "", err
	}
	if err := s.f.Sync(); err != nil {
		return "", fmt.Errorf("alerts file %s: fsync: %w", s.path, err)
	}
	dst, err := s.rotatedName()
	if err != nil {
		return "", err
	}
	if err := s.f.Close(); err != nil {
		return "", fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	if err := os.Rename(s.path, dst); err != nil {
		return "", fmt.Errorf("alerts file %s: rotate: %w", s.path, err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return dst, err
	}
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o640)
	if err != nil {
		return dst, fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	s.f = f
	s.w.Reset(f)
	if _, err := s.stat(); err != nil {
		return dst, fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	s.day = s.dayOf(s.opts.Now())
	return dst, syncDir(filepath.Dir(s.path))
}

func (s *FileSink) rotatedName() (string, error) {
	ext := filepath.Ext(s.path)
	stem := strings.TrimSuffix(s.path, ext)
	base := stem + "-" + s.day.Format("2006-01-02")
	for n := 0; n < 100000; n++ {
		name := base + ext
		if n > 0 {
			name = base + "." + strconv.Itoa(n) + ext
		}
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			return name, nil
		} else if err != nil {
			return "", fmt.Errorf("alerts file %s: rotate: %w", s.path, err)
		}
	}
	return "", fmt.Errorf("alerts file %s: rotate: too many files for %s", s.path, s.day.Format("2006-01-02"))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
