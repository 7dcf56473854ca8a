package rules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"unsafe"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// Aggregates are the correlation kinds Wazuh lacks: a count, a count of
// distinct values of a field, or a sum of a numeric field, over the events
// that reach the rule (its parents and its own condition matched) within a
// window, per group of same_field values. Unlike if_matched_sid, they do
// not keep the events: a group holds a few numbers (count, sum) or one hash
// per distinct value, so a flow-log flood costs a bounded amount of memory
// (max_groups groups per rule, see TestAggregateFloodIsBounded).

// AggregateSpec is a rule's `aggregate:` block (README.md, "Aggregates").
type AggregateSpec struct {
	// Kind is one of count, distinct, sum (the aggKinds table).
	Kind string `yaml:"kind"`
	// Field is the field whose distinct values are counted (distinct) or
	// whose decimal value is added (sum).
	Field string `yaml:"field"`
	// Threshold is the count, number of distinct values or sum at which
	// the rule fires.
	Threshold int64 `yaml:"threshold"`
	// Timeframe is the window in seconds; default 60.
	Timeframe int `yaml:"timeframe"`
	// SameField names the fields whose values make the group key; events
	// lacking one of them are not counted.
	SameField []string `yaml:"same_field"`
	// Time is the clock of the window: event (default, the events' own
	// time) or processing.
	Time string `yaml:"time"`
	// Cooldown is how long, in seconds, a group stays quiet after it
	// fired; default: the timeframe.
	Cooldown *int `yaml:"cooldown"`
	// MaxGroups bounds the groups kept; default 50000.
	MaxGroups int `yaml:"max_groups"`
}

// Defaults and bounds of aggregate windows.
const (
	aggDefaultTimeframe = 60
	aggDefaultMaxGroups = 50000
	// aggBuckets is the number of buckets a count or sum window is kept
	// in: the window is exact to timeframe/aggBuckets seconds.
	aggBuckets = 12
	// aggMaxDistinct bounds a distinct threshold: a group keeps one entry
	// per value until the threshold is reached.
	aggMaxDistinct = 1000
	// aggSweepMin is the group count from which expired groups are swept.
	aggSweepMin = 1024
)

// aggKind is one row of the aggregate kind table: how its spec is checked
// and how a group adds one event.
type aggKind struct {
	name string
	// field says whether the kind reads a field (distinct, sum).
	field bool
	// maxThreshold bounds the threshold, 0 = no bound.
	maxThreshold int64
	// add adds an event of time t with field value v (nil for count) to
	// the group of st and returns the aggregate value.
	add func(a *aggregate, st *aggState, g *aggGroup, t int64, v []byte) int64
}

// aggKinds is the kind table; a new kind is one row.
var aggKinds = []aggKind{
	{name: "count", add: addBuckets},
	{name: "distinct", field: true, maxThreshold: aggMaxDistinct, add: addDistinct},
	{name: "sum", field: true, add: addBuckets},
}

func aggKindNames() []string {
	out := make([]string, len(aggKinds))
	for i, k := range aggKinds {
		out[i] = k.name
	}
	return out
}

// aggregate is the compiled aggregate of a rule.
type aggregate struct {
	kind      *aggKind
	field     corrField // distinct, sum
	sum       bool
	threshold int64
	timeframe int64
	width     int64 // bucket width in seconds (count, sum)
	cooldown  int64
	base      TimeBase
	same      []corrField
	maxGroups int
}

// aggregate validates and compiles the rule's aggregate block.
func (ld *loader) aggregate(r *Rule, rs *RuleSpec) []error {
	sp := rs.Aggregate
	if sp == nil {
		return nil
	}
	var errs []error
	fail := func(key string, err error) { errs = append(errs, rs.atIn("aggregate", key, err)) }
	if rs.IfMatchedSID != "" || rs.Frequency != 0 {
		fail("", errors.New("aggregate and if_matched_sid/frequency are two kinds of correlation; use one"))
	}
	if rs.Ignore != 0 {
		fail("", errors.New("ignore does not apply to aggregate rules; use aggregate.cooldown"))
	}
	a := &aggregate{}
	for i := range aggKinds {
		if aggKinds[i].name == sp.Kind {
			a.kind = &aggKinds[i]
		}
	}
	if a.kind == nil {
		fail("kind", fmt.Errorf("unknown kind %q, expected one of %v", sp.Kind, aggKindNames()))
		return errs
	}
	a.sum = a.kind.name == "sum"
	switch {
	case a.kind.field && sp.Field == "":
		fail("field", fmt.Errorf("kind %s needs a field", sp.Kind))
	case !a.kind.field && sp.Field != "":
		fail("field", fmt.Errorf("kind %s takes no field", sp.Kind))
	case sp.Field != "":
		a.field = corrField{name: sp.Field, sym: ld.set.syms.Intern(sp.Field)}
	}
	a.threshold = sp.Threshold
	if a.threshold < 1 {
		fail("threshold", errors.New("threshold must be ≥ 1"))
	} else if m := a.kind.maxThreshold; m > 0 && a.threshold > m {
		fail("threshold", fmt.Errorf("threshold %d is above %d for kind %s", a.threshold, m, sp.Kind))
	}
	a.timeframe = int64(sp.Timeframe)
	if a.timeframe == 0 {
		a.timeframe = aggDefaultTimeframe
	} else if a.timeframe < 0 {
		fail("timeframe", errors.New("timeframe must be > 0 seconds"))
	}
	a.width = max(1, (a.timeframe+aggBuckets-1)/aggBuckets)
	a.cooldown = a.timeframe
	if sp.Cooldown != nil {
		a.cooldown = int64(*sp.Cooldown)
		if a.cooldown < 0 {
			fail("cooldown", errors.New("cooldown must be ≥ 0 seconds"))
		}
	}
	switch sp.Time {
	case "", "event":
		a.base = TimeEvent
	case "processing":
		a.base = TimeProcessing
	default:
		fail("time", fmt.Errorf("unknown time %q, expected one of [event processing]", sp.Time))
	}
	a.maxGroups = sp.MaxGroups
	if a.maxGroups == 0 {
		a.maxGroups = aggDefaultMaxGroups
	} else if a.maxGroups < 1 {
		fail("max_groups", errors.New("max_groups must be ≥ 1"))
	}
	for _, f := range sp.SameField {
		a.same = append(a.same, corrField{name: f, sym: ld.set.syms.Intern(f)})
	}
	r.agg = a
	r.timeBase = a.base
	return errs
}

// atIn returns an error at key inside the mapping of parent ("" = the
// parent's value).
func (rs *RuleSpec) atIn(parent, key string, err error) error {
	n := specfile.Value(rs.Node, parent)
	if key != "" {
		if v := specfile.Value(n, key); v != nil {
			n = v
		}
	}
	if n == nil {
		return rs.at(parent, err)
	}
	field := parent
	if key != "" {
		field += "." + key
	}
	e := &specfile.Error{Subject: ruleSubject(rs.ID), Key: field, Err: err}
	e.Line, e.Column = n.Line, n.Column
	return e
}

// aggState is the mutable state of one aggregate rule.
type aggState struct {
	mu        sync.Mutex // guards everything below
	groups    map[string]*aggGroup
	maxT      int64 // the newest time seen: groups older than maxT-keep are dead
	lastSweep int64
	nextSweep int
	evicted   int64   // groups dropped while still live, because of max_groups
	lasts     []int64 // scratch for eviction
	// seed keys the hash of distinct values; it is random, and kept in
	// snapshots so that restored hashes stay comparable.
	seed uint64
	// cache holds groups by a slot made from their key: most events
	// find their group here with a few loads and compares instead of
	// hashing the key for the map (group). Every group in it is in groups
	// under its key: whatever removes or replaces a group of the map
	// empties the cache (forget).
	cache [aggCacheSlots]aggCacheEntry
}

// aggCacheSlots is the number of slots of aggState.cache.
const aggCacheSlots = 256

// aggCacheEntry is a group of the cache and its key's words for a key of
// eight bytes or more: the first eight bytes (lo), the last eight (hi)
// and bytes 8 to 15 when the key is longer than 16 (mid). Up to 24 bytes
// the words cover the whole key, so comparing them (and the length) is
// comparing the keys; past 24 bytes the rest is compared as text.
type aggCacheEntry struct {
	g           *aggGroup
	lo, mid, hi uint64
}

// group returns the group of key, nil when there is none.
func (st *aggState) group(key []byte) *aggGroup {
	n := len(key)
	if n < 8 {
		return st.shortGroup(key)
	}
	le := binary.LittleEndian
	lo, hi := le.Uint64(key), le.Uint64(key[n-8:])
	var mid uint64
	if n > 16 {
		mid = le.Uint64(key[8:])
	}
	// The slot: lo, hi and the length, multiplied by a large odd
	// constant, top bits. Keys that differ only in the middle share a
	// slot, which costs a map lookup, never a wrong group.
	e := &st.cache[((lo*0xff51afd7ed558ccd^hi^uint64(n))*0x9e3779b97f4a7c15)>>56]
	if g := e.g; g != nil && e.lo == lo && e.hi == hi && e.mid == mid && len(g.key) == n &&
		(n <= 24 || g.key[16:n-8] == string(key[16:n-8])) {
		return g
	}
	g := st.groups[string(key)]
	if g != nil {
		*e = aggCacheEntry{g: g, lo: lo, mid: mid, hi: hi}
	}
	return g
}

// shortGroup is group for a key of fewer than eight bytes, compared as
// text (not inlined: the common, longer keys' path stays short).
//
//go:noinline
func (st *aggState) shortGroup(key []byte) *aggGroup {
	e := &st.cache[shortSlot(key)]
	if g := e.g; g != nil && g.key == string(key) {
		return g
	}
	g := st.groups[string(key)]
	if g != nil {
		*e = aggCacheEntry{g: g}
	}
	return g
}

// forget empties the group cache; it is called whenever a group leaves
// the map or is replaced in it.
func (st *aggState) forget() { clear(st.cache[:]) }

// shortSlot is the cache slot of a key of fewer than eight bytes.
func shortSlot(key []byte) uint {
	n := len(key)
	var w uint64
	switch {
	case n >= 4:
		w = uint64(binary.LittleEndian.Uint32(key[n-4:])) | uint64(binary.LittleEndian.Uint32(key))<<32
	case n > 0:
		w = uint64(key[0]) | uint64(key[n/2])<<8 | uint64(key[n-1])<<16
	}
	return uint(((w ^ uint64(n)) * 0x9e3779b97f4a7c15) >> 56)
}

// aggGroup is the window of one group.
type aggGroup struct {
	key     string // the group's key in aggState.groups
	last    int64  // the newest event time in the group: the window's end
	firedAt int64  // when the group last fired; math.MinInt64 = never
	buckets []aggBucket
	seen    []aggSeen
	// total is the sum of the buckets whose slot is in
	// (totalTop-aggBuckets, totalTop], kept by addBuckets while the
	// window's top slot stays totalTop so that an event adds to it instead
	// of summing every bucket; totalOK false (a new, cleared or restored
	// group) means it is to be summed again. TestAggregateTotalIsBucketSum
	// checks it against the buckets.
	total    int64
	totalTop int64
	totalOK  bool
}

// Sizes of what a group keeps in its own allocation (newAggGroup).
const (
	aggKeyInline  = 32 // key bytes
	aggSeenInline = 8  // distinct values before seen grows out of it
)

// bucketGroup and distinctGroup are a group with the memory it starts
// with, in one allocation: its key's bytes (up to aggKeyInline) and its
// buckets or first distinct values. A lookup compares the key where the
// group is, and the group, its key and its window share cache lines:
// with thousands of groups (a port scan's sources) each event finds its
// group with fewer misses than with three allocations.
type bucketGroup struct {
	aggGroup
	keyBuf    [aggKeyInline]byte
	bucketBuf [aggBuckets]aggBucket
}

type distinctGroup struct {
	aggGroup
	keyBuf  [aggKeyInline]byte
	seenBuf [aggSeenInline]aggSeen
}

// newAggGroup returns a new, empty group of aggregate a with key.
func newAggGroup(a *aggregate, key []byte) *aggGroup {
	var g *aggGroup
	var kb []byte
	if !a.kind.field || a.sum {
		x := &bucketGroup{}
		g, kb = &x.aggGroup, x.keyBuf[:]
		g.buckets = x.bucketBuf[:]
		for i := range g.buckets {
			g.buckets[i].slot = math.MinInt64
		}
	} else {
		x := &distinctGroup{}
		g, kb = &x.aggGroup, x.keyBuf[:]
		g.seen = x.seenBuf[:0]
	}
	g.firedAt = math.MinInt64
	if n := len(key); n > 0 && n <= len(kb) {
		copy(kb, key)
		// The key's bytes in the group's own array, which nothing
		// writes again: a string of them is as immutable as any.
		g.key = unsafe.String(&kb[0], n)
	} else {
		g.key = string(key)
	}
	return g
}

// aggBucket holds the count or sum of one bucket-wide slot of time.
type aggBucket struct {
	slot int64
	v    int64
}

// aggSeen is one distinct value (its hash) and when it was last seen.
type aggSeen struct {
	h uint64
	t int64
}

func newAggState(a *aggregate) *aggState {
	return &aggState{groups: map[string]*aggGroup{}, nextSweep: min(aggSweepMin, a.maxGroups), maxT: math.MinInt64, seed: rand.Uint64()}
}

// keep is how long a group lives after its last event.
func (a *aggregate) keep() int64 { return max(a.timeframe, a.cooldown) }

// add counts the current event in its group. It reports whether the rule
// fires, and the aggregate value after the event (for logtest -v).
func (st *aggState) add(c *evalCtx, a *aggregate) (fired bool, value int64, counted bool) {
	var key []byte
	if len(a.same) == 1 {
		// One field: its value is the key, no copy.
		var ok bool
		if key, ok = c.field(a.same[0].sym); !ok {
			return false, 0, false
		}
	} else {
		var ok bool
		c.aggKey, ok = a.appendKey(c, c.aggKey[:0])
		if !ok {
			return false, 0, false
		}
		key = c.aggKey
	}
	var v []byte
	if a.kind.field {
		var ok bool
		if v, ok = c.field(a.field.sym); !ok {
			return false, 0, false
		}
	}
	return st.addKey(c, a, key, v)
}

// appendKey appends the current event's group key (the same_field values,
// joined by a zero byte) to dst; ok is false when one of them is missing.
func (a *aggregate) appendKey(c *evalCtx, dst []byte) (out []byte, ok bool) {
	for i, f := range a.same {
		v, ok := c.field(f.sym)
		if !ok {
			return dst, false
		}
		if i > 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst, true
}

// addKey counts the current event, with group key and field value v, in
// its group.
func (st *aggState) addKey(c *evalCtx, a *aggregate, key, v []byte) (fired bool, value int64, counted bool) {
	t := c.now
	if a.base == TimeEvent && c.ev.Time != 0 {
		t = c.ev.Time
	}
	// Unlocked on each way out rather than with defer, whose exit paths
	// cost more (TestAggregateUnlocksOnEveryPath); kept locked while the
	// evaluator holds its aggregates (Hold).
	c.lockAgg(st)
	if t > st.maxT {
		st.maxT = t
	}
	g := st.group(key)
	if g != nil && g.last < t-a.keep() {
		// Nothing of the group is inside the window or the cooldown any
		// more: it starts again, as if it had been swept (a shared store,
		// whose keys expire, decides the same: rules/shared.lua).
		g.reset()
		g.last = t
	}
	if g == nil {
		st.sweep(a)
		g = newAggGroup(a, key)
		g.last = t
		st.groups[g.key] = g
	}
	if t < g.last-a.timeframe {
		// Older than the group's window: a late event, not counted.
		c.unlockAgg(st)
		return false, 0, false
	}
	value = a.kind.add(a, st, g, t, v)
	if t > g.last {
		g.last = t
	}
	if value < a.threshold || g.firedAt != math.MinInt64 && t-g.firedAt < a.cooldown {
		c.unlockAgg(st)
		return false, value, true
	}
	g.firedAt = t
	g.clearWindow()
	c.unlockAgg(st)
	return true, value, true
}

// clearWindow forgets the group's counts and values.
func (g *aggGroup) clearWindow() {
	clear(g.seen)
	g.seen = g.seen[:0]
	for i := range g.buckets {
		g.buckets[i] = aggBucket{slot: math.MinInt64}
	}
	g.totalOK = false
}

// reset makes g a group that never fired and counted nothing.
func (g *aggGroup) reset() {
	g.firedAt = math.MinInt64
	g.clearWindow()
}

// addBuckets adds 1 (count) or the field's value (sum) to the bucket of t
// and returns the total of the buckets inside the window.
func addBuckets(a *aggregate, _ *aggState, g *aggGroup, t int64, v []byte) int64 {
	n := int64(1)
	if a.sum {
		n = parseDecimal(v)
	}
	slot := floorDiv(t, a.width)
	top := slot
	if g.last > t {
		top = floorDiv(g.last, a.width)
	}
	if slot > top-aggBuckets {
		b := &g.buckets[mod(slot, aggBuckets)]
		if b.slot != slot {
			// The bucket held a slot of the same residue, which is
			// outside (top-aggBuckets, top]: it was not in the total.
			*b = aggBucket{slot: slot}
		}
		b.v = satAdd(b.v, n)
		if g.totalOK && g.totalTop == top {
			// Same window: n ≥ 0 and every bucket in it is ≥ 0, so the
			// saturating sum in any order is min(MaxInt64, Σ).
			g.total = satAdd(g.total, n)
			return g.total
		}
	} else if g.totalOK && g.totalTop == top {
		return g.total
	}
	return g.sumBuckets(top)
}

// sumBuckets sums the buckets whose slot is in (top-aggBuckets, top] and
// keeps the total for the events that follow in the same window; a
// negative bucket (only a damaged snapshot holds one) keeps it from being
// kept, since a saturating sum then depends on the order.
func (g *aggGroup) sumBuckets(top int64) int64 {
	lo := top - aggBuckets
	var total int64
	ok := true
	for i := range g.buckets {
		if b := &g.buckets[i]; b.slot > lo && b.slot <= top {
			total = satAdd(total, b.v)
			ok = ok && b.v >= 0
		}
	}
	g.total, g.totalTop, g.totalOK = total, top, ok
	return total
}

// addDistinct records the value's hash and returns the number of distinct
// values seen inside the window.
func addDistinct(a *aggregate, st *aggState, g *aggGroup, t int64, v []byte) int64 {
	h := hashValue(st.seed, v)
	end := max(t, g.last)
	kept := g.seen[:0]
	found := false
	for _, s := range g.seen {
		if s.t < end-a.timeframe {
			continue
		}
		if s.h == h {
			found = true
			s.t = max(s.t, t)
		}
		kept = append(kept, s)
	}
	clear(g.seen[len(kept):])
	g.seen = kept
	if !found {
		g.seen = append(g.seen, aggSeen{h: h, t: t})
	}
	return int64(len(g.seen))
}

// hashValue is a seeded 64-bit hash of a distinct value (FNV-1a over the
// seed and the bytes, then a finalizer): unlike hash/maphash its seed can be
// saved in a snapshot.
func hashValue(seed uint64, v []byte) uint64 {
	h := uint64(14695981039346656037) ^ seed
	for _, c := range v {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// sweep drops dead groups, and the oldest quarter of the live ones when
// max_groups is reached. It runs when a new group is about to be added.
func (st *aggState) sweep(a *aggregate) {
	n := len(st.groups)
	if n < st.nextSweep && !(n > 0 && st.maxT-st.lastSweep >= a.keep()) {
		return
	}
	st.lastSweep = st.maxT
	st.forget()
	dead := st.maxT - a.keep()
	for k, g := range st.groups {
		if g.last < dead {
			delete(st.groups, k)
		}
	}
	if len(st.groups) >= a.maxGroups {
		st.lasts = st.lasts[:0]
		for _, g := range st.groups {
			st.lasts = append(st.lasts, g.last)
		}
		slices.Sort(st.lasts)
		drop := max(1, len(st.lasts)/4)
		cut := st.lasts[drop-1]
		for k, g := range st.groups {
			if drop == 0 {
				break
			}
			if g.last <= cut {
				delete(st.groups, k)
				st.evicted++
				drop--
			}
		}
	}
	st.nextSweep = min(max(aggSweepMin, 2*len(st.groups)), a.maxGroups)
}

// explain says why an aggregate did not fire, for logtest -v.
func (a *aggregate) explain(value int64, counted bool) string {
	what := a.kind.name
	if a.kind.field {
		what += " " + a.field.name
	}
	if !counted {
		return fmt.Sprintf("aggregate %s: event not counted (a same_field or the field is missing, or it is older than the window)", what)
	}
	return fmt.Sprintf("aggregate %s: %d of %d within %ds", what, value, a.threshold, a.timeframe)
}

// parseDecimal reads the integer part of a decimal number; anything else
// ("-", empty) is 0.
func parseDecimal(v []byte) int64 {
	var n int64
	for i, c := range v {
		if c < '0' || c > '9' {
			if c == '.' && i > 0 {
				return n
			}
			return 0
		}
		if n > (math.MaxInt64-9)/10 {
			return math.MaxInt64
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

func floorDiv(a, b int64) int64 {
	if a >= 0 {
		return a / b
	}
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
