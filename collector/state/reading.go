package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bReading holds the write-ahead records of objects being read:
// bucket\x00key\x00etag -> Reading (JSON).
var bReading = []byte("reading")

// Reading is the write-ahead record of an object being read. It is written
// before the object is read (so before any of its alerts can reach an
// output) and deleted in the transaction that marks the object done. A
// read cut short by a crash leaves it behind, and the next read of the
// object takes its processing time and id ranges from it: its alerts are
// then the same, byte for byte, as those the cut read may have handed to
// the indexer.
type Reading struct {
	// Started is when the first read of the object began: the processing
	// time of all its alerts (their timestamp, the epoch half of their ids,
	// the index day in the indexer).
	Started time.Time `json:"started"`
	// IDs are the first offsets of the ranges the object's alert ids are
	// numbered from (output.IDRangeSize offsets each), in order.
	IDs []int64 `json:"ids,omitempty"`
	// Tries counts the reads begun, this one included.
	Tries int `json:"tries"`
	// Ended counts the reads that ended without the daemon's death: read
	// to the end (whatever became of the object after), or let go without
	// a mark (a transport error, a shutdown). Tries - Ended reads were cut
	// by the daemon's death (or are under way).
	Ended int `json:"ended,omitempty"`
	// LastEnded is the number (from 1) of the last read counted in Ended,
	// so that a read is counted once: when it reached the end, and again
	// when the daemon lets it go without a mark.
	LastEnded int `json:"last_ended,omitempty"`
	// Scope is the mark scope the object is filed under (a listing's
	// account/region, or a queue's day), for `vpcalertd state`.
	Scope string `json:"scope,omitempty"`
}

// Deaths returns how many reads of the object were cut by the daemon's
// death, before the one now beginning (whose try is counted in Tries).
func (r Reading) Deaths() int { return max(r.Tries-1-r.Ended, 0) }

// End counts read number try (from 1) as ended without a death, once: it
// reports whether r changed (false for a read already counted, or one
// that is not in r).
func (r *Reading) End(try int) bool {
	if try <= r.LastEnded || try > r.Tries {
		return false
	}
	r.Ended = min(r.Ended+1, r.Tries)
	r.LastEnded = try
	return true
}

// Reading returns the record of an object being read; ok is false when
// there is none.
func (s *Store) Reading(id ObjectID) (r Reading, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bReading).Get(id.key())
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &r); err != nil {
			return damaged(s.path, fmt.Sprintf("reading record of s3://%s/%s: %v", id.Bucket, id.Key, err))
		}
		return nil
	})
	return r, ok, err
}

// PutReading writes an object's record durably. Calls from several
// goroutines at once share one transaction (and one fsync).
func (s *Store) PutReading(id ObjectID, r Reading) (err error) {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	defer s.recoverDamage(&err)
	return s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bReading).Put(id.key(), v)
	})
}

// EndReading counts read number try (from 1, Reading.Tries when it began)
// of the object as ended without a death: read to the end, or let go
// without a mark. A read is counted once, however often it is ended;
// objects without a record (marked meanwhile) are ignored. Calls from
// several goroutines at once share one transaction (and one fsync), with
// the write-ahead records being written.
func (s *Store) EndReading(id ObjectID, try int) (err error) {
	defer s.recoverDamage(&err)
	return s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bReading)
		v := b.Get(id.key())
		if v == nil {
			return nil
		}
		var r Reading
		if err := json.Unmarshal(v, &r); err != nil {
			return damaged(s.path, fmt.Sprintf("reading record of s3://%s/%s: %v", id.Bucket, id.Key, err))
		}
		if !r.End(try) {
			return nil
		}
		nv, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return b.Put(id.key(), nv)
	})
}

// Readings calls fn for every record, in key order.
func (s *Store) Readings(fn func(ObjectID, Reading) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bReading).ForEach(func(k, v []byte) error {
			id, ok := parseObjectKey(k)
			var r Reading
			if !ok || json.Unmarshal(v, &r) != nil {
				return damaged(s.path, fmt.Sprintf("reading record %q", k))
			}
			return fn(id, r)
		})
	})
}

// PruneReadings deletes the records of objects whose first read began
// before t: objects that were never done (gone from the bucket, or left
// behind by a listing that moved on). It returns how many.
func (s *Store) PruneReadings(before time.Time) (n int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bReading)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var r Reading
			if json.Unmarshal(v, &r) == nil && r.Started.Before(before) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}

func parseObjectKey(k []byte) (ObjectID, bool) {
	b, rest, ok1 := bytes.Cut(k, []byte{0})
	key, etag, ok2 := bytes.Cut(rest, []byte{0})
	return ObjectID{Bucket: string(b), Key: string(key), ETag: string(etag)}, ok1 && ok2
}
