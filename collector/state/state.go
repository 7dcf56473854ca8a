package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the bbolt file.
var (
	bDone      = []byte("done")      // bucket\x00key\x00etag -> mark value
	bByScope   = []byte("byscope")   // scope\x00key\x00etag -> bucket
	bScopes    = []byte("scopes")    // scope id -> last complete pass (unix nanoseconds)
	bScopeInfo = []byte("scopeinfo") // scope id -> ScopeInfo (JSON)
	bSince     = []byte("since")     // bucket configuration id -> first day read (unix seconds)
	bMeta      = []byte("meta")      // name -> value
	bPoison    = []byte("poison")    // bucket\x00key\x00etag -> Poison (JSON)
)

var allBuckets = [][]byte{bDone, bByScope, bScopes, bScopeInfo, bSince, bMeta, bReading, bPoison}

// Store is an open state file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// view and update run a transaction. A page damaged after Open (or missed
// by its check) makes bbolt panic; that becomes an ErrDamaged error naming
// the file instead of taking the daemon down.
func (s *Store) view(fn func(tx *bolt.Tx) error) (err error) {
	defer s.recoverDamage(&err)
	return s.db.View(fn)
}

func (s *Store) update(fn func(tx *bolt.Tx) error) (err error) {
	defer s.recoverDamage(&err)
	return s.db.Update(fn)
}

func (s *Store) recoverDamage(err *error) {
	if r := recover(); r != nil {
		*err = damaged(s.path, fmt.Sprintf("reading it failed (%v)", r))
	}
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// ObjectID names one version of an object.
type ObjectID struct {
	Bucket, Key, ETag string
}

func (o ObjectID) key() []byte {
	b := make([]byte, 0, len(o.Bucket)+len(o.Key)+len(o.ETag)+2)
	b = append(b, o.Bucket...)
	b = append(b, 0)
	b = append(b, o.Key...)
	b = append(b, 0)
	return append(b, o.ETag...)
}

// Mark says that an object was read and its alerts are durable.
type Mark struct {
	ObjectID
	// Scope is the listing the object was found in (collector/s3 Scope.ID);
	// it decides when the mark is pruned.
	Scope string
	// Failed is set when the object was bad and skipped (skip_on_error):
	// it is not read again unless it is rewritten (a new ETag).
	Failed bool
	// At is when the object was done.
	At time.Time
	// Poison, when set, records the object as skipped because the daemon
	// died while reading it too often (Failed is then set too).
	Poison *Poison
}

// Commit is what one transaction writes.
type Commit struct {
	Marks []Mark
	// Meta sets metadata values.
	Meta map[string][]byte
}

// Done reports for each id whether it is marked done, in one read
// transaction.
func (s *Store) Done(ids []ObjectID) ([]bool, error) {
	out := make([]bool, len(ids))
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDone)
		for i, id := range ids {
			out[i] = b.Get(id.key()) != nil
		}
		return nil
	})
	return out, err
}

// Commit writes c in one fsync'd transaction.
func (s *Store) Commit(c Commit) error {
	return s.update(func(tx *bolt.Tx) error {
		done, by, reading := tx.Bucket(bDone), tx.Bucket(bByScope), tx.Bucket(bReading)
		for _, m := range c.Marks {
			if err := reading.Delete(m.key()); err != nil {
				return err
			}
			v := make([]byte, 9)
			binary.BigEndian.PutUint64(v, uint64(m.At.Unix()))
			if m.Failed {
				v[8] = 1
			}
			if err := done.Put(m.key(), v); err != nil {
				return err
			}
			if err := by.Put(scopeKey(m.Scope, m.Key, m.ETag), []byte(m.Bucket)); err != nil {
				return err
			}
			if m.Poison != nil {
				p := *m.Poison
				p.V, p.Scope = poisonVersion, m.Scope
				v, err := json.Marshal(p)
				if err != nil {
					return err
				}
				if err := tx.Bucket(bPoison).Put(m.key(), v); err != nil {
					return err
				}
			}
		}
		meta := tx.Bucket(bMeta)
		for k, v := range c.Meta {
			if err := meta.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func scopeKey(scope, key, etag string) []byte {
	b := make([]byte, 0, len(scope)+len(key)+len(etag)+2)
	b = append(b, scope...)
	b = append(b, 0)
	b = append(b, key...)
	b = append(b, 0)
	return append(b, etag...)
}

// Meta returns a metadata value, nil when unset.
func (s *Store) Meta(name string) ([]byte, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bMeta).Get([]byte(name)))
		return nil
	})
	return v, err
}

// LastPass returns when the last complete pass over scope started; ok is
// false when there was none.
func (s *Store) LastPass(scope string) (t time.Time, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bScopes).Get([]byte(scope))
		if len(v) == 8 {
			t, ok = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), true
		}
		return nil
	})
	return t, ok, err
}

// Since returns the first day read for a bucket configuration; ok is false
// before its first pass.
func (s *Store) Since(bucket string) (t time.Time, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bSince).Get([]byte(bucket))
		if len(v) == 8 {
			t, ok = time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC(), true
		}
		return nil
	})
	return t, ok, err
}

// SetSince records the first day read for a bucket configuration, once.
func (s *Store) SetSince(bucket string, day time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSince)
		if b.Get([]byte(bucket)) != nil {
			return nil
		}
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(day.Unix()))
		return b.Put([]byte(bucket), v)
	})
}

// PassDone records that a pass over scope that started at start listed
// everything from startAfter on and every object found is done. Marks of
// the scope whose keys sort at or before startAfter can never be listed
// again (the next pass starts no earlier) and are pruned; it returns how
// many.
func (s *Store) PassDone(scope string, start time.Time, startAfter string) (pruned int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		n, err := passDone(tx, scope, start, startAfter)
		pruned = n
		return err
	})
	return pruned, err
}

func passDone(tx *bolt.Tx, scope string, start time.Time, startAfter string) (int, error) {
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, uint64(start.UnixNano()))
	if err := tx.Bucket(bScopes).Put([]byte(scope), v); err != nil {
		return 0, err
	}
	limit := scopeKey(scope, startAfter, "\xff")
	return deleteMarks(tx, scope, func(k []byte) bool { return bytes.Compare(k, limit) <= 0 })
}

// deleteMarks deletes the scope's marks in key order while del(indexKey)
// says so, stopping at the first it refuses.
func deleteMarks(tx *bolt.Tx, scope string, del func(k []byte) bool) (int, error) {
	done, by := tx.Bucket(bDone), tx.Bucket(bByScope)
	prefix := append([]byte(scope), 0)
	c := by.Cursor()
	var dels [][]byte
	var doneKeys [][]byte
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && del(k); k, v = c.Next() {
		dels = append(dels, bytes.Clone(k))
		rest := k[len(prefix):]
		doneKeys = append(doneKeys, append(append([]byte(string(v)), 0), rest...))
	}
	for i := range dels {
		if err := by.Delete(dels[i]); err != nil {
			return 0, err
		}
		if err := done.Delete(doneKeys[i]); err != nil {
			return 0, err
		}
	}
	return len(dels), nil
}

// PruneScopes forgets scopes whose last complete pass is older than
// before, with their marks: accounts, regions or buckets no longer read.
func (s *Store) PruneScopes(before time.Time) (scopes, marks int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bScopes)
		var old [][]byte
		err := sb.ForEach(func(k, v []byte) error {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) < before.UnixNano() {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			n, err := deleteMarks(tx, string(k), func([]byte) bool { return true })
			if err != nil {
				return err
			}
			marks += n
			if err := sb.Delete(k); err != nil {
				return err
			}
			if err := tx.Bucket(bScopeInfo).Delete(k); err != nil {
				return err
			}
		}
		scopes = len(old)
		return nil
	})
	return scopes, marks, err
}

// Count returns the number of done-marks.
func (s *Store) Count() (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bDone).Stats().KeyN
		return nil
	})
	return n, err
}
