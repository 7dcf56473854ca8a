package output

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/internal/filelock"
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
	// BufferSize is the write buffer; default 256 KiB. Only whole lines
	// are handed to the file.
	BufferSize int
	// PosPath is a small file where the sink notes how far it wrote to the
	// alerts file (after every write, without fsync). After a crash,
	// OpenFile then cuts only bytes this sink wrote after the checkpoint,
	// and refuses to cut when another program appended to the file
	// meanwhile. Empty: no such note; everything after the checkpoint is
	// taken as the sink's own.
	PosPath string
}

// FileCheckpoint identifies a durable prefix of an alerts file: its path,
// its inode, the size up to which every line belongs to objects already
// marked done, and a checksum of the bytes just before that size, so that
// a file rewritten by someone else is not mistaken for it. The daemon
// stores it with its done-marks.
type FileCheckpoint struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	Size int64  `json:"size"`
	// TailLen bytes before Size have the CRC-32C TailCRC (0: not recorded,
	// by a vpcalertd before they were).
	TailLen int    `json:"tail_len,omitempty"`
	TailCRC uint32 `json:"tail_crc,omitempty"`
}

// tailLen is how many bytes before a checkpoint its checksum covers.
const tailLen = 4096

// Errors of OpenFile that stop the daemon rather than cut a file that may
// not be its own, tested with errors.Is.
var (
	// ErrLocked says another process holds the alerts file's lock.
	ErrLocked = filelock.ErrLocked
	// ErrCommittedChanged says the part of the alerts file that was
	// committed is not what was committed: someone cut or rewrote it.
	ErrCommittedChanged = errors.New("the committed part of the alerts file changed")
	// ErrForeignBytes says bytes after the checkpoint were not written by
	// this sink: another program appended to the file.
	ErrForeignBytes = errors.New("the alerts file holds bytes vpcalertd did not write")
)

// hintForeign is what to do about ErrCommittedChanged and ErrForeignBytes.
const hintForeign = "nothing was cut. vpcalertd must be the only writer of its alerts file (never point it at " +
	"Wazuh's own alerts.json): move the file aside, and vpcalertd starts a new one"

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
	// Emptied is set when the checkpointed file is empty: someone
	// truncated it (logrotate's copytruncate); it is appended to.
	Emptied bool
	// NoPos is set when bytes after the checkpoint were cut without a
	// note of how far the sink wrote (none kept, or it was lost with a
	// power cut): they were taken as the sink's own.
	NoPos bool
}

// FileSink appends alerts to a file, one alerts.json line each. It is used
// by one goroutine at a time.
type FileSink struct {
	path string
	opts FileOptions
	f    *os.File
	pos  *os.File // the PosPath note, or nil
	note []byte   // the note being written
	buf  []byte   // whole lines not yet handed to the file
	// noReserve is set on a file system without fallocate.
	noReserve bool
	written   int64     // bytes in the file: always the end of a line
	size      int64     // written plus buffered
	day       time.Time // the day the file was started, midnight in Location
	dev       uint64
	ino       uint64
}

var _ alert.Sink = (*FileSink)(nil)

// OpenFile opens (or creates) the alerts file at path for appending and
// takes an exclusive lock on it (flock: a second daemon, or another program
// that takes the lock, is refused with ErrLocked naming the holder).
//
// With a checkpoint of the same file, everything after the checkpoint's
// size is cut: those lines belong to objects that were not marked done and
// will be read again, so the file never holds an alert twice. Nothing is
// cut when the file does not hold what was committed (shorter than the
// checkpoint, or other bytes before it: ErrCommittedChanged), nor when,
// by the PosPath note, bytes after what the sink wrote were appended by
// someone else (ErrForeignBytes). Without a checkpoint, an unterminated
// last line (a crash mid-write) is cut.
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
	if err := filelock.Lock(f); err != nil {
		f.Close()
		return nil, rec, fmt.Errorf("alerts file %s: %w; one vpcalertd per alerts file, and no other writer", path, err)
	}
	if opts.PosPath != "" {
		if s.pos, err = os.OpenFile(opts.PosPath, os.O_RDWR|os.O_CREATE, 0o640); err != nil {
			f.Close()
			return nil, rec, fmt.Errorf("alerts file %s: position note: %w", path, err)
		}
	}
	if rec, err = s.recover(cp); err != nil {
		s.closeFiles()
		return nil, rec, fmt.Errorf("alerts file %s: %w", path, err)
	}
	s.buf = make([]byte, 0, opts.BufferSize)
	s.note = make([]byte, 0, noteLen)
	if err := s.notePos(nil); err != nil {
		s.closeFiles()
		return nil, rec, err
	}
	return s, rec, nil
}

func (s *FileSink) closeFiles() {
	s.f.Close()
	if s.pos != nil {
		s.pos.Close()
	}
}

func (s *FileSink) recover(cp *FileCheckpoint) (Recovery, error) {
	var rec Recovery
	st, err := s.stat()
	if err != nil {
		return rec, err
	}
	switch {
	case cp != nil && cp.Dev == s.dev && cp.Ino == s.ino:
		if err := s.recoverCheckpoint(cp, &rec); err != nil {
			return rec, err
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

// recoverCheckpoint cuts the file back to its checkpoint, after checking
// that the committed bytes are still there and that everything after them
// was written by this sink.
func (s *FileSink) recoverCheckpoint(cp *FileCheckpoint, rec *Recovery) error {
	switch {
	case s.size == 0 && cp.Size > 0:
		rec.Emptied = true
		return nil
	case s.size < cp.Size:
		return fmt.Errorf("%w: it holds %d bytes but %d were committed (someone cut it); %s", ErrCommittedChanged, s.size, cp.Size, hintForeign)
	}
	if cp.TailLen > 0 && int64(cp.TailLen) <= cp.Size {
		crc, err := s.crc(cp.Size-int64(cp.TailLen), cp.Size)
		if err != nil {
			return err
		}
		if crc != cp.TailCRC {
			return fmt.Errorf("%w: the %d bytes before offset %d are not those committed (someone rewrote it); %s",
				ErrCommittedChanged, cp.TailLen, cp.Size, hintForeign)
		}
	}
	if s.size == cp.Size {
		return nil
	}
	if err := s.checkOwnTail(cp.Size); err != nil {
		if errors.Is(err, errNoPos) {
			rec.NoPos = true
		} else {
			return err
		}
	}
	rec.Truncated = s.size - cp.Size
	return s.truncate(cp.Size)
}

var errNoPos = errors.New("no position note")

// checkOwnTail checks, by the position note, that every byte after the
// committed size was written by this sink. The note is written before each
// write to the file and says where the write starts and ends and the
// CRC-32C of each of its blocks (bounded by multiples of noteBlock in the
// file). The file must end where that write starts (it did not happen), at
// a block boundary with those blocks (a write cut short: a SIGKILL stops
// the kernel's copy between pages), or where it ends with all of them.
func (s *FileSink) checkOwnTail(committed int64) error {
	n, ok := s.readPos()
	if !ok || n.end < committed {
		return errNoPos
	}
	foreign := func(from int64) error {
		return fmt.Errorf("%w: %d bytes after offset %d were appended by another program while vpcalertd was stopped "+
			"(vpcalertd wrote up to %d, %d of them not committed); %s", ErrForeignBytes, s.size-from, from, from, from-committed, hintForeign)
	}
	switch {
	case n.end == committed:
		return foreign(committed)
	case s.size <= n.start:
		// The noted write did not happen: the bytes before it are the
		// sink's earlier writes.
		return nil
	}
	// Check the noted write's blocks as far as the file goes.
	from := n.start
	for i, want := range n.crcs {
		to := min(blockEnd(from), n.end)
		if to > s.size {
			if from == s.size {
				return nil // the write was cut here
			}
			return foreign(from)
		}
		crc, err := s.crc(from, to)
		if err != nil {
			return err
		}
		if crc != want {
			return foreign(from)
		}
		if i == len(n.crcs)-1 && s.size > to {
			return foreign(to)
		}
		from = to
	}
	return nil
}

// blockEnd is the end of the note block that starts at off.
func blockEnd(off int64) int64 { return (off/noteBlock + 1) * noteBlock }

// crc returns the CRC-32C of the file's bytes [from, to).
func (s *FileSink) crc(from, to int64) (uint32, error) {
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(s.f, from, to-from)); err != nil {
		return 0, err
	}
	return h.Sum32(), nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// The position note: magic, device, inode, start and end of the write to
// the file about to be made, the number of its blocks, the CRC-32C of
// each, and a CRC-32C of everything before it. A write is at most
// maxWrite bytes, so the note is at most noteLen bytes.
const (
	posMagic  = "VPCAPOS2"
	noteBlock = 4096
	maxWrite  = 256 << 10
	noteHead  = 8 + 8 + 8 + 8 + 8 + 4
	noteLen   = noteHead + 4*(maxWrite/noteBlock+1) + 4
)

type posNote struct {
	start, end int64
	crcs       []uint32
}

// readPos returns the last write noted for this file; ok is false without
// a valid note for it.
func (s *FileSink) readPos() (posNote, bool) {
	var n posNote
	if s.pos == nil {
		return n, false
	}
	b := make([]byte, noteLen)
	k, _ := s.pos.ReadAt(b, 0)
	le := binary.LittleEndian
	if k < noteHead+4 || string(b[:8]) != posMagic {
		return n, false
	}
	blocks := int(le.Uint32(b[40:]))
	size := noteHead + 4*blocks
	if blocks > maxWrite/noteBlock+1 || k < size+4 || crc32.Checksum(b[:size], castagnoli) != le.Uint32(b[size:]) {
		return n, false
	}
	if le.Uint64(b[8:]) != s.dev || le.Uint64(b[16:]) != s.ino {
		return n, false
	}
	n = posNote{start: int64(le.Uint64(b[24:])), end: int64(le.Uint64(b[32:]))}
	for i := 0; i < blocks; i++ {
		n.crcs = append(n.crcs, le.Uint32(b[noteHead+4*i:]))
	}
	return n, n.start <= n.end
}

// notePos records in the position note the write about to be made: data
// appended at s.written. It is not fsync'd: it must survive a crash of the
// daemon, not of the machine.
func (s *FileSink) notePos(data []byte) error {
	if s.pos == nil {
		return nil
	}
	b := s.note[:noteHead]
	copy(b, posMagic)
	le := binary.LittleEndian
	le.PutUint64(b[8:], s.dev)
	le.PutUint64(b[16:], s.ino)
	le.PutUint64(b[24:], uint64(s.written))
	le.PutUint64(b[32:], uint64(s.written+int64(len(data))))
	blocks := 0
	for off := s.written; len(data) > 0; blocks++ {
		k := min(blockEnd(off)-off, int64(len(data)))
		b = le.AppendUint32(b, crc32.Checksum(data[:k], castagnoli))
		data, off = data[k:], off+k
	}
	le.PutUint32(b[40:], uint32(blocks))
	b = le.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if _, err := s.pos.WriteAt(b, 0); err != nil {
		return fmt.Errorf("alerts file %s: position note: %w", s.path, err)
	}
	return nil
}

func (s *FileSink) stat() (os.FileInfo, error) {
	st, err := s.f.Stat()
	if err != nil {
		return nil, err
	}
	s.size = st.Size()
	s.written = s.size
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(sys.Dev), uint64(sys.Ino)
	}
	return st, nil
}

func (s *FileSink) truncate(size int64) error {
	if err := s.f.Truncate(size); err != nil {
		return err
	}
	s.size, s.written = size, size
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
	if len(s.buf)+len(a.JSON)+1 > cap(s.buf) && len(s.buf) > 0 {
		if err := s.flush(); err != nil {
			return err
		}
	}
	s.buf = append(s.buf, a.JSON...)
	s.buf = append(s.buf, '\n')
	s.size += int64(len(a.JSON)) + 1
	return nil
}

// flush hands the buffered lines to the file, at most maxWrite bytes a
// write, each noted first. A write that fails half way (a full disk) is cut
// back at once, so the file never ends in a torn line; the lines not
// written stay buffered.
func (s *FileSink) flush() error {
	for len(s.buf) > 0 {
		chunk := s.buf[:min(len(s.buf), maxWrite)]
		if err := s.reserve(len(chunk)); err != nil {
			return err
		}
		if err := s.notePos(chunk); err != nil {
			return err
		}
		n, err := s.f.Write(chunk)
		if err != nil {
			if n > 0 {
				if terr := s.f.Truncate(s.written); terr != nil {
					return fmt.Errorf("alerts file %s: %w (and cutting the partial write failed: %v)", s.path, err, terr)
				}
			}
			if IsDiskFull(err) {
				return &DiskFullError{Path: s.path, Err: err}
			}
			return fmt.Errorf("alerts file %s: %w", s.path, err)
		}
		s.written += int64(n)
		s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	}
	return nil
}

// DiskFullError is the error of FileSink.Write, Sync or Rotate when the
// file system refuses bytes for lack of space (ENOSPC), a quota (EDQUOT)
// or the process's file-size limit (EFBIG). None of the refused bytes are
// in the file (the space is reserved before each write, and a write cut
// short anyway is cut back at once), and the sink keeps them: calling the
// same method again once there is room writes them exactly once.
type DiskFullError struct {
	Path string
	Err  error
}

func (e *DiskFullError) Error() string { return "alerts file " + e.Path + ": " + e.Err.Error() }

func (e *DiskFullError) Unwrap() error { return e.Err }

// IsDiskFull says whether err is a file system's refusal for lack of
// space, a quota or a file-size limit.
func IsDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// reserve allocates n bytes past the end of the file before they are
// written (fallocate, keeping the size), so that a full disk refuses them
// before any reaches the file: a reader never sees a torn line. File
// systems without fallocate are written to directly (a short write is then
// cut back).
func (s *FileSink) reserve(n int) error {
	if s.noReserve {
		return nil
	}
	err := fallocateKeepSize(s.f, s.written, int64(n))
	switch {
	case err == nil:
		return nil
	case IsDiskFull(err):
		return &DiskFullError{Path: s.path, Err: err}
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS), errors.Is(err, syscall.EINVAL):
		s.noReserve = true
		return nil
	}
	return fmt.Errorf("alerts file %s: reserving space: %w", s.path, err)
}

// Sync flushes the buffer and, with Fsync, fsyncs the file.
func (s *FileSink) Sync() error {
	if err := s.flush(); err != nil {
		return err
	}
	if s.opts.Fsync {
		if err := s.f.Sync(); err != nil {
			if IsDiskFull(err) {
				return &DiskFullError{Path: s.path, Err: err}
			}
			return fmt.Errorf("alerts file %s: fsync: %w", s.path, err)
		}
	}
	return nil
}

// Free returns the bytes free for the alerts file's owner on its file
// system.
func (s *FileSink) Free() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Fstatfs(int(s.f.Fd()), &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil // Bsize is uint32 on macOS
}

// Path returns the file's path.
func (s *FileSink) Path() string { return s.path }

// Close syncs and closes the file (which releases its lock).
func (s *FileSink) Close() error {
	err := s.Sync()
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("alerts file %s: %w", s.path, cerr)
	}
	if s.pos != nil {
		s.pos.Close()
	}
	return err
}

// Checkpoint returns the file's identity, size and the checksum of its
// last bytes. Call it after Sync: every line before Size is then durable
// (as durable as the fsync policy makes it).
func (s *FileSink) Checkpoint() (FileCheckpoint, error) {
	cp := FileCheckpoint{Path: s.path, Dev: s.dev, Ino: s.ino, Size: s.size}
	if s.size != s.written {
		return cp, fmt.Errorf("alerts file %s: checkpoint with %d bytes not written", s.path, s.size-s.written)
	}
	if cp.Size > 0 {
		cp.TailLen = int(min(cp.Size, tailLen))
		crc, err := s.crc(cp.Size-int64(cp.TailLen), cp.Size)
		if err != nil {
			return cp, fmt.Errorf("alerts file %s: %w", s.path, err)
		}
		cp.TailCRC = crc
	}
	return cp, nil
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

// RotationDueBefore says whether the file should be rotated before n more
// bytes go in: it holds something, and they would take it past MaxSize (or
// the day changed). Rotating then keeps a file within MaxSize unless one
// object's alerts alone exceed it.
func (s *FileSink) RotationDueBefore(n int64) bool {
	if s.size == 0 {
		return false
	}
	if s.opts.MaxSize > 0 && s.size+n > s.opts.MaxSize {
		return true
	}
	return s.RotationDue()
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
	if err := filelock.Lock(f); err != nil {
		return dst, fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	if _, err := s.stat(); err != nil {
		return dst, fmt.Errorf("alerts file %s: %w", s.path, err)
	}
	if err := s.notePos(nil); err != nil {
		return dst, err
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
