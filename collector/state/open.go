package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vpcalertd/vpcalertd/internal/filelock"
)

// Schema is the layout version of the state file this package writes.
// Files without a version are schema 1 (before the version was kept) and
// are upgraded in place; a file of a later schema is refused.
const Schema = 2

const metaSchema = "state.schema"

// defaultLockWait is how long Open waits for another process's lock.
const defaultLockWait = 2 * time.Second

// Categories of the errors Open returns, tested with errors.Is. The error
// itself is a *FileError naming the file, the problem and what to do.
var (
	// ErrLocked says another process holds the state file.
	ErrLocked = errors.New("state file is in use by another process")
	// ErrDamaged says the file is a state file that cannot be read safely:
	// empty, truncated, or with a damaged page.
	ErrDamaged = errors.New("state file is damaged")
	// ErrNotState says the file is not a vpcalertd state file.
	ErrNotState = errors.New("not a vpcalertd state file")
	// ErrNewerSchema says the file was written by a newer vpcalertd.
	ErrNewerSchema = errors.New("state file of a newer vpcalertd")
	// ErrMissing says there is no state file (OpenOptions.MustExist).
	ErrMissing = errors.New("no state file")
)

// FileError is a state file that cannot be used: Err is one of the
// categories above, Detail says what is wrong and Hint what to do.
type FileError struct {
	Path   string
	Err    error
	Detail string
	Hint   string
}

func (e *FileError) Error() string {
	s := "state file " + e.Path + ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *FileError) Unwrap() error { return e.Err }

// Hints of the refusals. Damage is never repaired by guessing: a state
// started afresh reads every object of the window again, and their alerts
// would be written a second time.
const (
	hintDamaged = "nothing was changed. Restore a backup of the file, or start a new state with " +
		"`vpcalertd state reset --config FILE` (it moves the damaged file aside; the objects of the window are " +
		"then read again and their alerts written again)"
	hintNotState = "nothing was changed. Check the `state:` setting, or move the file aside"
	hintNewer    = "nothing was changed. Run the vpcalertd version that wrote it, or start a new state with " +
		"`vpcalertd state reset --config FILE` (it moves the file aside)"
)

// OpenOptions change how OpenWith opens a state file.
type OpenOptions struct {
	// ReadOnly opens the file without writing to it (a shared lock; the
	// schema is not upgraded). The file must exist.
	ReadOnly bool
	// MustExist refuses to create a missing file (ErrMissing).
	MustExist bool
	// LockWait is how long to wait for another process's lock before
	// ErrLocked; default 2s.
	LockWait time.Duration
}

// Open opens or creates the state file at path (and its directory). A file
// that cannot be trusted is refused with a *FileError; Open never starts a
// damaged file afresh.
func Open(path string) (*Store, error) { return OpenWith(path, OpenOptions{}) }

// OpenWith opens the state file at path with opts.
func OpenWith(path string, opts OpenOptions) (*Store, error) {
	exists, err := preflight(path)
	if err != nil {
		return nil, err
	}
	if !exists && (opts.ReadOnly || opts.MustExist) {
		return nil, &FileError{Path: path, Err: ErrMissing, Detail: "it does not exist (the daemon has not run with this configuration yet)"}
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("state file %s: %w", path, err)
		}
	}
	if opts.LockWait <= 0 {
		opts.LockWait = defaultLockWait
	}
	db, err := openBolt(path, opts.ReadOnly, opts.LockWait)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, path: path}
	if err := s.validate(exists, opts.ReadOnly); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Exists reports whether a state file is at path.
func Exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("state file %s: %w", path, err)
}

func openBolt(path string, readOnly bool, lockWait time.Duration) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, damaged(path, fmt.Sprintf("the database library failed to open it (%v)", r))
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait, ReadOnly: readOnly})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bolterrors.ErrTimeout):
		who := filelock.Holder(path)
		if who == "" {
			who = "another process"
		}
		return nil, &FileError{Path: path, Err: ErrLocked, Detail: "held by " + who,
			Hint: "one daemon (or state command) per state file: stop the other one, or give this one its own `state:` file"}
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum), errors.Is(err, bolterrors.ErrVersionMismatch),
		errors.Is(err, bolterrors.ErrInvalidMapping):
		return nil, damaged(path, err.Error())
	}
	return nil, fmt.Errorf("state file %s: %w", path, err)
}

func damaged(path, detail string) *FileError {
	return &FileError{Path: path, Err: ErrDamaged, Detail: detail, Hint: hintDamaged}
}

// bbolt's file header: two meta pages, each a 16-byte page header followed
// by magic, version, page size, flags, root bucket (page, sequence),
// freelist page, high-water page, transaction id and an FNV-64a checksum
// of the fields before it (go.etcd.io/bbolt internal/common/meta.go).
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	metaOffset  = 16
	metaSumLen  = 56
)

type boltMeta struct {
	pageSize uint32
	pgid     uint64
	txid     uint64
}

// readMeta parses one meta page; magicOK says whether it carries bbolt's
// magic number at all.
func readMeta(buf []byte) (m boltMeta, magicOK bool, err error) {
	if len(buf) < metaOffset+metaSumLen+8 {
		return m, false, errors.New("short")
	}
	b := buf[metaOffset:]
	le := binary.LittleEndian
	if le.Uint32(b) != boltMagic {
		return m, false, errors.New("no magic")
	}
	if v := le.Uint32(b[4:]); v != boltVersion {
		return m, true, fmt.Errorf("bbolt format version %d (this build reads %d)", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:metaSumLen])
	if h.Sum64() != le.Uint64(b[metaSumLen:]) {
		return m, true, errors.New("checksum mismatch")
	}
	m = boltMeta{pageSize: le.Uint32(b[8:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<24 || m.pageSize&(m.pageSize-1) != 0 {
		return m, true, fmt.Errorf("page size %d", m.pageSize)
	}
	return m, true, nil
}

// preflight checks what bbolt would trust blindly: an empty file (bbolt
// would initialize it as new), a file that is no bbolt file, damaged
// headers, and a file shorter than its header says (bbolt would map it and
// fault on the missing pages). exists is false when there is no file.
func preflight(path string) (exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("state file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return true, fmt.Errorf("state file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return true, &FileError{Path: path, Err: ErrNotState, Detail: "it is not a regular file", Hint: hintNotState}
	}
	size := st.Size()
	if size == 0 {
		return true, damaged(path, "it is empty (0 bytes); a state file is never empty once created")
	}
	head := make([]byte, 4096)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return true, fmt.Errorf("state file %s: %w", path, err)
	}
	head = head[:n]
	m0, magic0, err0 := readMeta(head)
	// The second meta page is one page further; its size comes from the
	// first, else it is tried at the usual sizes, as bbolt does.
	var m1 boltMeta
	var magic1 bool
	err1 := errors.New("not found")
	sizes := []int64{4096, 8192, 16384, 65536, 1024, 2048}
	if err0 == nil {
		sizes = []int64{int64(m0.pageSize)}
	}
	for _, ps := range sizes {
		buf := make([]byte, 128)
		k, _ := f.ReadAt(buf, ps)
		var mg bool
		m, mg, e := readMeta(buf[:k])
		if mg {
			m1, magic1, err1 = m, true, e
			break
		}
	}
	switch {
	case !magic0 && !magic1 && isMetaPage(head, 0):
		return true, damaged(path, "both header pages are unreadable (their magic numbers are gone)")
	case !magic0 && !magic1:
		return true, &FileError{Path: path, Err: ErrNotState, Detail: "it is not a bbolt database (it starts with " + quoteStart(head) + ")", Hint: hintNotState}
	case err0 != nil && err1 != nil:
		return true, damaged(path, fmt.Sprintf("both header pages are unreadable (%v; %v)", err0, err1))
	}
	m := m0
	if err0 != nil || (err1 == nil && m1.txid > m0.txid) {
		m = m1
	}
	if want := int64(m.pgid) * int64(m.pageSize); size < want || size < 2*int64(m.pageSize) {
		return true, damaged(path, fmt.Sprintf("it is truncated: %d bytes, but its header needs at least %d", size, max(want, 2*int64(m.pageSize))))
	}
	return true, nil
}

// isMetaPage says whether buf starts with the page header of bbolt's meta
// page id (flags 0x04), whatever the meta fields after it say.
func isMetaPage(buf []byte, id uint64) bool {
	return len(buf) >= 16 && binary.LittleEndian.Uint64(buf) == id && binary.LittleEndian.Uint16(buf[8:]) == 0x04
}

func quoteStart(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return strconv.QuoteToASCII(string(b))
}

// validate runs bbolt's own consistency check over every page, then checks
// that the file holds vpcalertd's buckets and a schema this build reads;
// a file it created (or an older schema) gets the buckets and the version.
func (s *Store) validate(existed, readOnly bool) error {
	if existed {
		if err := s.check(); err != nil {
			return err
		}
		if err := s.checkSchema(); err != nil {
			return err
		}
	}
	if readOnly {
		return nil
	}
	return s.update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put([]byte(metaSchema), []byte(strconv.Itoa(Schema)))
	})
}

// maxCheckErrors bounds the problems bbolt's check reports.
const maxCheckErrors = 5

func (s *Store) check() error {
	var problems []string
	err := s.view(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if len(problems) < maxCheckErrors {
				// bbolt's check reports an assertion it recovered from as
				// "panic: …": it is a damaged page, not a crash.
				problems = append(problems, strings.TrimPrefix(e.Error(), "panic: "))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return damaged(s.path, "damaged pages ("+strings.Join(problems, "; ")+")")
	}
	return nil
}

func (s *Store) checkSchema() error {
	var ours, others []string
	var schema []byte
	err := s.view(func(tx *bolt.Tx) error {
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if isOurs(name) {
				ours = append(ours, string(name))
			} else {
				others = append(others, string(name))
			}
			return nil
		})
		if b := tx.Bucket(bMeta); b != nil {
			schema = append(schema, b.Get([]byte(metaSchema))...)
		}
		return err
	})
	if err != nil {
		return err
	}
	if len(ours) == 0 && len(others) > 0 {
		if len(others) > 5 {
			others = append(others[:5], "…")
		}
		return &FileError{Path: s.path, Err: ErrNotState,
			Detail: "it is a bbolt database of another program (buckets " + strings.Join(others, ", ") + ")", Hint: hintNotState}
	}
	if schema == nil {
		return nil
	}
	v, err := strconv.Atoi(string(schema))
	if err != nil {
		return damaged(s.path, fmt.Sprintf("its schema version %q is not a number", schema))
	}
	if v > Schema {
		return &FileError{Path: s.path, Err: ErrNewerSchema,
			Detail: fmt.Sprintf("schema %d, this vpcalertd reads up to %d", v, Schema), Hint: hintNewer}
	}
	return nil
}

func isOurs(name []byte) bool {
	for _, b := range allBuckets {
		if string(b) == string(name) {
			return true
		}
	}
	return false
}
