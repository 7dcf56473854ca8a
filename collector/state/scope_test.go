package state

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListingDoneKeepsFloorAndPruned(t *testing.T) {
	s, _ := open(t)
	prefix := scopeA[2:]
	day := func(d int) string { return prefix + "2024/03/0" + string(rune('0'+d)) }
	_, ok, err := s.Scope(scopeA)
	require.NoError(t, err)
	assert.False(t, ok)

	require.NoError(t, s.Commit(Commit{Marks: []Mark{mark(scopeA, day(5)+"/a", `"e"`), mark(scopeA, day(6)+"/a", `"e"`)}}))
	start := time.Date(2024, 3, 6, 12, 0, 0, 0, time.UTC)
	_, err = s.ListingDone(scopeA, PassSummary{Start: start, StartAfter: day(5), Listed: 2, Read: 2})
	require.NoError(t, err)
	n, err := s.ListingDone(scopeA, PassSummary{Start: start.Add(24 * time.Hour), StartAfter: day(6), Listed: 1, AlreadyRead: 1})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the mark of 03-05 is pruned")
	info, ok, err := s.Scope(scopeA)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, day(5), info.Floor, "the earliest listing start")
	assert.Equal(t, day(6), info.Pruned, "the latest pruning limit")
	assert.Equal(t, int64(1), info.Last.AlreadyRead)
	last, ok, err := s.LastPass(scopeA)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, start.Add(24*time.Hour), last)

	// An earlier listing (an earlier only_logs_after) lowers the floor;
	// the pruned limit never goes back.
	_, err = s.ListingDone(scopeA, PassSummary{Start: start.Add(48 * time.Hour), StartAfter: day(1)})
	require.NoError(t, err)
	info, _, err = s.Scope(scopeA)
	require.NoError(t, err)
	assert.Equal(t, day(1), info.Floor)
	assert.Equal(t, day(6), info.Pruned)

	scopes, err := s.Scopes("b/")
	require.NoError(t, err)
	require.Len(t, scopes, 1)
	assert.Equal(t, scopeA, scopes[0].ID)
	assert.Equal(t, 1, scopes[0].Marks)
}

func TestResetAndForget(t *testing.T) {
	s, _ := open(t)
	pa, pb := scopeA[2:], scopeB[2:]
	require.NoError(t, s.Commit(Commit{Marks: []Mark{
		mark(scopeA, pa+"2024/03/01/a", `"e"`), mark(scopeA, pa+"2024/03/05/a", `"e"`),
		mark(scopeB, pb+"2024/03/01/a", `"e"`), mark(scopeB, pb+"2024/03/05/a", `"e"`),
	}}))
	start := time.Date(2024, 3, 6, 0, 0, 0, 0, time.UTC)
	for _, sc := range []string{scopeA, scopeB} {
		_, err := s.ListingDone(sc, PassSummary{Start: start, StartAfter: sc[2:] + "2024/02/28"})
		require.NoError(t, err)
	}

	n, err := s.ForgetBefore(func(scope string) (string, bool) {
		return scope[2:] + "2024/03/03", scope == scopeB
	})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	info, _, err := s.Scope(scopeB)
	require.NoError(t, err)
	assert.Equal(t, pb+"2024/03/03", info.Floor, "objects before the date count as never read")
	done, err := s.Done([]ObjectID{{"b", pb + "2024/03/01/a", `"e"`}, {"b", pb + "2024/03/05/a", `"e"`}})
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true}, done)

	ns, nm, err := s.ResetScopes(func(id string) bool { return strings.HasPrefix(id, scopeA) })
	require.NoError(t, err)
	assert.Equal(t, 1, ns)
	assert.Equal(t, 2, nm)
	_, ok, err := s.LastPass(scopeA)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = s.Scope(scopeA)
	require.NoError(t, err)
	assert.False(t, ok)
	_, ok, err = s.LastPass(scopeB)
	require.NoError(t, err)
	assert.True(t, ok, "other scopes are kept")

	require.NoError(t, s.SetSince("vpcflow:b/", start))
	all, err := s.SinceAll()
	require.NoError(t, err)
	assert.Equal(t, map[string]time.Time{"vpcflow:b/": start}, all)
	require.NoError(t, s.ForgetSince("vpcflow:b/"))
	_, ok, err = s.Since("vpcflow:b/")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestSchemaRecorded(t *testing.T) {
	s, p := open(t)
	v, err := s.Meta(metaSchema)
	require.NoError(t, err)
	assert.Equal(t, "2", string(v))
	require.NoError(t, s.Close())
	ro, err := OpenWith(p, OpenOptions{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, ro.Close())
	_, err = OpenWith(p+".missing", OpenOptions{MustExist: true})
	require.ErrorIs(t, err, ErrMissing)
}
