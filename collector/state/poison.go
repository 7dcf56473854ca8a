package state

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Poison is the record of an object skipped because the daemon died while
// reading it too often. It is written with a failed done-mark (so that
// listings and queues skip the object) and kept until `vpcalertd state
// reset --poison` clears both.
type Poison struct {
	V          int       `json:"v"` // record version: 1
	Scope      string    `json:"scope"`
	Reason     string    `json:"reason"`
	Deaths     int       `json:"deaths"`
	At         time.Time `json:"at"`
	Quarantine string    `json:"quarantine,omitempty"` // where it was recorded: a quarantine file, or a queue's
}

const poisonVersion = 1

// ObjectPoison is a Poison record with its object.
type ObjectPoison struct {
	ObjectID
	Poison
}

// Poisoned returns the objects skipped as poison, in object order.
func (s *Store) Poisoned() ([]ObjectPoison, error) {
	var out []ObjectPoison
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bPoison).ForEach(func(k, v []byte) error {
			id, ok := parseObjectKey(k)
			var p Poison
			if !ok || json.Unmarshal(v, &p) != nil {
				return damaged(s.path, fmt.Sprintf("poison record %q", k))
			}
			out = append(out, ObjectPoison{ObjectID: id, Poison: p})
			return nil
		})
	})
	return out, err
}

// ClearPoison forgets the poison records sel accepts, with their failed
// marks and reading records, so that the objects are read again; it
// returns how many.
func (s *Store) ClearPoison(sel func(ObjectPoison) bool) (int, error) {
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bPoison)
		var clear []ObjectPoison
		if err := b.ForEach(func(k, v []byte) error {
			id, _ := parseObjectKey(k)
			var p Poison
			_ = json.Unmarshal(v, &p)
			if op := (ObjectPoison{ObjectID: id, Poison: p}); sel(op) {
				clear = append(clear, op)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, op := range clear {
			for _, del := range []struct {
				bucket []byte
				key    []byte
			}{{bPoison, op.key()}, {bDone, op.key()}, {bReading, op.key()}, {bByScope, scopeKey(op.Scope, op.Key, op.ETag)}} {
				if err := tx.Bucket(del.bucket).Delete(del.key); err != nil {
					return err
				}
			}
		}
		n = len(clear)
		return nil
	})
	return n, err
}
