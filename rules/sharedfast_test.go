package rules_test

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/rules"
	"github.com/vpcalertd/vpcalertd/rules/redisstore/redistest"
)

// aggPack has aggregate windows only — the batches of its events take the
// store's optimistic path (rules/sharedfast.go) — of every kind, with a
// subtree under a gate (203), processing time (204) and a cooldown of 0.
// max_groups stays above the number of groups: the order in which an
// eviction at max_groups drops groups of the same last time differs
// between memory (map order) and the store (index order), docs/sqs.md.
const aggPack = `
pack: q
rules:
  - id: "200"
    level: 0
    condition: integration == "aws" && aws.kind == "flow"
    description: flow
  - id: "201"
    level: 8
    if_sid: "200"
    aggregate: {kind: distinct, field: aws.port, threshold: 4, timeframe: 24, same_field: [aws.src], cooldown: 40, max_groups: 100}
    description: "scan by $(aws.src)"
  - id: "202"
    level: 7
    if_sid: "200"
    aggregate: {kind: count, threshold: 5, timeframe: 13, same_field: [aws.eni], cooldown: 0}
    description: "burst on $(aws.eni)"
  - id: "203"
    level: 9
    if_sid: "202"
    condition: aws.port == "22"
    description: "burst on $(aws.eni) ending on ssh"
  - id: "204"
    level: 6
    if_sid: "200"
    aggregate: {kind: sum, field: aws.bytes, threshold: 1000, timeframe: 60, same_field: [aws.eni, aws.src], time: processing, max_groups: 200}
    description: "volume $(aws.eni) $(aws.src)"
`

func loadAgg(t testing.TB) *rules.Set {
	t.Helper()
	s, err := rules.LoadYAMLForTest(t, map[string]string{"q.yml": aggPack}, nil)
	require.NoError(t, err)
	return s
}

// aggEvents returns n flows of a few sources, interfaces and ports. Time
// mostly moves forward by a few seconds, sometimes back (late events,
// older than a window) and sometimes far ahead (groups that start over,
// sweeps).
func aggEvents(t testing.TB, s *rules.Set, n int, seed int64) ([]*event.Event, []time.Time) {
	rng := rand.New(rand.NewSource(seed))
	t0 := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, n)
	nows := make([]time.Time, n)
	at, proc := int64(0), int64(0)
	for i := range evs {
		switch r := rng.Intn(100); {
		case r < 3:
			at += 50 + int64(rng.Intn(100))
		case r < 8:
			at -= int64(rng.Intn(40))
		default:
			at += int64(rng.Intn(3))
		}
		proc += int64(rng.Intn(3))
		js := fmt.Sprintf(`{"integration":"aws","aws":{"kind":"flow","src":"10.0.0.%d","eni":"eni-%d","port":"%d","bytes":"%d"}}`,
			rng.Intn(30), rng.Intn(3), []int{21, 22, 23, 80, 443, 8080, 53, 25}[rng.Intn(8)], rng.Intn(400))
		evs[i] = rules.EventForTest(t, s, js, t0.Unix()+at)
		nows[i] = t0.Add(time.Duration(proc) * time.Second)
	}
	return evs, nows
}

// TestOptimisticIsMemory: batches of aggregate windows only, decided in
// the process on the state read from the store and committed if it did
// not change (the optimistic path), give event for event what the same
// Set gives with its state in memory, whatever the batch sizes — sweeps,
// late events, windows that start over after a gap
// included (a batch is split where a sweep is due: that event goes to the
// interpreter).
func TestOptimisticIsMemory(t *testing.T) {
	srv := redistest.Start(t)
	store := openStore(t, srv)
	for _, maxBatch := range []int{1, 17, 300} {
		t.Run(fmt.Sprintf("batch=%d", maxBatch), func(t *testing.T) {
			before := store.Stats()
			mem, shared := loadAgg(t), loadAgg(t)
			evs, nows := aggEvents(t, mem, 4000, 3)
			sevs, _ := aggEvents(t, shared, 4000, 3)
			e := mem.NewEvaluator()
			var p rules.Prepared
			want := make([]string, len(evs))
			for i, ev := range evs {
				e.Prepare(ev, &p)
				want[i] = rules.MatchTextForTest(e.Finish(ev, &p, nows[i]))
			}
			run := newSharedRun(shared, store, fmt.Sprintf("o%d:", maxBatch))
			run.ids = "obj"
			idx := make([]int, len(sevs))
			for i := range idx {
				idx[i] = i
			}
			got := run.run(t, sevs, nows, idx, rand.New(rand.NewSource(int64(maxBatch))), maxBatch)
			for i := range want {
				require.Equal(t, want[i], got[i], "event %d", i)
			}
			for _, id := range []string{"201", "202", "203", "204"} {
				assert.Contains(t, strings.Join(want, ""), "["+id+" alert=true", "rule %s never alerted: the test does not exercise it", id)
			}
			st := store.Stats()
			assert.Greater(t, st.Optimistic-before.Optimistic, int64(0), "parts committed on the optimistic path")
			assert.Greater(t, st.Exact-before.Exact, int64(0), "events due a sweep, sent to the interpreter")
			t.Logf("optimistic parts %d, interpreter calls %d, refused %d, reads %d", st.Optimistic-before.Optimistic,
				st.Exact-before.Exact, st.Refused-before.Refused, st.Reads-before.Reads)
		})
	}
}

// TestOptimisticCrossingOnce: two instances count in the same groups at
// the same time, each its own events in batches as they come; every group
// gets exactly the threshold from the two together, half of it from each.
// Exactly one alert per group, across both: two commits of the same group
// cannot both succeed (the second finds the group changed, or created
// meanwhile, reads it again and counts on what the first wrote), and an
// event lost by a commit written over another's leaves the group below
// the threshold.
func TestOptimisticCrossingOnce(t *testing.T) {
	srv := redistest.Start(t)
	store := openStore(t, srv)
	const pack = `
pack: c
rules:
  - id: "300"
    level: 0
    condition: integration == "aws" && aws.kind == "flow"
    description: flow
  - id: "301"
    level: 9
    if_sid: "300"
    aggregate: {kind: count, threshold: 40, timeframe: 600, same_field: [aws.eni], cooldown: 3600}
    description: "burst on $(aws.eni)"
`
	const groups, perInstance = 20, 20
	before := store.Stats()
	// Several rounds, each on fresh keys, the instances starting together:
	// one round's commits collide on a group only now and then.
	for round := range 4 {
		var mu sync.Mutex
		alerts := map[string]int{}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for inst := range 2 {
			s, err := rules.LoadYAMLForTest(t, map[string]string{"c.yml": pack}, nil)
			require.NoError(t, err)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(10*round + inst)))
				run := newSharedRun(s, store, fmt.Sprintf("cross%d:", round))
				var evs []*event.Event
				var nows []time.Time
				now := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
				for g := range groups {
					for range perInstance {
						evs = append(evs, rules.EventForTest(t, s, fmt.Sprintf(`{"integration":"aws","aws":{"kind":"flow","eni":"eni-%d"}}`, g), now.Unix()))
						nows = append(nows, now)
					}
				}
				// Each instance goes through the groups in its own order.
				rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
				idx := make([]int, len(evs))
				for i := range idx {
					idx[i] = i
				}
				<-start
				out := run.run(t, evs, nows, idx, rng, 6)
				mu.Lock()
				defer mu.Unlock()
				for _, o := range out {
					if _, m, ok := strings.Cut(o, "[301 alert=true"); ok {
						_, desc, _ := strings.Cut(m, "desc=")
						desc, _, _ = strings.Cut(desc, " prev=")
						alerts[desc]++
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		require.Len(t, alerts, groups, "round %d: one alert per group: %v", round, alerts)
		for g, n := range alerts {
			require.Equal(t, 1, n, "round %d: group %s", round, g)
		}
	}
	st := store.Stats()
	t.Logf("optimistic parts %d, interpreter calls %d, commits refused (a group changed meanwhile) %d",
		st.Optimistic-before.Optimistic, st.Exact-before.Exact, st.Refused-before.Refused)
}

// TestOptimisticAllocations: a batch on the optimistic path allocates per
// batch, not per group or event, once its SharedBatch has seen a batch of
// the same size: the store's arguments go to the client as pointers, the
// groups read are decoded without boxing into groups kept from batch to
// batch, and CommitArgs makes one string. Before, a flow record cost
// about 8 allocations on this path (BenchmarkSharedStore); the budget is
// per batch of 512 events (546 allocations here, 2,577 before).
func TestOptimisticAllocations(t *testing.T) {
	srv := redistest.Start(t)
	store := openStore(t, srv)
	s := loadAgg(t)
	evs, nows := aggEvents(t, s, 512, 7)
	e := s.NewEvaluator()
	b := s.NewSharedBatch(rules.SharedOptions{KeyPrefix: "alloc:", Grace: time.Minute, MarkerTTL: time.Hour})
	preps := make([]rules.Prepared, len(evs))
	planned := make([]bool, len(evs))
	round := func() {
		b.Reset("")
		for i, ev := range evs {
			e.Prepare(ev, &preps[i])
			planned[i] = e.Plan(ev, &preps[i], nows[i], b)
		}
		require.NoError(t, store.Run(context.Background(), b))
		for i, ev := range evs {
			if planned[i] {
				_, err := e.Complete(ev, &preps[i], nows[i], b)
				require.NoError(t, err)
			} else {
				e.Finish(ev, &preps[i], nows[i])
			}
		}
	}
	round()
	round()
	before := store.Stats()
	perRound := testing.AllocsPerRun(5, round)
	st := store.Stats()
	require.Positive(t, st.Optimistic-before.Optimistic, "the batches took the optimistic path")
	// What is left is mostly the client's: it makes each reply element
	// (a group's stored value) a string in an interface.
	t.Logf("%.0f allocations per batch of %d events", perRound, len(evs))
	assert.Less(t, perRound, 1.5*float64(len(evs)), "allocations per batch of %d events", len(evs))
}
