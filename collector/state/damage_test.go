package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// realState writes a state file the way the daemon does (thousands of
// marks over several scopes, passes, metadata) and returns its bytes and
// the ids marked.
func realState(t *testing.T) ([]byte, []ObjectID) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(p)
	require.NoError(t, err)
	var ids []ObjectID
	at := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	for batch := 0; batch < 40; batch++ {
		var c Commit
		scope := []string{scopeA, scopeB}[batch%2]
		for i := 0; i < 64; i++ {
			m := mark(scope, fmt.Sprintf("%s2024/03/%02d/111111111111_vpcflowlogs_fl-%04d_%04d.log.gz", scope[2:], 1+batch%28, batch, i), `"0123456789abcdef0123456789abcdef"`)
			c.Marks = append(c.Marks, m)
			ids = append(ids, m.ObjectID)
		}
		c.Meta = map[string][]byte{"output.ids.next": []byte(fmt.Sprint(batch * 1000))}
		require.NoError(t, s.Commit(c))
		_, err := s.PassDone(scope, at.Add(time.Duration(batch)*time.Minute), scope[2:]+"2024/03/01")
		require.NoError(t, err)
	}
	require.NoError(t, s.SetSince("vpcflow:b/", at))
	require.NoError(t, s.Close())
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b, ids
}

// useAll runs every read and a write on s; a damaged page must come back
// as ErrDamaged, never as a panic.
func useAll(s *Store, ids []ObjectID) error {
	if _, err := s.Done(ids); err != nil {
		return err
	}
	if _, err := s.Count(); err != nil {
		return err
	}
	if _, _, err := s.LastPass(scopeA); err != nil {
		return err
	}
	if _, err := s.Meta("output.ids.next"); err != nil {
		return err
	}
	if err := s.Commit(Commit{Marks: []Mark{mark(scopeA, "AWSLogs/new", `"e"`)}}); err != nil {
		return err
	}
	if _, err := s.PassDone(scopeB, time.Date(2024, 3, 6, 0, 0, 0, 0, time.UTC), scopeB[2:]+"2024/03/20"); err != nil {
		return err
	}
	_, _, err := s.PruneScopes(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	return err
}

func writeFile(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "state.db")
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestDamagedStateRefused corrupts a real state file in the ways a disk, a
// crash or an operator does, and checks that each is refused with an error
// naming the file, what is wrong and what to do, and that the file is left
// as it was.
func TestDamagedStateRefused(t *testing.T) {
	good, _ := realState(t)
	pageSize := 4096
	other := func() []byte {
		p := filepath.Join(t.TempDir(), "other.db")
		db, err := bolt.Open(p, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("sessions"))
			if err != nil {
				return err
			}
			return b.Put([]byte("k"), []byte("v"))
		}))
		require.NoError(t, db.Close())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}()
	newer := func() []byte {
		p := writeFile(t, good)
		s, err := Open(p)
		require.NoError(t, err)
		require.NoError(t, s.Commit(Commit{Meta: map[string][]byte{metaSchema: []byte("3")}}))
		require.NoError(t, s.Close())
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		return b
	}()
	bothMetas := bytes.Clone(good)
	bothSums := bytes.Clone(good)
	for _, off := range []int{0, pageSize} {
		copy(bothMetas[off+16:off+80], bytes.Repeat([]byte{0x5a}, 64))
		bothSums[off+16+metaSumLen] ^= 0x01
	}
	cases := []struct {
		name string
		file []byte
		cat  error
		msg  string
	}{
		{"zero-length", nil, ErrDamaged, "it is empty (0 bytes)"},
		{"truncated/half", good[:len(good)/2], ErrDamaged, "it is truncated"},
		{"truncated/three-pages", good[:3*pageSize], ErrDamaged, "it is truncated"},
		{"truncated/mid-header", good[:100], ErrDamaged, "truncated"},
		{"headers/overwritten", bothMetas, ErrDamaged, "both header pages are unreadable (their magic numbers are gone)"},
		{"headers/checksums", bothSums, ErrDamaged, "both header pages are unreadable (checksum mismatch; checksum mismatch)"},
		{"not-state/text", []byte("interval: 10m\nbuckets: []\n"), ErrNotState, "not a bbolt database"},
		{"not-state/alerts", []byte(`{"timestamp":"2024-03-05T10:20:31.102+0000","rule":{"level":3}}` + "\n"), ErrNotState, "not a bbolt database"},
		{"not-state/other-bbolt", other, ErrNotState, "another program (buckets sessions)"},
		{"newer-schema", newer, ErrNewerSchema, "schema 3, this vpcalertd reads up to 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, c.file)
			s, err := Open(p)
			if s != nil {
				s.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, c.cat)
			var fe *FileError
			require.True(t, errors.As(err, &fe))
			assert.Contains(t, err.Error(), "state file "+p+": ")
			assert.Contains(t, err.Error(), c.msg)
			assert.Contains(t, err.Error(), "nothing was changed")
			after, rerr := os.ReadFile(p)
			require.NoError(t, rerr)
			assert.True(t, bytes.Equal(c.file, after), "a refused file is left as it was")
		})
	}
}

// TestDamagedPagesNeverPanic overwrites pages of a real state file in turn
// with garbage (every page; one in eight with -short). Each damaged file is either refused at Open
// (ErrDamaged), or (when the page is free, or the damage is in values bbolt
// does not check) opens and serves every operation, failing only with
// ErrDamaged — never with a panic.
func TestDamagedPagesNeverPanic(t *testing.T) {
	good, ids := realState(t)
	pageSize := 4096
	pages := len(good) / pageSize
	garbage := []func(i int) []byte{
		func(i int) []byte { return bytes.Repeat([]byte{0xff}, pageSize) },
		func(i int) []byte {
			b := make([]byte, pageSize)
			for j := range b {
				b[j] = byte(j*31 + i*17)
			}
			return b
		},
		func(i int) []byte { // a page header that points far beyond the file
			b := bytes.Clone(good[i*pageSize : (i+1)*pageSize])
			copy(b[8:16], []byte{0x02, 0x00, 0xff, 0x7f, 0xff, 0xff, 0x00, 0x00})
			return b
		},
	}
	refused, served, used := 0, 0, 0
	step := 2
	if testing.Short() {
		step = 8
	}
	for i := 2; i < pages; i += step {
		if bytes.Equal(good[i*pageSize:(i+1)*pageSize], make([]byte, pageSize)) {
			continue // never written: beyond the high-water mark
		}
		for g, fill := range garbage {
			name := fmt.Sprintf("page-%d/garbage-%d", i, g)
			b := bytes.Clone(good)
			copy(b[i*pageSize:], fill(i))
			p := writeFile(t, b)
			s, err := Open(p)
			if err != nil {
				require.ErrorIs(t, err, ErrDamaged, name)
				assert.Contains(t, err.Error(), "state file "+p, name)
				refused++
				continue
			}
			used++
			if err := useAll(s, ids); err != nil {
				require.ErrorIs(t, err, ErrDamaged, name)
				refused++
			} else {
				served++
			}
			s.Close()
		}
	}
	t.Logf("%d damaged files: %d refused with ErrDamaged, %d served every operation (free pages or unchecked values), %d opened", refused+served, refused, served, used)
	assert.Greater(t, refused, 0)
}
