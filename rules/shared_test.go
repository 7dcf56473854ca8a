package rules_test

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/rules"
	"github.com/vpcalertd/vpcalertd/rules/redisstore"
	"github.com/vpcalertd/vpcalertd/rules/redisstore/redistest"
)

// sharedRun evaluates events as the engine's sequence stage does with a
// shared store: Prepare each event, then, batch by batch (sizes drawn from
// rng, 1 to maxBatch), Plan the events that reach a stateful rule, run the
// batch on the store, and Complete them — or Finish the others — in order.
type sharedRun struct {
	set   *rules.Set
	store rules.SharedStore
	eval  *rules.Evaluator
	batch *rules.SharedBatch
	// planned counts the events that went to the store.
	planned int
	// ids, when set, names the batches (ids#1, ids#2, …), so that the
	// store keeps their records.
	ids     string
	batches int
}

func newSharedRun(s *rules.Set, store rules.SharedStore, prefix string) *sharedRun {
	return &sharedRun{set: s, store: store, eval: s.NewEvaluator(),
		batch: s.NewSharedBatch(rules.SharedOptions{KeyPrefix: prefix, Grace: time.Minute, MarkerTTL: time.Hour})}
}

// run evaluates evs[i] for each i in idx, in batches, and returns each
// event's matches as text (rules.MatchTextForTest), keyed by event index.
func (r *sharedRun) run(t testing.TB, evs []*event.Event, nows []time.Time, idx []int, rng *rand.Rand, maxBatch int) map[int]string {
	t.Helper()
	out := map[int]string{}
	preps := make([]rules.Prepared, maxBatch)
	planned := make([]bool, maxBatch)
	for len(idx) > 0 {
		n := min(len(idx), 1+rng.Intn(maxBatch))
		part := idx[:n]
		idx = idx[n:]
		id := ""
		if r.ids != "" {
			r.batches++
			id = fmt.Sprintf("%s#%d", r.ids, r.batches)
		}
		r.batch.Reset(id)
		for k, i := range part {
			r.eval.Prepare(evs[i], &preps[k])
			planned[k] = r.eval.Plan(evs[i], &preps[k], nows[i], r.batch)
		}
		if r.batch.Len() > 0 {
			require.NoError(t, r.store.Run(context.Background(), r.batch))
			r.planned += r.batch.Len()
		}
		for k, i := range part {
			if planned[k] {
				ms, err := r.eval.Complete(evs[i], &preps[k], nows[i], r.batch)
				require.NoError(t, err, "event %d", i)
				out[i] = rules.MatchTextForTest(ms)
			} else {
				out[i] = rules.MatchTextForTest(r.eval.Finish(evs[i], &preps[k], nows[i]))
			}
		}
		if r.batch.Len() > 0 {
			require.NoError(t, r.batch.Done())
		}
	}
	return out
}

func loadPrep(t testing.TB) *rules.Set {
	t.Helper()
	s, err := rules.LoadYAMLForTest(t, map[string]string{"a.yml": rules.PrepRulesForTest, "p.yml": rules.PrepPackForTest}, nil)
	require.NoError(t, err)
	return s
}

func openStore(t testing.TB, srv *redistest.Server) *redisstore.Store {
	t.Helper()
	st := redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 10 * time.Second})
	t.Cleanup(func() { st.Close() })
	require.True(t, st.Available(), "store of %s: %v", srv.Addr, st.Status().Err)
	return st
}

// sharedPaths are the two ways a batch goes to the store: the
// interpreter's (prep rules: searches, ignore) and the optimistic path's
// (aggregates only, split in parts where a sweep is due).
var sharedPaths = []struct {
	name   string
	load   func(testing.TB) *rules.Set
	events func(testing.TB, *rules.Set, int, int64) ([]*event.Event, []time.Time)
}{
	{"interpreter", loadPrep, rules.RandomEventsForTest},
	{"optimistic", loadAgg, aggEvents},
}

// applyBatch sends evs to store as one batch b named id, as the engine's
// sequence stage does: Prepare and Plan each event, run the batch, then
// Complete the planned events and Finish the others. It returns each
// event's matches as text (rules.MatchTextForTest), or the store's error
// (the events are then left unfinished).
func applyBatch(t testing.TB, e *rules.Evaluator, b *rules.SharedBatch, store rules.SharedStore, id string, evs []*event.Event, nows []time.Time) ([]string, error) {
	t.Helper()
	b.Reset(id)
	preps := make([]rules.Prepared, len(evs))
	planned := make([]bool, len(evs))
	for k, ev := range evs {
		e.Prepare(ev, &preps[k])
		planned[k] = e.Plan(ev, &preps[k], nows[k], b)
	}
	require.Positive(t, b.Len(), "the batch reaches the store")
	if err := store.Run(context.Background(), b); err != nil {
		return nil, err
	}
	out := make([]string, len(evs))
	for k, ev := range evs {
		var ms []rules.Match
		if planned[k] {
			var err error
			ms, err = e.Complete(ev, &preps[k], nows[k], b)
			require.NoError(t, err, "event %d", k)
		} else {
			ms = e.Finish(ev, &preps[k], nows[k])
		}
		out[k] = rules.MatchTextForTest(ms)
	}
	return out, b.Done()
}

// TestSharedStoreIsMemory: a Set whose correlation state is in Redis gives,
// event for event, exactly what the same Set gives with its state in
// memory — frequency windows with same_field, ignore, aggregates of every
// kind with cooldown, a noalert counter, pack passes, previous_output and
// the firedtimes — whatever the batch sizes.
func TestSharedStoreIsMemory(t *testing.T) {
	srv := redistest.Start(t)
	store := openStore(t, srv)
	for _, maxBatch := range []int{1, 17, 300} {
		t.Run(fmt.Sprintf("batch=%d", maxBatch), func(t *testing.T) {
			mem, shared := loadPrep(t), loadPrep(t)
			evs, nows := rules.RandomEventsForTest(t, mem, 3000, 7)
			sevs, _ := rules.RandomEventsForTest(t, shared, 3000, 7)
			e := mem.NewEvaluator()
			var p rules.Prepared
			want := make([]string, len(evs))
			for i, ev := range evs {
				e.Prepare(ev, &p)
				want[i] = rules.MatchTextForTest(e.Finish(ev, &p, nows[i]))
			}
			run := newSharedRun(shared, store, fmt.Sprintf("t%d:", maxBatch))
			idx := make([]int, len(sevs))
			for i := range idx {
				idx[i] = i
			}
			got := run.run(t, sevs, nows, idx, rand.New(rand.NewSource(int64(maxBatch))), maxBatch)
			for i := range want {
				require.Equal(t, want[i], got[i], "event %d", i)
			}
			assert.Equal(t, mem.RuntimeErrors(), shared.RuntimeErrors())
			assert.Greater(t, run.planned, len(evs)/4, "events that went to the store")
			alerts := map[string]int{}
			for _, w := range want {
				for _, id := range []string{"3", "4", "6", "101", "102", "107", "108", "111"} {
					if strings.Contains(w, "["+id+" alert=true") {
						alerts[id]++
					}
				}
			}
			for _, id := range []string{"3", "4", "101", "102", "107", "111"} {
				assert.Positive(t, alerts[id], "rule %s never alerted: the test does not exercise it", id)
			}
		})
	}
}

// statefulText keeps of matches what two instances sharing a store must
// agree on with one instance: the rule, whether it alerted, its description
// and previous_output (firedtimes are per instance, as each Wazuh manager
// counts its own).
func statefulText(s string) string {
	var b strings.Builder
	for _, m := range strings.SplitAfter(s, "] ") {
		if m == "" {
			continue
		}
		f := strings.Fields(m)
		id := strings.TrimPrefix(f[0], "[")
		if !strings.Contains(m, "alert=true") {
			continue
		}
		_, desc, _ := strings.Cut(m, "desc=")
		fmt.Fprintf(&b, "[%s %s", id, desc)
	}
	return b.String()
}

// TestTwoInstancesShareWindows: the events of one stream split between
// two Sets (two daemons) that share a store, each evaluating its part in
// order and in batches, as one daemon reading the objects in turn would,
// give exactly the alerts of one Set that evaluates the whole stream:
// every window counted across both, every threshold crossed once.
func TestTwoInstancesShareWindows(t *testing.T) {
	srv := redistest.Start(t)
	store := openStore(t, srv)
	one := loadPrep(t)
	evs, nows := rules.RandomEventsForTest(t, one, 2000, 11)
	e := one.NewEvaluator()
	var p rules.Prepared
	want := make([]string, len(evs))
	for i, ev := range evs {
		e.Prepare(ev, &p)
		want[i] = statefulText(rules.MatchTextForTest(e.Finish(ev, &p, nows[i])))
	}
	a, b := loadPrep(t), loadPrep(t)
	aevs, _ := rules.RandomEventsForTest(t, a, 2000, 11)
	bevs, _ := rules.RandomEventsForTest(t, b, 2000, 11)
	ra, rb := newSharedRun(a, store, "two:"), newSharedRun(b, store, "two:")
	rng := rand.New(rand.NewSource(3))
	got := map[int]string{}
	// Objects of 1 to 40 events, each read by one of the two, in turn.
	for i := 0; i < len(evs); {
		n := min(len(evs)-i, 1+rng.Intn(40))
		idx := make([]int, n)
		for k := range idx {
			idx[k] = i + k
		}
		var part map[int]string
		if rng.Intn(2) == 0 {
			part = ra.run(t, aevs, nows, idx, rng, 16)
		} else {
			part = rb.run(t, bevs, nows, idx, rng, 16)
		}
		for k, v := range part {
			got[k] = statefulText(v)
		}
		i += n
	}
	alerts := 0
	for i := range want {
		require.Equal(t, want[i], got[i], "event %d", i)
		alerts += strings.Count(want[i], "[")
	}
	assert.Positive(t, ra.planned)
	assert.Positive(t, rb.planned)
	assert.Positive(t, alerts)
}

// TestSharedBatchAppliedOnce: a batch sent again with the same id (an
// object read again after a crash) gets the answers the store gave the
// first time, and its events are not counted twice: the windows go on as
// if it had been sent once. For the interpreter's batches (prep rules:
// searches, ignore) and the optimistic path's (aggregates only, split in
// parts where a sweep is due: each part has its record).
func TestSharedBatchAppliedOnce(t *testing.T) {
	srv := redistest.Start(t)
	store := openStore(t, srv)
	for _, tc := range sharedPaths {
		t.Run(tc.name, func(t *testing.T) {
			mem, shared := tc.load(t), tc.load(t)
			evs, nows := tc.events(t, mem, 1000, 5)
			sevs, _ := tc.events(t, shared, 1000, 5)
			e := mem.NewEvaluator()
			var p rules.Prepared
			want := make([]string, len(evs))
			for i, ev := range evs {
				e.Prepare(ev, &p)
				want[i] = statefulText(rules.MatchTextForTest(e.Finish(ev, &p, nows[i])))
			}
			se := shared.NewEvaluator()
			b := shared.NewSharedBatch(rules.SharedOptions{KeyPrefix: "once-" + tc.name + ":", Grace: time.Minute, MarkerTTL: time.Hour})
			run := func(start int, id string) (out []string, replayed bool) {
				out, err := applyBatch(t, se, b, store, id, sevs[start:start+50], nows[start:start+50])
				require.NoError(t, err)
				for k := range out {
					out[k] = statefulText(out[k])
				}
				return out, b.Replayed
			}
			before := store.Stats()
			for start := 0; start < len(evs); start += 50 {
				id := fmt.Sprintf("obj#%d", start/50)
				first, replayed := run(start, id)
				require.False(t, replayed)
				require.Equal(t, want[start:start+50], first, "batch %d", start/50)
				if start/50%2 == 1 {
					again, replayed := run(start, id)
					require.True(t, replayed, "batch %d sent again", start/50)
					require.Equal(t, first, again, "the answers of the first time")
				}
			}
			if st := store.Stats(); tc.name == "optimistic" {
				require.Greater(t, st.Optimistic-before.Optimistic, int64(0))
				require.Greater(t, st.Exact-before.Exact, int64(0), "parts due a sweep")
			}
		})
	}
}

// TestSharedDamagedRecord: a batch whose record in the store is not one
// vpcalertd wrote fails with an error that names the key and says what to
// do, on the interpreter's path and on the optimistic one; once the key is
// deleted the batch is applied again.
func TestSharedDamagedRecord(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	for _, tc := range sharedPaths {
		set := tc.load(t)
		evs, nows := tc.events(t, set, 40, 3)
		prefix := "damaged-" + tc.name + ":"
		// run applies evs as batch id on a new store (a failure makes a
		// store unavailable) with a new evaluator.
		run := func(t *testing.T, id string) error {
			b := set.NewSharedBatch(rules.SharedOptions{KeyPrefix: prefix, Grace: time.Minute, MarkerTTL: time.Hour})
			_, err := applyBatch(t, set.NewEvaluator(), b, openStore(t, srv), id, evs, nows)
			return err
		}
		// A record as vpcalertd writes it, to damage one of its parts.
		require.NoError(t, run(t, "good"))
		// The interpreter's record is done:<batch id>; the optimistic path
		// keeps one per part, done:<batch id>@<first event>.
		keys, err := srv.Client.Keys(ctx, prefix+"done:good*").Result()
		require.NoError(t, err)
		require.NotEmpty(t, keys)
		slices.Sort(keys) // the first part's
		part := strings.TrimPrefix(keys[0], prefix+"done:good")
		good, err := srv.Client.Get(ctx, keys[0]).Result()
		require.NoError(t, err)
		cases := map[string]string{
			"not msgpack":          "\xc1",
			"not an array":         "\x07",
			"starts with a number": "\x91\x07",
			"truncated":            good[:len(good)/2],
		}
		if i := strings.Index(good, "/f"); i >= 0 { // sharedcommit.lua's record
			cases["work's end altered"] = good[:i] + "/g" + good[i+2:]
		}
		for name, value := range cases {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				key := prefix + "done:" + name + part
				require.NoError(t, srv.Client.Set(ctx, key, value, time.Hour).Err())
				err := run(t, name)
				require.Error(t, err)
				assert.Contains(t, err.Error(), "the batch record "+key+" is damaged")
				assert.Contains(t, err.Error(), "delete the key (DEL)")
				require.NoError(t, srv.Client.Del(ctx, key).Err())
				require.NoError(t, run(t, name), "after DEL")
			})
		}
		if tc.name == "optimistic" {
			require.Contains(t, cases, "work's end altered", "the optimistic path wrote its own record")
		}
	}
}
