package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ScopeInfo is what the state remembers of one listed scope (an account
// and region of a bucket) beyond its last complete pass.
//
// Every key after Floor up to Pruned was listed by a complete pass and its
// object done (or found bad), though its mark may be pruned: a listing that
// starts before Floor (an only_logs_after set earlier than the first day
// read) treats those keys as read. Keys at or before Floor were never
// listed.
type ScopeInfo struct {
	// Floor is the earliest StartAfter a complete pass listed the scope
	// from; "" before the first.
	Floor string `json:"floor,omitempty"`
	// Pruned is the greatest StartAfter at or before which marks were
	// pruned; "" when none were.
	Pruned string `json:"pruned,omitempty"`
	// Last is the last complete pass, nil before the first (or for a scope
	// last passed by a vpcalertd that did not record it).
	Last *PassSummary `json:"last,omitempty"`
}

// PassSummary is what one complete pass over a scope did.
type PassSummary struct {
	Start       time.Time `json:"start"`
	StartAfter  string    `json:"start_after"`
	Listed      int64     `json:"listed"`       // objects listed from StartAfter on
	Read        int64     `json:"read"`         // objects read (done or bad) in the pass
	AlreadyRead int64     `json:"already_read"` // objects listed that were done before
	Older       int64     `json:"older"`        // objects before the window, when counted (-1: not counted)
}

// ListingDone records a complete pass over scope: every object listed from
// p.StartAfter on is done. Like PassDone it records the pass's start and
// prunes the scope's marks at or before p.StartAfter (no later listing
// starts earlier, unless an earlier only_logs_after is configured, which
// Floor and Pruned then answer); it also keeps Floor, Pruned and the
// summary in the scope's ScopeInfo. It returns how many marks were pruned.
func (s *Store) ListingDone(scope string, p PassSummary) (pruned int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		n, err := passDone(tx, scope, p.Start, p.StartAfter)
		if err != nil {
			return err
		}
		pruned = n
		info, _ := getInfo(tx, scope)
		if info.Floor == "" || p.StartAfter < info.Floor {
			info.Floor = p.StartAfter
		}
		if p.StartAfter > info.Pruned {
			info.Pruned = p.StartAfter
		}
		last := p
		info.Last = &last
		return putInfo(tx, scope, info)
	})
	return pruned, err
}

// Scope returns what the state remembers of scope; ok is false when it
// has no record of it (never passed completely, or forgotten).
func (s *Store) Scope(scope string) (info ScopeInfo, ok bool, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		var e error
		info, e = getInfo(tx, scope)
		ok = e == nil && (info.Floor != "" || info.Last != nil)
		return e
	})
	return info, ok, err
}

func getInfo(tx *bolt.Tx, scope string) (ScopeInfo, error) {
	var info ScopeInfo
	v := tx.Bucket(bScopeInfo).Get([]byte(scope))
	if v == nil {
		return info, nil
	}
	if err := json.Unmarshal(v, &info); err != nil {
		return ScopeInfo{}, fmt.Errorf("scope %s: %w", scope, err)
	}
	return info, nil
}

func putInfo(tx *bolt.Tx, scope string, info ScopeInfo) error {
	v, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return tx.Bucket(bScopeInfo).Put([]byte(scope), v)
}

// ScopeState is one scope as `vpcalertd state show` lists it.
type ScopeState struct {
	ID       string
	LastPass time.Time // zero: none recorded
	Info     ScopeInfo
	Marks    int // done-marks kept
}

// Scopes returns the scopes the state knows whose id starts with prefix,
// in id order, with their marks counted.
func (s *Store) Scopes(prefix string) ([]ScopeState, error) {
	var out []ScopeState
	err := s.view(func(tx *bolt.Tx) error {
		seen := map[string]int{}
		add := func(id string) *ScopeState {
			if i, ok := seen[id]; ok {
				return &out[i]
			}
			seen[id] = len(out)
			out = append(out, ScopeState{ID: id})
			return &out[len(out)-1]
		}
		p := []byte(prefix)
		c := tx.Bucket(bScopes).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(v) == 8 {
				add(string(k)).LastPass = time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
			}
		}
		c = tx.Bucket(bScopeInfo).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			var info ScopeInfo
			if err := json.Unmarshal(v, &info); err != nil {
				return fmt.Errorf("scope %s: %w", k, err)
			}
			add(string(k)).Info = info
		}
		c = tx.Bucket(bByScope).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			if i := bytes.IndexByte(k, 0); i >= 0 {
				add(string(k[:i])).Marks++
			}
		}
		return nil
	})
	sortScopes(out)
	return out, err
}

func sortScopes(s []ScopeState) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].ID < s[j-1].ID; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// ResetScopes forgets every scope whose id sel accepts: its marks, its
// last pass and its ScopeInfo, so that the next pass lists it from the
// bucket's first day and reads every object again (Wazuh's reparse). It
// returns how many scopes and marks it dropped.
func (s *Store) ResetScopes(sel func(scope string) bool) (scopes, marks int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		ids := map[string]bool{}
		for _, b := range [][]byte{bScopes, bScopeInfo} {
			if err := tx.Bucket(b).ForEach(func(k, _ []byte) error {
				if sel(string(k)) {
					ids[string(k)] = true
				}
				return nil
			}); err != nil {
				return err
			}
		}
		// Marks of scopes with no pass recorded (a first pass that did not
		// complete) are found through the index.
		c := tx.Bucket(bByScope).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i := bytes.IndexByte(k, 0); i >= 0 && sel(string(k[:i])) {
				ids[string(k[:i])] = true
			}
		}
		if err := deleteByScope(tx, bReading, sel); err != nil {
			return err
		}
		if err := deleteByScope(tx, bPoison, sel); err != nil {
			return err
		}
		for id := range ids {
			n, err := deleteMarks(tx, id, func([]byte) bool { return true })
			if err != nil {
				return err
			}
			marks += n
			if err := tx.Bucket(bScopes).Delete([]byte(id)); err != nil {
				return err
			}
			if err := tx.Bucket(bScopeInfo).Delete([]byte(id)); err != nil {
				return err
			}
		}
		scopes = len(ids)
		return nil
	})
	return scopes, marks, err
}

// deleteByScope deletes the reading or poison records (JSON with a
// "scope" member) of the scopes sel accepts.
func deleteByScope(tx *bolt.Tx, bucket []byte, sel func(scope string) bool) error {
	b := tx.Bucket(bucket)
	var del [][]byte
	if err := b.ForEach(func(k, v []byte) error {
		var rec struct {
			Scope string `json:"scope"`
		}
		if json.Unmarshal(v, &rec) == nil && sel(rec.Scope) {
			del = append(del, bytes.Clone(k))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range del {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// ForgetBefore drops, in every scope for which limit returns ok, the marks
// of keys that sort before the returned key, and raises the scope's Floor
// to it: those objects count as never read, so a listing that reaches them
// (an only_logs_after before that day) reads them again. It returns how
// many marks it dropped.
func (s *Store) ForgetBefore(limit func(scope string) (key string, ok bool)) (marks int, err error) {
	err = s.update(func(tx *bolt.Tx) error {
		ids := map[string]string{}
		c := tx.Bucket(bByScope).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if i := bytes.IndexByte(k, 0); i >= 0 {
				if l, ok := limit(string(k[:i])); ok {
					ids[string(k[:i])] = l
				}
			}
		}
		if err := tx.Bucket(bScopeInfo).ForEach(func(k, _ []byte) error {
			if l, ok := limit(string(k)); ok {
				ids[string(k)] = l
			}
			return nil
		}); err != nil {
			return err
		}
		for id, l := range ids {
			stop := scopeKey(id, l, "")
			n, err := deleteMarks(tx, id, func(k []byte) bool { return bytes.Compare(k, stop) < 0 })
			if err != nil {
				return err
			}
			marks += n
			info, err := getInfo(tx, id)
			if err != nil {
				return err
			}
			if info.Floor != "" && info.Floor < l {
				info.Floor = l
				if err := putInfo(tx, id, info); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return marks, err
}

// ForgetSince forgets the first day recorded for a bucket configuration
// (Store.SetSince): the next pass records a new one.
func (s *Store) ForgetSince(bucket string) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bSince).Delete([]byte(bucket))
	})
}

// SinceAll returns every bucket configuration's recorded first day.
func (s *Store) SinceAll() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bSince).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				out[string(k)] = time.Unix(int64(binary.BigEndian.Uint64(v)), 0).UTC()
			}
			return nil
		})
	})
	return out, err
}
