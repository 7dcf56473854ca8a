package rules

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// holdSet is a Set of n count aggregates (rules "2", "3", ...), each
// counting every event of its group.
func holdSet(t *testing.T, n int) (*Set, []*aggState) {
	t.Helper()
	f := "rules:\n  - id: \"1\"\n    level: 0\n    condition: aws.action == \"REJECT\"\n    description: gate\n"
	for i := 0; i < n; i++ {
		f += fmt.Sprintf("  - id: \"%d\"\n    level: 10\n    if_sid: \"1\"\n    description: agg\n"+
			"    aggregate:\n      kind: count\n      threshold: 1000000\n      timeframe: 100\n      same_field: [aws.src]\n", i+2)
	}
	s, err := loadYAML(t, map[string]string{"a.yml": f}, nil)
	require.NoError(t, err)
	var sts []*aggState
	for i := 0; i < n; i++ {
		sts = append(sts, s.st.agg[s.Rule(fmt.Sprint(i+2)).Index()])
	}
	return s, sts
}

// holdAdd counts one event of group src in aggregate i through e, as
// Finish does.
func holdAdd(s *Set, sts []*aggState, e *Evaluator, i int, src string) {
	c := &e.c
	c.now, c.ev = 1000, &event.Event{Time: 1000}
	sts[i].addKey(c, s.Rule(fmt.Sprint(i+2)).agg, []byte(src), nil)
}

// TestHoldReleases: in a hold, an aggregate stays locked from its first
// event to Release, on every path of addKey, and is held once; outside a
// hold, addKey unlocks it again.
func TestHoldReleases(t *testing.T) {
	s, sts := holdSet(t, 2)
	e := s.NewEvaluator()
	e.Hold()
	for k := 0; k < 3; k++ {
		holdAdd(s, sts, e, 0, "10.0.0.1")
		holdAdd(s, sts, e, 0, fmt.Sprintf("10.0.0.%d", 10+k)) // a new group
		require.False(t, sts[0].mu.TryLock(), "event %d: the aggregate is not held", k)
	}
	require.True(t, sts[1].mu.TryLock(), "an aggregate the hold did not count in is locked")
	sts[1].mu.Unlock()
	assert.Len(t, e.c.held, 1)
	e.Release()
	require.True(t, sts[0].mu.TryLock(), "Release left the aggregate locked")
	sts[0].mu.Unlock()
	assert.Empty(t, e.c.held)
	assert.Equal(t, int64(3), counted(sts[0].groups["10.0.0.1"]), "three events of 10.0.0.1")

	holdAdd(s, sts, e, 0, "10.0.0.1")
	require.True(t, sts[0].mu.TryLock(), "outside a hold, addKey left the aggregate locked")
	sts[0].mu.Unlock()
}

// counted is the count of events in g's buckets.
func counted(g *aggGroup) int64 {
	var n int64
	for _, b := range g.buckets {
		if b.slot != math.MinInt64 {
			n += b.v
		}
	}
	return n
}

// TestHoldTwoEvaluators: two evaluators each hold one aggregate and then
// want the other's. Waiting while holding would deadlock them; each must
// release what it holds before it waits, and both finish.
func TestHoldTwoEvaluators(t *testing.T) {
	s, sts := holdSet(t, 2)
	e1, e2 := s.NewEvaluator(), s.NewEvaluator()
	e1.Hold()
	e2.Hold()
	holdAdd(s, sts, e1, 0, "a")
	holdAdd(s, sts, e2, 1, "b")
	done := make(chan int, 2)
	go func() { holdAdd(s, sts, e1, 1, "a"); e1.Release(); done <- 1 }()
	go func() { holdAdd(s, sts, e2, 0, "b"); e2.Release(); done <- 2 }()
	for range 2 {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("two evaluators holding aggregates wait for each other")
		}
	}
	for i, st := range sts {
		require.True(t, st.mu.TryLock(), "aggregate %d is still locked", i)
		st.mu.Unlock()
		assert.Len(t, st.groups, 2, "aggregate %d counts a and b", i)
	}
}

// TestHoldManyAggregates: a hold of more aggregates than holdMax still
// counts every event once, and Release leaves none locked; evaluators on
// several goroutines, holding in batches, count what one would.
func TestHoldManyAggregates(t *testing.T) {
	const n, workers, batches, per = holdMax + 3, 4, 50, 20
	s, sts := holdSet(t, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := s.NewEvaluator()
			for b := 0; b < batches; b++ {
				e.Hold()
				for k := 0; k < per; k++ {
					holdAdd(s, sts, e, (w+b+k*7)%n, "g")
				}
				e.Release()
			}
		}()
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		t.Fatal("evaluators holding aggregates wait for each other")
	}
	var total int64
	for i, st := range sts {
		require.True(t, st.mu.TryLock(), "aggregate %d is still locked", i)
		st.mu.Unlock()
		if g := st.groups["g"]; g != nil {
			total += counted(g)
		}
	}
	assert.Equal(t, int64(workers*batches*per), total, "every event counted once")
}
