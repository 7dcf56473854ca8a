package state

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadingRecords: a record outlives a reopen (a crash), goes with the
// object's mark, and concurrent writers share transactions.
func TestReadingRecords(t *testing.T) {
	s, path := open(t)
	t0 := time.Date(2024, 3, 5, 23, 59, 58, 123e6, time.UTC)
	a := ObjectID{Bucket: "b", Key: "AWSLogs/1/vpcflowlogs/a.log.gz", ETag: `"e1"`}
	want := Reading{Started: t0, IDs: []int64{0, 1 << 24}, Tries: 1}
	require.NoError(t, s.PutReading(a, want))

	// Reopened, as after a crash.
	require.NoError(t, s.Close())
	s, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	got, ok, err := s.Reading(a)
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, want.Started.Equal(got.Started), "%v %v", want.Started, got.Started)
	assert.Equal(t, want.IDs, got.IDs)
	assert.Equal(t, 1, got.Tries)
	_, ok, err = s.Reading(ObjectID{Bucket: "b", Key: "other"})
	require.NoError(t, err)
	assert.False(t, ok)

	// Many at once.
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ObjectID{Bucket: "b", Key: fmt.Sprintf("k%02d", i)}
			assert.NoError(t, s.PutReading(id, Reading{Started: t0.Add(time.Duration(i) * time.Hour), Tries: 1}))
		}()
	}
	wg.Wait()
	n := 0
	require.NoError(t, s.Readings(func(id ObjectID, r Reading) error { n++; return nil }))
	assert.Equal(t, 41, n)

	// The mark takes the record away in its transaction.
	require.NoError(t, s.Commit(Commit{Marks: []Mark{{ObjectID: a, Scope: "s", At: t0}}}))
	_, ok, err = s.Reading(a)
	require.NoError(t, err)
	assert.False(t, ok)

	// Records of objects never done are pruned by their age.
	pruned, err := s.PruneReadings(t0.Add(10 * time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 10, pruned)
	n = 0
	require.NoError(t, s.Readings(func(id ObjectID, r Reading) error {
		n++
		assert.False(t, r.Started.Before(t0.Add(10*time.Hour)), id.Key)
		return nil
	}))
	assert.Equal(t, 30, n)
}
