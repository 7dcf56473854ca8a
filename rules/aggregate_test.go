package rules

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// aggSet loads a gate rule "1" (level 0) and an aggregate rule "2" under
// it with the given aggregate block.
func aggSet(t testing.TB, block string) *Set {
	t.Helper()
	f := `
rules:
  - id: "1"
    level: 0
    condition: aws.action == "REJECT"
    description: gate
  - id: "2"
    level: 10
    if_sid: "1"
    description: "aggregate from $(aws.src)"
    aggregate:
` + block
	s, err := loadYAML(t, map[string]string{"a.yml": f}, nil)
	require.NoError(t, err)
	return s
}

type aggStep struct {
	evt   int64 // event time, seconds after t0
	src   string
	port  string
	bytes string
	at    int64 // processing time, seconds after t0
	fires bool
}

func runAgg(t *testing.T, s *Set, steps []aggStep) {
	t.Helper()
	e := s.NewEvaluator()
	for i, st := range steps {
		ev := &event.Event{Time: t0.Unix() + st.evt}
		ev.Add("aws.action", []byte("REJECT"), event.String, event.NoSym)
		if st.src != "" {
			ev.Add("aws.src", []byte(st.src), event.String, event.NoSym)
		}
		if st.port != "" {
			ev.Add("aws.port", []byte(st.port), event.String, event.NoSym)
		}
		if st.bytes != "" {
			ev.Add("aws.bytes", []byte(st.bytes), event.Number, event.NoSym)
		}
		m := e.Eval(ev, t0.Add(time.Duration(st.at)*time.Second), nil)
		require.NotNil(t, m.Rule, "step %d", i)
		want := "1"
		if st.fires {
			want = "2"
		}
		assert.Equal(t, want, m.Rule.ID(), "step %d", i)
	}
}

func TestAggregateKinds(t *testing.T) {
	count := "      kind: count\n      threshold: 3\n      timeframe: 60\n      same_field: [aws.src]\n"
	distinct := "      kind: distinct\n      field: aws.port\n      threshold: 3\n      timeframe: 60\n      same_field: [aws.src]\n"
	sum := "      kind: sum\n      field: aws.bytes\n      threshold: 1000\n      timeframe: 120\n      same_field: [aws.src]\n"
	cases := []struct {
		name, block string
		steps       []aggStep
	}{
		{"count fires at the threshold", count, []aggStep{
			{src: "a"}, {src: "a", evt: 1}, {src: "a", evt: 2, fires: true}}},
		{"count keeps groups apart", count, []aggStep{
			{src: "a"}, {src: "b"}, {src: "a"}, {src: "b"}, {src: "c"}, {src: "a", fires: true}}},
		{"count restarts after firing, quiet during the cooldown", count, []aggStep{
			{src: "a"}, {src: "a"}, {src: "a", fires: true}, {src: "a", evt: 10}, {src: "a", evt: 20}, {src: "a", evt: 30},
			{src: "a", evt: 59}, {src: "a", evt: 61, fires: true}}},
		{"count window expires on event time", count, []aggStep{
			{src: "a", evt: 0}, {src: "a", evt: 30}, {src: "a", evt: 100}, {src: "a", evt: 130}, {src: "a", evt: 140, fires: true}}},
		{"an event without the same_field is not counted", count, []aggStep{
			{src: "a"}, {}, {}, {src: "a"}, {src: "a", fires: true}}},
		{"late events older than the group's window are not counted", count, []aggStep{
			{src: "a", evt: 1000}, {src: "a", evt: 100}, {src: "a", evt: 100}, {src: "a", evt: 1001}, {src: "a", evt: 1002, fires: true}}},
		{"distinct counts values, not events", distinct, []aggStep{
			{src: "a", port: "22"}, {src: "a", port: "22"}, {src: "a", port: "23"}, {src: "a", port: "23"}, {src: "a", port: "25", fires: true}}},
		{"distinct values expire with the window", distinct, []aggStep{
			{src: "a", port: "1", evt: 0}, {src: "a", port: "2", evt: 10}, {src: "a", port: "3", evt: 80},
			{src: "a", port: "4", evt: 85, fires: false}, {src: "a", port: "5", evt: 86, fires: true}}},
		{"distinct without the field is not counted", distinct, []aggStep{
			{src: "a", port: "1"}, {src: "a"}, {src: "a"}, {src: "a", port: "2"}, {src: "a", port: "3", fires: true}}},
		{"sum adds the field", sum, []aggStep{
			{src: "a", bytes: "400"}, {src: "a", bytes: "-"}, {src: "b", bytes: "900"}, {src: "a", bytes: "599", evt: 60}, {src: "a", bytes: "1", evt: 119, fires: true}}},
		{"sum forgets what left the window", sum, []aggStep{
			{src: "a", bytes: "900", evt: 0}, {src: "a", bytes: "200", evt: 200}, {src: "a", bytes: "700", evt: 250}, {src: "a", bytes: "100", evt: 300, fires: true}}},
		{"processing time ignores the event time", "      kind: count\n      threshold: 2\n      timeframe: 10\n      time: processing\n", []aggStep{
			{evt: 0, at: 0}, {evt: 5000, at: 20}, {evt: 0, at: 25, fires: true}}},
		{"cooldown 0 fires every threshold events", "      kind: count\n      threshold: 2\n      cooldown: 0\n", []aggStep{
			{}, {fires: true}, {}, {fires: true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runAgg(t, aggSet(t, c.block), c.steps)
		})
	}
}

func TestAggregateTraceAndDescription(t *testing.T) {
	s := aggSet(t, "      kind: distinct\n      field: aws.port\n      threshold: 2\n      same_field: [aws.src]\n")
	e := s.NewEvaluator()
	ev := mustEvent(t, `{"aws":{"action":"REJECT","src":"198.51.100.7","port":"22"}}`)
	var tr Trace
	m := e.Eval(ev, t0, &tr)
	assert.Equal(t, "1", m.Rule.ID())
	assert.Equal(t, "aggregate distinct aws.port: 1 of 2 within 60s", tr.Steps[1].Failed)
	m = e.Eval(mustEvent(t, `{"aws":{"action":"REJECT","src":"198.51.100.7","port":"23"}}`), t0, nil)
	assert.Equal(t, "2", m.Rule.ID())
	assert.Equal(t, "aggregate from 198.51.100.7", string(m.Description))
	assert.Zero(t, m.Frequency)
	tr = Trace{}
	e.Eval(mustEvent(t, `{"aws":{"action":"REJECT","port":"23"}}`), t0, &tr)
	assert.Contains(t, tr.Steps[1].Failed, "event not counted")
}

func TestAggregateSpecErrors(t *testing.T) {
	cases := []struct{ block, msg string }{
		{"      kind: avg\n      threshold: 2\n", `a.yml:11:13: rule 2: aggregate.kind: unknown kind "avg", expected one of [count distinct sum]`},
		{"      kind: distinct\n      threshold: 2\n", "a.yml:11:7: rule 2: aggregate.field: kind distinct needs a field"},
		{"      kind: count\n      field: aws.port\n      threshold: 2\n", "a.yml:12:14: rule 2: aggregate.field: kind count takes no field"},
		{"      kind: count\n", "rule 2: aggregate.threshold: threshold must be ≥ 1"},
		{"      kind: distinct\n      field: aws.port\n      threshold: 5000\n", "threshold 5000 is above 1000 for kind distinct"},
		{"      kind: count\n      threshold: 2\n      timeframe: -1\n", "aggregate.timeframe: timeframe must be > 0 seconds"},
		{"      kind: count\n      threshold: 2\n      time: wall\n", `aggregate.time: unknown time "wall", expected one of [event processing]`},
		{"      kind: count\n      threshold: 2\n      cooldown: -5\n", "aggregate.cooldown: cooldown must be ≥ 0 seconds"},
		{"      kind: count\n      threshold: 2\n      max_groups: -1\n", "aggregate.max_groups: max_groups must be ≥ 1"},
		{"      kind: count\n      threshold: 2\n      window: 5\n", `aggregate: unknown key "window" (expected one of [cooldown`},
	}
	for _, c := range cases {
		t.Run(c.msg, func(t *testing.T) {
			f := "rules:\n  - id: \"1\"\n    level: 0\n    description: gate\n  - id: \"2\"\n    level: 10\n    if_sid: \"1\"\n    description: x\n    aggregate:\n" + c.block
			f = strings.Replace(f, "    aggregate:\n", "    # the block\n    aggregate:\n", 1)
			_, err := loadYAML(t, map[string]string{"a.yml": f}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := loadYAML(t, map[string]string{"a.yml": "rules:\n  - id: \"1\"\n    level: 3\n    description: x\n  - id: \"2\"\n    level: 5\n    if_matched_sid: \"1\"\n    frequency: 2\n    description: y\n    aggregate: {kind: count, threshold: 2}\n"}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "aggregate and if_matched_sid/frequency are two kinds of correlation")
}

// TestAggregateFloodIsBounded feeds one million distinct sources, each
// probing one port, into a distinct-count rule grouped by source, all
// inside one window: the rule keeps at most max_groups groups, and the
// heap stays bounded by them whatever the flood's size.
func TestAggregateFloodIsBounded(t *testing.T) {
	const flood = 1_000_000
	s := aggSet(t, "      kind: distinct\n      field: aws.port\n      threshold: 15\n      same_field: [aws.src]\n")
	e := s.NewEvaluator()
	st := s.st.agg[s.Rule("2").Index()]
	ev := &event.Event{Time: t0.Unix()}
	src := make([]byte, 0, 16)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := 0
	for i := 0; i < flood; i++ {
		ev.Fields = ev.Fields[:0]
		src = fmt.Appendf(src[:0], "10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		ev.Add("aws.action", []byte("REJECT"), event.String, event.NoSym)
		ev.Add("aws.src", src, event.String, event.NoSym)
		ev.Add("aws.port", []byte("22"), event.String, event.NoSym)
		e.Eval(ev, t0, nil)
		peak = max(peak, len(st.groups))
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d distinct sources: peak %d groups (max_groups %d), %d evicted, heap +%.1f MiB (%.0f B/group)",
		flood, peak, aggDefaultMaxGroups, st.evicted, float64(grown)/(1<<20), float64(grown)/float64(len(st.groups)))
	assert.LessOrEqual(t, peak, aggDefaultMaxGroups)
	assert.Greater(t, st.evicted, int64(flood-2*aggDefaultMaxGroups))
	assert.Less(t, grown, int64(32<<20), "heap growth must stay under 32 MiB")

	// Once the window has passed, the next new group sweeps the dead ones.
	ev.Time += 3600
	ev.Fields = ev.Fields[:0]
	ev.Add("aws.action", []byte("REJECT"), event.String, event.NoSym)
	ev.Add("aws.src", []byte("198.51.100.7"), event.String, event.NoSym)
	ev.Add("aws.port", []byte("22"), event.String, event.NoSym)
	e.Eval(ev, t0, nil)
	assert.Equal(t, 1, len(st.groups))
}

func TestAggregateEvalDoesNotAllocate(t *testing.T) {
	s := aggSet(t, "      kind: sum\n      field: aws.bytes\n      threshold: 1000000000000\n      same_field: [aws.src]\n")
	e := s.NewEvaluator()
	ev := mustEvent(t, `{"aws":{"action":"REJECT","src":"eni-0a1b2c3d4e5f60718","bytes":4392}}`)
	ev.Time = t0.Unix()
	e.Eval(ev, t0, nil)
	allocs := testing.AllocsPerRun(1000, func() { e.Eval(ev, t0, nil) })
	assert.Zero(t, allocs)
}

// TestAggregateTotalIsBucketSum drives count and sum windows with random
// times (in order, late, gaps longer than the window, repeats), values
// (saturating ones included), firings and snapshot round trips, and checks
// every value addKey returns against summing the group's buckets as
// addBuckets did before it kept a running total: the total must never
// drift from the buckets.
func TestAggregateTotalIsBucketSum(t *testing.T) {
	for _, block := range []string{
		"      kind: count\n      threshold: 12\n      timeframe: 60\n      same_field: [aws.src]\n",
		"      kind: sum\n      field: aws.bytes\n      threshold: 5000\n      timeframe: 30\n      cooldown: 0\n      same_field: [aws.src]\n",
		"      kind: sum\n      field: aws.bytes\n      threshold: 9223372036854775807\n      timeframe: 7\n      same_field: [aws.src]\n",
	} {
		s := aggSet(t, block)
		r := s.Rule("2")
		a := r.agg
		rng := rand.New(rand.NewPCG(1, uint64(len(block))))
		now := int64(1_700_000_000)
		fired := 0
		for i := range 20000 {
			switch rng.IntN(20) {
			case 0:
				now += a.timeframe + rng.Int64N(3*a.timeframe) // a gap longer than the window
			case 1:
				now -= rng.Int64N(2 * a.timeframe) // late
			default:
				now += rng.Int64N(3)
			}
			if i%2500 == 2499 {
				_, err := s.Restore(s.Snapshot())
				require.NoError(t, err, "event %d", i)
			}
			st := s.st.agg[r.Index()]
			key := fmt.Appendf(nil, "k%d", rng.IntN(3))
			var v []byte
			switch rng.IntN(10) {
			case 0:
				v = []byte("-")
			case 1:
				v = []byte("9223372036854775800")
			default:
				v = strconv.AppendInt(nil, rng.Int64N(300), 10)
			}
			// The expected value: the group as addKey will find it, with
			// the event added to a copy of its buckets, summed bucket by bucket.
			var want int64 = -1
			if g := st.groups[string(key)]; g != nil && g.last >= now-a.keep() && now >= g.last-a.timeframe {
				want = refBucketSum(a, slices.Clone(g.buckets), g.last, now, v)
			} else if g == nil || g.last < now-a.keep() {
				b := make([]aggBucket, aggBuckets)
				for j := range b {
					b[j].slot = math.MinInt64
				}
				want = refBucketSum(a, b, now, now, v)
			}
			c := &evalCtx{now: now, ev: &event.Event{Time: now}}
			f, got, counted := st.addKey(c, a, key, v)
			if want < 0 {
				assert.False(t, counted, "event %d: a late event is not counted", i)
				continue
			}
			require.True(t, counted, "event %d", i)
			require.Equal(t, want, got, "event %d at %d: running total against the bucket sum", i, now)
			if f {
				fired++
			}
		}
		t.Logf("%s: %d firings", strings.Fields(block)[1], fired)
		if a.threshold < math.MaxInt64 {
			assert.Positive(t, fired, "the windows must fill up and fire (and be cleared) for the test to mean something")
		}
	}
}

// refBucketSum is addBuckets without a running total: it adds the event of
// time t with value v to buckets (of a group whose newest event is last)
// and sums every bucket inside the window.
func refBucketSum(a *aggregate, buckets []aggBucket, last, t int64, v []byte) int64 {
	n := int64(1)
	if a.sum {
		n = parseDecimal(v)
	}
	slot := floorDiv(t, a.width)
	top := floorDiv(max(t, last), a.width)
	if slot > top-aggBuckets {
		b := &buckets[mod(slot, aggBuckets)]
		if b.slot != slot {
			*b = aggBucket{slot: slot}
		}
		b.v = satAdd(b.v, n)
	}
	var total int64
	for _, b := range buckets {
		if b.slot > top-aggBuckets && b.slot <= top {
			total = satAdd(total, b.v)
		}
	}
	return total
}

// TestAggregateGroupCache drives an aggregate through sweeps (dead groups
// and max_groups evictions), snapshot round trips and keys that share a
// cache slot (same length, first and last eight bytes; short keys too),
// and checks after every event that the group cache only holds groups
// that are in the map under their own key, and that group finds what the
// map holds: a group the map lost or replaced must never be found again.
func TestAggregateGroupCache(t *testing.T) {
	s := aggSet(t, "      kind: count\n      threshold: 7\n      timeframe: 10\n      cooldown: 0\n      max_groups: 24\n      same_field: [aws.src]\n")
	r := s.Rule("2")
	a := r.agg
	var keys [][]byte
	for i := range 20 {
		keys = append(keys, fmt.Appendf(nil, "eni-0a1b2c3d-%02d-4e5f60718", i))    // one slot: only the middle differs
		keys = append(keys, fmt.Appendf(nil, "0123456789abcdef-%02d-01234567", i)) // past 24 bytes: bytes 17 and 18 differ
		keys = append(keys, fmt.Appendf(nil, "01234567-%02d-abcdefgh", i))         // 17 to 24 bytes: bytes 9 and 10 differ
		keys = append(keys, fmt.Appendf(nil, "10.%d.0.1", i))                      // 8 to 16 bytes
		keys = append(keys, fmt.Appendf(nil, "10.0.%d.%d", i%3, i))
		keys = append(keys, fmt.Appendf(nil, "k%d", i)) // shorter than eight bytes
	}
	for n := 8; n < 8+aggCacheSlots+40; n++ {
		// The same words (lo, mid, hi) at every length: more lengths than
		// slots, so some share one and only the length tells them apart.
		keys = append(keys, bytes.Repeat([]byte{'a'}, n))
	}
	keys = append(keys, []byte{})
	rng := rand.New(rand.NewPCG(7, 8))
	now := int64(1_700_000_000)
	sawEvicted, sawShared := false, false
	for i := range 60000 {
		switch rng.IntN(40) {
		case 0:
			now += 2 * a.keep() // every group dies: the next new one sweeps them
		case 1:
			_, err := s.Restore(s.Snapshot())
			require.NoError(t, err, "event %d", i)
		default:
			now += rng.Int64N(2)
		}
		st := s.st.agg[r.Index()]
		key := keys[rng.IntN(len(keys))]
		c := &evalCtx{now: now, ev: &event.Event{Time: now}}
		st.addKey(c, a, key, nil)
		require.Same(t, st.groups[string(key)], st.group(key), "event %d: group(%q)", i, key)
		require.Equal(t, string(key), st.group(key).key, "event %d: the group keeps its own copy of the key", i)
		inCache := 0
		for slot, e := range st.cache {
			g := e.g
			if g == nil {
				continue
			}
			inCache++
			require.Same(t, st.groups[g.key], g, "event %d: cache slot %d holds group %q, not the map's", i, slot, g.key)
		}
		sawEvicted = sawEvicted || st.evicted > 0
		sawShared = sawShared || inCache < len(st.groups)
	}
	assert.True(t, sawEvicted, "max_groups must evict groups for the test to mean something")
	assert.True(t, sawShared, "keys must share cache slots for the test to mean something")
}

// TestAggregateUnlocksOnEveryPath: addKey leaves the aggregate unlocked
// whichever way the event goes (a new group, counted below the threshold,
// fired, quiet in its cooldown, too late for the window).
func TestAggregateUnlocksOnEveryPath(t *testing.T) {
	s := aggSet(t, "      kind: count\n      threshold: 2\n      timeframe: 10\n      cooldown: 100\n      same_field: [aws.src]\n")
	r := s.Rule("2")
	st := s.st.agg[r.Index()]
	for _, c := range []struct {
		name           string
		at             int64
		fired, counted bool
	}{
		{"new group", 1000, false, true},
		{"fires", 1001, true, true},
		{"counted, below the threshold", 1002, false, true},
		{"in its cooldown", 1003, false, true},
		{"too late for the window", 900, false, false},
	} {
		ctx := &evalCtx{now: c.at, ev: &event.Event{Time: c.at}}
		fired, _, counted := st.addKey(ctx, r.agg, []byte("10.0.0.1"), nil)
		assert.Equal(t, c.fired, fired, c.name)
		assert.Equal(t, c.counted, counted, c.name)
		require.True(t, st.mu.TryLock(), "%s: the aggregate is still locked", c.name)
		st.mu.Unlock()
	}
}

// TestAggregateDistinctPastInline: a distinct group starts with room for
// aggSeenInline values in its own allocation; more values grow it out of
// there and each is still counted once, and the key kept with the group
// does not change when the event's bytes do.
func TestAggregateDistinctPastInline(t *testing.T) {
	s := aggSet(t, "      kind: distinct\n      field: aws.port\n      threshold: 1000\n      timeframe: 60\n      same_field: [aws.src]\n")
	r := s.Rule("2")
	st := s.st.agg[r.Index()]
	key := []byte("198.51.100.23")
	for round := range 2 {
		for i := range 3 * aggSeenInline {
			c := &evalCtx{now: 1000, ev: &event.Event{Time: 1000}}
			_, value, counted := st.addKey(c, r.agg, key, fmt.Appendf(nil, "%d", 20+i))
			require.True(t, counted)
			require.Equal(t, int64(i+1), value, "round %d: value %d", round, i)
		}
		key[0] = 'x' // the caller's buffer is reused for the next event
		require.Contains(t, st.groups, "198.51.100.23")
		key[0] = '1'
		st.groups["198.51.100.23"].clearWindow()
	}
}
