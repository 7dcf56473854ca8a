package indexer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The disk queue is a directory of segment files written in order:
//
//	seg-00000000000000000001.q   "VPCQ1\n\x00\x00" then records
//	cursor                       "<segment> <offset>\n": where unacknowledged data starts
//	lock                         flock'd while a sink uses the directory
//
// A record is a 4-byte big-endian length, the CRC-32C of the payload, and
// the payload (one bulk action line and document). Writes go through a
// buffer; sync flushes and fsyncs. The cursor is rewritten after each
// acknowledgement (atomically, by rename) and may lag behind: on restart the
// records after it are sent again, which the deterministic _id makes
// harmless. A record cut short by a crash ends its segment; the next start
// writes to a new segment.

const (
	segMagic      = "VPCQ1\n\x00\x00"
	segHeaderSize = int64(len(segMagic))
	recHeaderSize = 8
	segPrefix     = "seg-"
	segSuffix     = ".q"
	cursorName    = "cursor"
	lockName      = "lock"
	maxRecordSize = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type segment struct {
	id   uint64
	size int64 // bytes in the file (header included), flushed or not
}

type diskQueue struct {
	dir    string
	log    *slog.Logger
	segMax int64
	lockF  *os.File

	bound              // mu guards everything below; bytes counts framing too
	segs     []segment // ordered; the last one is being written
	w        *os.File
	bw       *bufio.Writer
	flushed  int64 // bytes of the active segment written to the file
	dirDirty bool  // a segment was created since the last directory fsync
	puts     uint64
	cursor   qpos
	readyCh  chan struct{}

	// Reader state, used by next alone (under mu).
	rpos  qpos
	rf    *os.File
	rbuf  *bufio.Reader
	rseg  uint64
	rhdr  [recHeaderSize]byte
	bad   int // corrupt tails skipped
	wrerr error
}

func segName(id uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, id, segSuffix) }

// openDiskQueue opens or creates the queue in dir.
func openDiskQueue(dir string, max int64, log *slog.Logger) (*diskQueue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue.dir %s: %w", dir, err)
	}
	lockF, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("queue.dir %s: %w", dir, err)
	}
	q := &diskQueue{dir: dir, log: log, lockF: lockF, readyCh: make(chan struct{}, 1)}
	q.max = max
	q.segMax = min(max/8, 64<<20)
	q.space.init()
	if err := q.load(); err != nil {
		lockF.Close()
		return nil, fmt.Errorf("queue.dir %s: %w", dir, err)
	}
	return q, nil
}

// load reads the existing segments and cursor and starts a new segment.
func (q *diskQueue) load() error {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		q.segs = append(q.segs, segment{id: id, size: fi.Size()})
	}
	sort.Slice(q.segs, func(i, j int) bool { return q.segs[i].id < q.segs[j].id })
	q.cursor = q.readCursor()
	// Drop segments before the cursor (acknowledged, deletion interrupted).
	for len(q.segs) > 0 && q.segs[0].id < q.cursor.seg {
		q.removeSegment(q.segs[0].id)
		q.segs = q.segs[1:]
	}
	if len(q.segs) == 0 || q.segs[0].id != q.cursor.seg {
		q.cursor = qpos{}
		if len(q.segs) > 0 {
			q.cursor = qpos{seg: q.segs[0].id, off: segHeaderSize}
		}
	}
	// A crash may have cut the last record of the last segment.
	if n := len(q.segs); n > 0 {
		if err := q.trimTail(&q.segs[n-1]); err != nil {
			return err
		}
	}
	for _, s := range q.segs {
		q.bytes += max(s.size-segHeaderSize, 0)
	}
	if len(q.segs) > 0 {
		q.bytes -= min(max(q.cursor.off-segHeaderSize, 0), max(q.segs[0].size-segHeaderSize, 0))
	}
	next := uint64(1)
	if n := len(q.segs); n > 0 {
		next = q.segs[n-1].id + 1
	}
	if err := q.startSegment(next); err != nil {
		return err
	}
	if q.cursor.seg == 0 {
		q.cursor = qpos{seg: next, off: segHeaderSize}
	}
	q.rpos = q.cursor
	if q.bytes > 0 {
		q.log.Info("indexer: delivering alerts left in the disk queue", "dir", q.dir, "bytes", q.bytes)
	}
	return nil
}

func (q *diskQueue) readCursor() qpos {
	b, err := os.ReadFile(filepath.Join(q.dir, cursorName))
	if err != nil {
		return qpos{}
	}
	var p qpos
	if _, err := fmt.Sscanf(string(b), "%d %d\n", &p.seg, &p.off); err != nil || p.off < segHeaderSize {
		return qpos{}
	}
	return p
}

// trimTail truncates a segment after its last complete record.
func (q *diskQueue) trimTail(s *segment) error {
	path := filepath.Join(q.dir, segName(s.id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	good, err := scanSegment(r, s.size)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if good < s.size {
		q.log.Warn("indexer: disk queue segment ends with a partial record; cutting it", "file", path, "offset", good, "size", s.size)
		if err := f.Truncate(good); err != nil {
			return err
		}
		s.size = good
	}
	return nil
}

// scanSegment returns the offset after the last valid record.
func scanSegment(r io.Reader, size int64) (int64, error) {
	var hdr [segHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil // empty or cut header: nothing valid
	}
	if string(hdr[:]) != segMagic {
		return 0, errors.New("not a queue segment")
	}
	off := segHeaderSize
	var rh [recHeaderSize]byte
	buf := make([]byte, 0, 64<<10)
	for off < size {
		if _, err := io.ReadFull(r, rh[:]); err != nil {
			return off, nil
		}
		n := int64(binary.BigEndian.Uint32(rh[:4]))
		if n > maxRecordSize || off+recHeaderSize+n > size {
			return off, nil
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return off, nil
		}
		if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(rh[4:]) {
			return off, nil
		}
		off += recHeaderSize + n
	}
	return off, nil
}

// startSegment closes the active segment (flushed and fsync'd) and creates
// segment id.
func (q *diskQueue) startSegment(id uint64) error {
	if q.w != nil {
		if err := q.bw.Flush(); err != nil {
			return err
		}
		if err := q.w.Sync(); err != nil {
			return err
		}
		if err := q.w.Close(); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(q.dir, segName(id)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if q.bw == nil {
		q.bw = bufio.NewWriterSize(f, 256<<10)
	} else {
		q.bw.Reset(f)
	}
	if _, err := q.bw.WriteString(segMagic); err != nil {
		f.Close()
		return err
	}
	q.w = f
	q.flushed = 0
	q.segs = append(q.segs, segment{id: id, size: segHeaderSize})
	q.dirDirty = true
	return nil
}

func (q *diskQueue) active() *segment { return &q.segs[len(q.segs)-1] }

func (q *diskQueue) put(rec []byte, timeout time.Duration, done <-chan struct{}) (uint64, error) {
	n := int64(len(rec)) + recHeaderSize
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.putLocked(rec, n, timeout, done); err != nil {
		return q.puts, err
	}
	q.puts++
	return q.puts, nil
}

func (q *diskQueue) putLocked(rec []byte, n int64, timeout time.Duration, done <-chan struct{}) error {
	if q.wrerr != nil {
		return q.wrerr
	}
	if err := waitRoom(&q.mu, &q.space, func() bool { return q.bytes == 0 || q.bytes+n <= q.max }, timeout, done); err != nil {
		return err
	}
	if q.active().size+n > q.segMax && q.active().size > segHeaderSize {
		if err := q.startSegment(q.active().id + 1); err != nil {
			q.wrerr = fmt.Errorf("disk queue %s: %w", q.dir, err)
			return q.wrerr
		}
	}
	var hdr [recHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(rec)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(rec, crcTable))
	if _, err := q.bw.Write(hdr[:]); err != nil {
		q.wrerr = fmt.Errorf("disk queue %s: %w", q.dir, err)
		return q.wrerr
	}
	if _, err := q.bw.Write(rec); err != nil {
		q.wrerr = fmt.Errorf("disk queue %s: %w", q.dir, err)
		return q.wrerr
	}
	q.active().size += n
	q.bytes += n
	signal(q.readyCh)
	return nil
}

// flushLocked writes the buffer to the active segment file.
func (q *diskQueue) flushLocked() error {
	if err := q.bw.Flush(); err != nil {
		q.wrerr = fmt.Errorf("disk queue %s: %w", q.dir, err)
		return q.wrerr
	}
	q.flushed = q.active().size
	return nil
}

func (q *diskQueue) sync() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wrerr != nil {
		return q.wrerr
	}
	if err := q.flushLocked(); err != nil {
		return err
	}
	if err := q.w.Sync(); err != nil {
		q.wrerr = fmt.Errorf("disk queue %s: fsync: %w", q.dir, err)
		return q.wrerr
	}
	if q.dirDirty {
		if err := syncDir(q.dir); err != nil {
			return fmt.Errorf("disk queue %s: fsync directory: %w", q.dir, err)
		}
		q.dirDirty = false
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (q *diskQueue) next(b *batch, maxBytes, maxCount int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for b.count() < maxCount {
		seg := q.segIndex(q.rpos.seg)
		if seg < 0 {
			break
		}
		s := q.segs[seg]
		last := seg == len(q.segs)-1
		if q.rpos.off >= s.size {
			if last {
				break
			}
			q.rpos = qpos{seg: q.segs[seg+1].id, off: segHeaderSize}
			continue
		}
		if last && q.rpos.off >= q.flushed {
			if err := q.flushLocked(); err != nil {
				return err
			}
		}
		if err := q.openReader(s.id); err != nil {
			return err
		}
		if _, err := io.ReadFull(q.rbuf, q.rhdr[:]); err != nil {
			q.skipRest(s, "cut record header", err)
			continue
		}
		n := int(binary.BigEndian.Uint32(q.rhdr[:4]))
		if int64(n) > maxRecordSize || q.rpos.off+recHeaderSize+int64(n) > s.size {
			q.skipRest(s, "bad record length", nil)
			continue
		}
		if b.count() > 0 && len(b.body)+n > maxBytes {
			// Leave it for the next batch: step back over the header.
			q.closeReader()
			break
		}
		start := len(b.body)
		b.body = append(b.body, make([]byte, n)...)
		if _, err := io.ReadFull(q.rbuf, b.body[start:]); err != nil {
			b.body = b.body[:start]
			q.skipRest(s, "cut record", err)
			continue
		}
		if crc32.Checksum(b.body[start:], crcTable) != binary.BigEndian.Uint32(q.rhdr[4:]) {
			b.body = b.body[:start]
			q.skipRest(s, "checksum mismatch", nil)
			continue
		}
		b.offs = append(b.offs, start)
		q.rpos.off += recHeaderSize + int64(n)
		b.qsize += recHeaderSize + int64(n)
	}
	b.end = q.rpos
	return nil
}

func (q *diskQueue) segIndex(id uint64) int {
	for i := range q.segs {
		if q.segs[i].id == id {
			return i
		}
	}
	return -1
}

// openReader positions the reader at q.rpos in segment id.
func (q *diskQueue) openReader(id uint64) error {
	if q.rf != nil && q.rseg == id {
		return nil
	}
	q.closeReader()
	f, err := os.Open(filepath.Join(q.dir, segName(id)))
	if err != nil {
		return fmt.Errorf("disk queue %s: %w", q.dir, err)
	}
	if _, err := f.Seek(q.rpos.off, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("disk queue %s: %w", q.dir, err)
	}
	q.rf, q.rseg = f, id
	if q.rbuf == nil {
		q.rbuf = bufio.NewReaderSize(f, 1<<20)
	} else {
		q.rbuf.Reset(f)
	}
	return nil
}

func (q *diskQueue) closeReader() {
	if q.rf != nil {
		q.rf.Close()
		q.rf = nil
	}
}

// skipRest gives up on the rest of a segment whose data is damaged. Only a
// segment left by a crash can hold such data; the bytes are not counted as
// queued any more.
func (q *diskQueue) skipRest(s segment, why string, err error) {
	q.closeReader()
	q.bad++
	q.log.Error("indexer: disk queue segment is damaged; skipping its rest", "file", filepath.Join(q.dir, segName(s.id)),
		"offset", q.rpos.off, "reason", why, "err", err)
	lost := s.size - q.rpos.off
	q.bytes -= lost
	q.rpos.off = s.size
}

func (q *diskQueue) ready() <-chan struct{} { return q.readyCh }

func (q *diskQueue) ack(end qpos, qsize int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bytes -= qsize
	q.cursor = end
	for len(q.segs) > 1 && q.segs[0].id < end.seg {
		if q.rf != nil && q.rseg == q.segs[0].id {
			q.closeReader()
		}
		q.removeSegment(q.segs[0].id)
		q.segs = q.segs[1:]
	}
	q.space.freed()
	return q.writeCursor()
}

// removeSegment deletes a segment whose records are all acknowledged (or
// an empty one). A failure loses nothing but disk space: it is logged, and
// the next start tries again.
func (q *diskQueue) removeSegment(id uint64) {
	path := filepath.Join(q.dir, segName(id))
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Warn("indexer: cannot delete a disk queue segment whose documents were all delivered; "+
			"it takes disk space until the next start deletes it, or delete it by hand", "file", path, "error", err)
	}
}

func (q *diskQueue) writeCursor() error {
	tmp := filepath.Join(q.dir, cursorName+".tmp")
	data := fmt.Sprintf("%d %d\n", q.cursor.seg, q.cursor.off)
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return fmt.Errorf("disk queue %s: %w", q.dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(q.dir, cursorName)); err != nil {
		return fmt.Errorf("disk queue %s: %w", q.dir, err)
	}
	return nil
}

func (q *diskQueue) close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closeReader()
	var errs []error
	if q.w != nil {
		if err := q.bw.Flush(); err != nil {
			errs = append(errs, err)
		}
		if err := q.w.Sync(); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, q.w.Close())
		q.w = nil
		if q.active().size == segHeaderSize && len(q.segs) > 0 {
			// Leave no empty segment behind.
			q.removeSegment(q.active().id)
		}
	}
	errs = append(errs, q.writeCursor(), unlockDir(q.lockF))
	return errors.Join(errs...)
}
