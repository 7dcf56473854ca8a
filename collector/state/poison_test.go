package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeathsAndPoison: reads let go without a mark are not deaths; a
// poison mark is listed, skipped by listings, and cleared with its mark.
func TestDeathsAndPoison(t *testing.T) {
	s, _ := open(t)
	at := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	id := ObjectID{"b", scopeA[2:] + "2024/03/05/poison.log.gz", `"e"`}
	begin := func() Reading {
		r, _, err := s.Reading(id)
		require.NoError(t, err)
		r.Tries++
		r.Scope = scopeA
		require.NoError(t, s.PutReading(id, r))
		return r
	}
	r := begin()
	assert.Equal(t, 0, r.Deaths())
	require.NoError(t, s.EndReading(id, r.Tries)) // a retry
	assert.Equal(t, 0, begin().Deaths())
	r = begin()
	assert.Equal(t, 1, r.Deaths(), "the read before was cut")
	// Read to the end, then let go without a mark: one read, counted once.
	require.NoError(t, s.EndReading(id, r.Tries))
	require.NoError(t, s.EndReading(id, r.Tries))
	require.NoError(t, s.EndReading(id, r.Tries+1), "a read not begun is not counted")
	r = begin()
	assert.Equal(t, 1, r.Deaths(), "the read before reached the end: no death")
	// Read to the end and the daemon died before the mark: no death either.
	require.NoError(t, s.EndReading(id, r.Tries))
	ended := r.Tries
	r = begin()
	assert.Equal(t, 1, r.Deaths())
	assert.Equal(t, 2, begin().Deaths(), "the read before was cut")
	require.NoError(t, s.EndReading(id, ended), "a read counted before is not counted again")
	assert.Equal(t, 3, begin().Deaths())
	require.NoError(t, s.EndReading(ObjectID{"b", "no-record", `"e"`}, 1))

	require.NoError(t, s.Commit(Commit{Marks: []Mark{{ObjectID: id, Scope: scopeA, At: at, Failed: true,
		Poison: &Poison{Reason: "the daemon stopped while reading it 3 times", Deaths: 3, At: at, Quarantine: "q.jsonl"}}}}))
	ps, err := s.Poisoned()
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, id, ps[0].ObjectID)
	assert.Equal(t, scopeA, ps[0].Scope)
	assert.Equal(t, "q.jsonl", ps[0].Quarantine)
	done, err := s.Done([]ObjectID{id})
	require.NoError(t, err)
	assert.True(t, done[0], "listings skip it")
	_, ok, err := s.Reading(id)
	require.NoError(t, err)
	assert.False(t, ok, "the mark ends the reading record")

	n, err := s.ClearPoison(func(ObjectPoison) bool { return true })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	done, err = s.Done([]ObjectID{id})
	require.NoError(t, err)
	assert.False(t, done[0], "read again")
	ps, err = s.Poisoned()
	require.NoError(t, err)
	assert.Empty(t, ps)

	// A reset of the scope drops its reading and poison records.
	begin()
	require.NoError(t, s.Commit(Commit{Marks: []Mark{{ObjectID: ObjectID{"b", "x", `"e"`}, Scope: scopeA, At: at, Failed: true,
		Poison: &Poison{Reason: "r", At: at}}}}))
	_, _, err = s.ResetScopes(func(sc string) bool { return sc == scopeA })
	require.NoError(t, err)
	_, ok, err = s.Reading(id)
	require.NoError(t, err)
	assert.False(t, ok)
	ps, err = s.Poisoned()
	require.NoError(t, err)
	assert.Empty(t, ps)
}
