package state

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sub", "state.db")
	s, err := Open(p)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, p
}

const scopeA = "b/AWSLogs/111111111111/vpcflowlogs/us-east-1/"
const scopeB = "b/AWSLogs/111111111111/vpcflowlogs/eu-west-1/"

func mark(scope, key, etag string) Mark {
	return Mark{ObjectID: ObjectID{Bucket: "b", Key: key, ETag: etag}, Scope: scope, At: time.Unix(1700000000, 0)}
}

func TestDoneAndCommit(t *testing.T) {
	s, p := open(t)
	ids := []ObjectID{{"b", "k1", `"e1"`}, {"b", "k1", `"e2"`}, {"b", "k2", `"e1"`}, {"c", "k1", `"e1"`}}
	done, err := s.Done(ids)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, false, false, false}, done)

	require.NoError(t, s.Commit(Commit{Marks: []Mark{mark(scopeA, "k1", `"e1"`), mark(scopeA, "k2", `"e1"`)}, Meta: map[string][]byte{"ids": []byte("42")}}))
	done, err = s.Done(ids)
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false, true, false}, done, "a new ETag is a new object; the bucket is part of the identity")

	require.NoError(t, s.Close())
	s, err = Open(p)
	require.NoError(t, err)
	defer s.Close()
	done, err = s.Done(ids[:1])
	require.NoError(t, err)
	assert.True(t, done[0], "marks survive a reopen")
	v, err := s.Meta("ids")
	require.NoError(t, err)
	assert.Equal(t, "42", string(v))
	v, err = s.Meta("unset")
	require.NoError(t, err)
	assert.Nil(t, v)
}

func TestPassDonePrunes(t *testing.T) {
	s, _ := open(t)
	keys := []string{
		"AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/03/a.log.gz",
		"AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/04/a.log.gz",
		"AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/a.log.gz",
		"AWSLogs/111111111111/vpcflowlogs/us-east-1/stray.log.gz",
	}
	var marks []Mark
	for _, k := range keys {
		marks = append(marks, mark(scopeA, k, `"e"`))
	}
	other := mark(scopeB, "AWSLogs/111111111111/vpcflowlogs/eu-west-1/2024/03/01/a.log.gz", `"e"`)
	require.NoError(t, s.Commit(Commit{Marks: append(marks, other)}))

	_, ok, err := s.LastPass(scopeA)
	require.NoError(t, err)
	assert.False(t, ok)
	start := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	pruned, err := s.PassDone(scopeA, start, "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/04")
	require.NoError(t, err)
	assert.Equal(t, 1, pruned, "only the key before the listing start")
	last, ok, err := s.LastPass(scopeA)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, start, last)

	var ids []ObjectID
	for _, m := range append(marks, other) {
		ids = append(ids, m.ObjectID)
	}
	done, err := s.Done(ids)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, true, true, true}, done)
	n, err := s.Count()
	require.NoError(t, err)
	assert.Equal(t, 4, n)
}

func TestPruneScopes(t *testing.T) {
	s, _ := open(t)
	require.NoError(t, s.Commit(Commit{Marks: []Mark{mark(scopeA, "AWSLogs/x/1", `"e"`), mark(scopeB, "AWSLogs/y/1", `"e"`)}}))
	_, err := s.PassDone(scopeA, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "")
	require.NoError(t, err)
	_, err = s.PassDone(scopeB, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), "")
	require.NoError(t, err)
	scopes, marks, err := s.PruneScopes(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 1, scopes)
	assert.Equal(t, 1, marks)
	_, ok, err := s.LastPass(scopeA)
	require.NoError(t, err)
	assert.False(t, ok)
	done, err := s.Done([]ObjectID{{"b", "AWSLogs/x/1", `"e"`}, {"b", "AWSLogs/y/1", `"e"`}})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, done)
}

func TestSince(t *testing.T) {
	s, _ := open(t)
	_, ok, err := s.Since("vpcflow:b/")
	require.NoError(t, err)
	assert.False(t, ok)
	d1 := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.SetSince("vpcflow:b/", d1))
	require.NoError(t, s.SetSince("vpcflow:b/", d1.AddDate(0, 0, 3)))
	got, ok, err := s.Since("vpcflow:b/")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, d1, got, "set once")
}

func TestLocked(t *testing.T) {
	_, p := open(t)
	_, err := OpenWith(p, OpenOptions{LockWait: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "state file "+p+": state file is in use by another process: held by pid ")
	assert.Contains(t, err.Error(), "(this process)")
}
