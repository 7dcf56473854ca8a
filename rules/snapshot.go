package rules

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// A snapshot is the correlation state of a Set (the part of it that lives
// from one event to the next): the fired counters (firedtimes) and ignore
// times of every rule, the events remembered for if_matched_sid rules, and
// the windows of aggregate rules. The daemon commits one with the marks of
// the objects it read, so that after a crash the state is the one those
// objects left and re-reading the others fires the same correlation alerts
// on the same records as an uninterrupted run.
//
// It holds only what can still count: the remembered events (at most
// memoryCap per correlation target, each with its full_log and the values
// of the fields compared) and the aggregate groups whose window or
// cooldown is still open (at most max_groups per rule, each 12 counters or
// up to threshold value hashes). Its size is therefore bounded by the
// rules, whatever the volume read; docs/indexer.md gives measured sizes.
//
// Each part is filed under its rule id, so a snapshot outlives a reload
// that adds, removes or reorders rules. The state of a rule whose
// correlation changed (another kind, field, threshold or window; other
// compared fields) is not restored: it starts empty, and Restore says so.

// snapshotMagic starts every snapshot; the byte after it is the version.
const snapshotMagic = "vpcalertd-rules-state"

const snapshotVersion = 1

// ErrSnapshot is the error of a snapshot that cannot be read: damaged, cut
// short, or of another version.
var ErrSnapshot = errors.New("correlation state snapshot")

// Snapshot returns the correlation state. It must not run while events are
// evaluated (the daemon takes it between two objects); it locks each part
// while it copies it, so it is safe, but the result may then mix before and
// after.
func (s *Set) Snapshot() []byte {
	w := &snapWriter{b: make([]byte, 0, 4096)}
	w.b = append(w.b, snapshotMagic...)
	w.b = append(w.b, snapshotVersion)
	st := s.st

	// Counters: the rules whose fired count or ignore time is set.
	var n int
	for _, r := range s.rules {
		if st.fired[r.index].Load() != 0 || st.ignoredAt[r.index].Load() != 0 {
			n++
		}
	}
	w.uvarint(uint64(n))
	for _, r := range s.rules {
		f, ia := st.fired[r.index].Load(), st.ignoredAt[r.index].Load()
		if f == 0 && ia == 0 {
			continue
		}
		w.str(r.id)
		w.varint(f)
		w.varint(ia)
	}

	// Remembered events, per correlation target.
	var mems []*Rule
	for _, r := range s.rules {
		if st.mem[r.index] != nil {
			mems = append(mems, r)
		}
	}
	w.uvarint(uint64(len(mems)))
	for _, t := range mems {
		m := st.mem[t.index]
		w.str(t.id)
		m.mu.Lock()
		w.uvarint(uint64(len(m.syms)))
		for _, sym := range m.syms {
			w.str(s.syms.Name(sym))
		}
		w.varint(m.maxEvt)
		live := m.entries[m.start:]
		w.uvarint(uint64(len(live)))
		for i := range live {
			e := &live[i]
			w.varint(e.proc)
			w.varint(e.evt)
			w.varint(int64(e.matched))
			w.bytes(e.fullLog)
			for k := range m.syms {
				if e.vals == nil || e.vals[k] == nil {
					w.uvarint(0)
					continue
				}
				w.uvarint(uint64(len(e.vals[k])) + 1)
				w.b = append(w.b, e.vals[k]...)
			}
		}
		m.mu.Unlock()
	}

	// Aggregate windows.
	var aggs []*Rule
	for _, r := range s.rules {
		if st.agg[r.index] != nil {
			aggs = append(aggs, r)
		}
	}
	w.uvarint(uint64(len(aggs)))
	for _, r := range aggs {
		a, as := r.agg, st.agg[r.index]
		w.str(r.id)
		w.str(a.fingerprint())
		as.mu.Lock()
		w.u64(as.seed)
		w.varint(as.maxT)
		w.varint(as.lastSweep)
		w.varint(as.evicted)
		// Only the groups still open; in key order, so that equal states
		// give equal snapshots.
		dead := satSub(as.maxT, a.keep())
		keys := make([]string, 0, len(as.groups))
		for k, g := range as.groups {
			if g.last >= dead {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		w.uvarint(uint64(len(keys)))
		for _, k := range keys {
			g := as.groups[k]
			w.str(k)
			w.varint(g.last)
			w.varint(g.firedAt)
			var nb int
			for _, b := range g.buckets {
				if b.slot != math.MinInt64 {
					nb++
				}
			}
			w.uvarint(uint64(nb))
			for _, b := range g.buckets {
				if b.slot != math.MinInt64 {
					w.varint(b.slot)
					w.varint(b.v)
				}
			}
			w.uvarint(uint64(len(g.seen)))
			for _, sn := range g.seen {
				w.u64(sn.h)
				w.varint(sn.t)
			}
		}
		as.mu.Unlock()
	}
	return w.b
}

// RestoreReport says what Restore could not carry over.
type RestoreReport struct {
	// Skipped lists the rules whose saved state was left out, each with why
	// ("rule 100410: aggregate changed").
	Skipped []string
}

// Restore replaces the correlation state with the snapshot data (from
// Snapshot, by this or an earlier run). It must not run while events are
// evaluated. An error wraps ErrSnapshot and leaves the state as it was;
// parts of rules that no longer exist or whose correlation changed are
// left out and listed in the report.
func (s *Set) Restore(data []byte) (RestoreReport, error) {
	var rep RestoreReport
	d, err := decodeSnapshot(data)
	if err != nil {
		return rep, err
	}
	skip := func(id, why string) { rep.Skipped = append(rep.Skipped, "rule "+id+": "+why) }
	// Check everything before changing anything.
	mems := s.planMemories(d, skip)
	aggs := s.planAggregates(d, skip)
	s.restoreCounters(d, skip)
	s.clearCorrelation()
	for _, p := range mems {
		p.apply()
	}
	for _, p := range aggs {
		p.apply()
	}
	return rep, nil
}

// memPlan is how one saved memory goes back into a rule's memory.
type memPlan struct {
	m     *memory
	saved *savedMemory
	slot  []int // saved field index -> slot in m.syms, -1 = not kept
}

// planMemories decides which saved memories can be restored: their rule
// still correlates on them and every field it now compares was saved.
func (s *Set) planMemories(d *savedSnapshot, skip func(id, why string)) []memPlan {
	var mems []memPlan
	for i := range d.mems {
		sm := &d.mems[i]
		r := s.byID[sm.target]
		if r == nil || s.st.mem[r.index] == nil {
			skip(sm.target, "no rule correlates on it any more")
			continue
		}
		m := s.st.mem[r.index]
		p := memPlan{m: m, saved: sm, slot: make([]int, len(sm.fields))}
		var lost []string
		for k, name := range sm.fields {
			p.slot[k] = -1
			if sym := s.syms.Lookup(name); sym >= 0 {
				if j := slices.Index(m.syms, sym); j >= 0 {
					p.slot[k] = j
				}
			}
		}
		for _, sym := range m.syms {
			if !slices.Contains(sm.fields, s.syms.Name(sym)) {
				lost = append(lost, s.syms.Name(sym))
			}
		}
		if len(lost) > 0 {
			skip(sm.target, "remembered events lack the field(s) "+strings.Join(lost, ", ")+" now compared; not restored")
			continue
		}
		mems = append(mems, p)
	}
	return mems
}

// aggPlan is how one saved aggregate goes back into a rule's windows.
type aggPlan struct {
	a     *aggregate
	st    *aggState
	saved *savedAgg
}

// planAggregates decides which saved aggregates can be restored: their
// rule still has the same aggregate (same fingerprint).
func (s *Set) planAggregates(d *savedSnapshot, skip func(id, why string)) []aggPlan {
	var aggs []aggPlan
	for i := range d.aggs {
		sa := &d.aggs[i]
		r := s.byID[sa.rule]
		switch {
		case r == nil || r.agg == nil:
			skip(sa.rule, "no aggregate any more")
			continue
		case r.agg.fingerprint() != sa.fingerprint:
			skip(sa.rule, "aggregate changed ("+sa.fingerprint+" → "+r.agg.fingerprint()+"); its windows start empty")
			continue
		}
		aggs = append(aggs, aggPlan{a: r.agg, st: s.st.agg[r.index], saved: sa})
	}
	return aggs
}

// restoreCounters sets every rule's fired and ignored-at counters from
// the snapshot (zero for a rule it does not name).
func (s *Set) restoreCounters(d *savedSnapshot, skip func(id, why string)) {
	st := s.st
	for _, r := range s.rules {
		st.fired[r.index].Store(0)
		st.ignoredAt[r.index].Store(0)
	}
	for _, c := range d.counters {
		r := s.byID[c.rule]
		if r == nil {
			skip(c.rule, "not loaded any more")
			continue
		}
		st.fired[r.index].Store(c.fired)
		st.ignoredAt[r.index].Store(c.ignoredAt)
	}
}

// clearCorrelation empties every memory and aggregate.
func (s *Set) clearCorrelation() {
	st := s.st
	for _, r := range s.rules {
		if m := st.mem[r.index]; m != nil {
			m.mu.Lock()
			clear(m.entries)
			m.entries, m.start, m.maxEvt = m.entries[:0], 0, 0
			m.mu.Unlock()
		}
		if as := st.agg[r.index]; as != nil {
			as.mu.Lock()
			as.groups, as.maxT, as.lastSweep, as.evicted = map[string]*aggGroup{}, math.MinInt64, 0, 0
			as.forget()
			as.nextSweep = min(aggSweepMin, r.agg.maxGroups)
			as.mu.Unlock()
		}
	}
}

func (p memPlan) apply() {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	p.m.maxEvt = p.saved.maxEvt
	for _, se := range p.saved.entries {
		e := memEntry{proc: se.proc, evt: se.evt, matched: se.matched, fullLog: se.fullLog}
		if len(p.m.syms) > 0 {
			e.vals = make([][]byte, len(p.m.syms))
			for k, v := range se.vals {
				if p.slot[k] >= 0 {
					e.vals[p.slot[k]] = v
				}
			}
		}
		p.m.entries = append(p.m.entries, e)
	}
}

func (p aggPlan) apply() {
	as, sa := p.st, p.saved
	as.mu.Lock()
	defer as.mu.Unlock()
	as.seed, as.maxT, as.lastSweep, as.evicted = sa.seed, sa.maxT, sa.lastSweep, sa.evicted
	for _, sg := range sa.groups {
		g := newAggGroup(p.a, []byte(sg.key))
		g.last, g.firedAt = sg.last, sg.firedAt
		if g.buckets != nil {
			for _, b := range sg.buckets {
				g.buckets[mod(b.slot, aggBuckets)] = b
			}
		} else {
			g.seen = append(g.seen, sg.seen...)
		}
		as.groups[g.key] = g
	}
	as.forget() // a group of the same key may have been replaced
	as.nextSweep = min(max(aggSweepMin, 2*len(as.groups)), p.a.maxGroups)
}

// fingerprint names what an aggregate's saved windows depend on.
func (a *aggregate) fingerprint() string {
	var same []string
	for _, f := range a.same {
		same = append(same, f.name)
	}
	base := "event"
	if a.base == TimeProcessing {
		base = "processing"
	}
	what := a.kind.name
	if a.field.name != "" {
		what += " " + a.field.name
	}
	return fmt.Sprintf("%s threshold %d timeframe %d cooldown %d time %s same_field [%s]",
		what, a.threshold, a.timeframe, a.cooldown, base, strings.Join(same, " "))
}

func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// The decoded form of a snapshot.
type (
	savedSnapshot struct {
		counters []savedCounter
		mems     []savedMemory
		aggs     []savedAgg
	}
	savedCounter struct {
		rule             string
		fired, ignoredAt int64
	}
	savedMemory struct {
		target  string
		fields  []string
		maxEvt  int64
		entries []savedEntry
	}
	savedEntry struct {
		proc, evt int64
		matched   int
		fullLog   []byte
		vals      [][]byte
	}
	savedAgg struct {
		rule, fingerprint        string
		seed                     uint64
		maxT, lastSweep, evicted int64
		groups                   []savedGroup
	}
	savedGroup struct {
		key           string
		last, firedAt int64
		buckets       []aggBucket
		seen          []aggSeen
	}
)

func decodeSnapshot(data []byte) (*savedSnapshot, error) {
	if len(data) < len(snapshotMagic)+1 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a snapshot", ErrSnapshot)
	}
	if v := data[len(snapshotMagic)]; v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, this vpcalertd reads version %d", ErrSnapshot, v, snapshotVersion)
	}
	// The decoded parts point into a private copy of data.
	r := &snapReader{b: bytes.Clone(data[len(snapshotMagic)+1:])}
	d := &savedSnapshot{}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		d.counters = append(d.counters, savedCounter{rule: r.str(), fired: r.varint(), ignoredAt: r.varint()})
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		m := savedMemory{target: r.str()}
		for k := r.count(); k > 0 && r.err == nil; k-- {
			m.fields = append(m.fields, r.str())
		}
		m.maxEvt = r.varint()
		for k := r.count(); k > 0 && r.err == nil; k-- {
			e := savedEntry{proc: r.varint(), evt: r.varint(), matched: int(r.varint()), fullLog: r.bytes()}
			e.vals = make([][]byte, len(m.fields))
			for f := range m.fields {
				if l := r.uvarint(); l > 0 {
					e.vals[f] = r.take(l - 1)
				}
			}
			m.entries = append(m.entries, e)
		}
		d.mems = append(d.mems, m)
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		a := savedAgg{rule: r.str(), fingerprint: r.str(), seed: r.u64(), maxT: r.varint(), lastSweep: r.varint(), evicted: r.varint()}
		for k := r.count(); k > 0 && r.err == nil; k-- {
			g := savedGroup{key: r.str(), last: r.varint(), firedAt: r.varint()}
			for b := r.count(); b > 0 && r.err == nil; b-- {
				g.buckets = append(g.buckets, aggBucket{slot: r.varint(), v: r.varint()})
			}
			for b := r.count(); b > 0 && r.err == nil; b-- {
				g.seen = append(g.seen, aggSeen{h: r.u64(), t: r.varint()})
			}
			a.groups = append(a.groups, g)
		}
		d.aggs = append(d.aggs, a)
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the end", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshot, r.err)
	}
	return d, nil
}

// snapWriter appends the snapshot's encoding: varints, and byte strings
// as their length then their bytes.
type snapWriter struct{ b []byte }

func (w *snapWriter) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *snapWriter) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *snapWriter) u64(v uint64)     { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *snapWriter) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *snapWriter) bytes(b []byte)   { w.uvarint(uint64(len(b))); w.b = append(w.b, b...) }

// snapReader reads what snapWriter wrote; the first error sticks and
// every later read returns zero values.
type snapReader struct {
	b   []byte
	err error
}

var errShort = errors.New("cut short")

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.err = cmpErr(r.err, errShort)
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// count reads a number of items; each item takes at least a byte, so a
// count above the bytes left is damage, not a reason to allocate.
func (r *snapReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = cmpErr(r.err, fmt.Errorf("count %d with %d bytes left", n, len(r.b)))
		return 0
	}
	return int(n)
}

func (r *snapReader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = cmpErr(r.err, errShort)
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *snapReader) bytes() []byte { return r.take(r.uvarint()) }
func (r *snapReader) str() string   { return string(r.bytes()) }

func cmpErr(prev, err error) error {
	if prev != nil {
		return prev
	}
	return err
}
