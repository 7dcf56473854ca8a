package report

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Options configure an Aggregator. Zero values get defaults in New.
type Options struct {
	// Interval fixes the interval width (whole seconds); zero chooses it
	// from the span (see the package documentation).
	Interval time.Duration
	// MaxIntervals bounds the number of intervals; default 1,500. An
	// explicit Interval doubles when the span would need more.
	MaxIntervals int
	// TopK is the number of talkers the page lists per interval; default
	// 20, at least 20.
	TopK int
	// Capacity is the number of talkers a sketch monitors per interval;
	// default 256, at least 2*TopK.
	Capacity int
	// From and To, when set, keep only records whose time is in [From, To).
	From, To time.Time
	// Window, when set, keeps a rolling window: only the records of the last
	// Window before Now count, and older intervals are dropped (the
	// daemon's /traffic). The width is then fixed from Window.
	Window time.Duration
	// Now is the clock of a rolling window; default time.Now.
	Now func() time.Time
	// MaxAddresses bounds the addresses whose alerts are kept for the page's
	// per-address list; default 20,000. When more carry alerts, those with
	// the lowest levels and fewest alerts are dropped first, and the page
	// says so for them.
	MaxAddresses int
	// AlertsPerRule is how many of the newest alerts of each rule are kept
	// per address; default 5. AlertsPerAddress caps them all; default 25.
	AlertsPerRule, AlertsPerAddress int
}

// ErrBadOptions is returned by New for options it cannot use.
var ErrBadOptions = errors.New("bad report options")

// Flow is one flow record as the aggregator counts it. The byte slices are
// only read during AddFlow.
type Flow struct {
	// Time is the flow's start, Unix seconds.
	Time int64
	Talker
	Counts
	Account, Interface, Region []byte
	// AccountName and RegionName stand for Account and Region when those
	// are empty (the account and region folders of the object's key).
	AccountName, RegionName string
}

// AlertRec is one alert as the aggregator counts it. Description is only
// read during AddAlert.
type AlertRec struct {
	// Time is the time of the record behind the alert (a flow's start, a
	// CloudTrail eventTime), Unix seconds.
	Time        int64
	RuleID      string
	Level       int
	Description []byte
	// Addrs are the addresses the alert carries (flow source and
	// destination, CloudTrail sourceIPAddress, ...).
	Addrs []netip.Addr
}

// Aggregator accumulates flows and alerts into intervals. It is safe for
// concurrent use.
type Aggregator struct {
	mu      sync.Mutex // guards everything below
	opts    Options
	ladder  []int64 // widths in seconds, each a multiple of the one before
	step    int     // ladder[step] is the width in use
	buckets map[int64]*bucket
	lo, hi  int64 // smallest and largest bucket index seen
	any     bool
	widened bool // an explicit Interval had to be widened
	sum     Summary
	sets    [3]boundedSet // accounts, interfaces, regions
	rules   map[string]*ruleInfo
	// lastRule and lastInfo cache the rule counted last and its entry in
	// rules (as bucket.lastRule).
	lastRule string
	lastInfo *ruleInfo
	addrs    addrTable
	lastCut  int64 // rolling: the last cutoff applied
	// lastIdx and lastB cache the bucket used last (a record's alerts
	// land in its flow's bucket); lastB is nil when the cache is void.
	lastIdx int64
	lastB   *bucket
}

// bucket holds one interval.
type bucket struct {
	tot    [2]Counts // ACCEPT (and other), REJECT
	alerts [4]int64  // by level band (bandOf)
	talk   *sketch   // every action, by bytes
	rej    *sketch   // REJECT only, by flows
	rules  map[string]*ruleStat
	// lastRule and lastStat cache the rule counted last and its entry in
	// rules: one flow after another raises the same per-flow rule.
	lastRule string
	lastStat *ruleStat
}

type ruleStat struct {
	n           int64
	first, last int64
}

type ruleInfo struct {
	level int
	desc  string // the latest description (templates make them differ)
}

// bandOf maps a rule level to the severity bands of the Wazuh dashboard:
// low 0-6, medium 7-11, high 12-14, critical 15-16.
func bandOf(level int) int {
	switch {
	case level >= 15:
		return 3
	case level >= 12:
		return 2
	case level >= 7:
		return 1
	}
	return 0
}

// autoLadder is the ladder of automatic widths, in seconds.
var autoLadder = []int64{60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400}

// New returns an Aggregator.
func New(opts Options) (*Aggregator, error) {
	if opts.MaxIntervals == 0 {
		opts.MaxIntervals = 1500
	}
	if opts.TopK == 0 {
		opts.TopK = 20
	}
	if opts.Capacity == 0 {
		opts.Capacity = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAddresses == 0 {
		opts.MaxAddresses = 20000
	}
	if opts.AlertsPerRule == 0 {
		opts.AlertsPerRule = 5
	}
	if opts.AlertsPerAddress == 0 {
		opts.AlertsPerAddress = 25
	}
	switch {
	case opts.TopK < 20:
		return nil, fmt.Errorf("%w: top talkers per interval %d: want at least 20", ErrBadOptions, opts.TopK)
	case opts.Capacity < 2*opts.TopK:
		return nil, fmt.Errorf("%w: sketch capacity %d: want at least twice the top-talker count %d (a full sketch evicts half)", ErrBadOptions, opts.Capacity, opts.TopK)
	case opts.Interval < 0 || opts.Interval%time.Second != 0:
		return nil, fmt.Errorf("%w: interval %s: want a positive whole number of seconds, e.g. 5m", ErrBadOptions, opts.Interval)
	case opts.MaxIntervals < 10:
		return nil, fmt.Errorf("%w: max intervals %d: want at least 10", ErrBadOptions, opts.MaxIntervals)
	case opts.Window < 0:
		return nil, fmt.Errorf("%w: window %s: want a positive duration, e.g. 24h", ErrBadOptions, opts.Window)
	case !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To):
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrBadOptions, opts.From.Format(time.RFC3339), opts.To.Format(time.RFC3339))
	}
	a := &Aggregator{opts: opts, buckets: map[int64]*bucket{}, rules: map[string]*ruleInfo{}}
	if opts.Interval > 0 {
		w := int64(opts.Interval / time.Second)
		for range 40 {
			a.ladder = append(a.ladder, w)
			w *= 2
		}
	} else {
		a.ladder = append([]int64(nil), autoLadder...)
		w := autoLadder[len(autoLadder)-1]
		for range 30 {
			w *= 2
			a.ladder = append(a.ladder, w)
		}
	}
	if opts.Window > 0 {
		// The width that fits the whole window, fixed from the start.
		span := int64(opts.Window / time.Second)
		for a.step < len(a.ladder)-1 && span/a.ladder[a.step] >= int64(opts.MaxIntervals) {
			a.step++
		}
	}
	for i := range a.sets {
		a.sets[i] = boundedSet{m: map[string]struct{}{}, max: 100000}
	}
	a.addrs = addrTable{m: newAddrMap(), opts: &a.opts, descs: map[string]string{}}
	return a, nil
}

// Width returns the interval width in use.
func (a *Aggregator) Width() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return time.Duration(a.ladder[a.step]) * time.Second
}

// keep reports whether a record at t counts, and counts it as outside when
// not. Called with a.mu held.
func (a *Aggregator) keep(t int64) bool {
	o := &a.opts
	if (!o.From.IsZero() && t < o.From.Unix()) || (!o.To.IsZero() && t >= o.To.Unix()) {
		a.sum.Outside++
		return false
	}
	if o.Window > 0 {
		now := o.Now().Unix()
		cut := now - int64(o.Window/time.Second)
		if t < cut || t > now+3600 {
			a.sum.Outside++
			return false
		}
		a.prune(cut)
	}
	return true
}

// bucketAt returns the bucket holding t, widening the intervals first when
// the span would need too many. Called with a.mu held.
func (a *Aggregator) bucketAt(t int64) *bucket {
	w := a.ladder[a.step]
	idx := floorDiv(t, w)
	if a.lastB != nil && idx == a.lastIdx {
		return a.lastB
	}
	if !a.any {
		a.lo, a.hi, a.any = idx, idx, true
	}
	for a.opts.Window == 0 && max(a.hi, idx)-min(a.lo, idx)+1 > int64(a.opts.MaxIntervals) && a.step < len(a.ladder)-1 {
		a.widen()
		w = a.ladder[a.step]
		idx = floorDiv(t, w)
	}
	a.lo, a.hi = min(a.lo, idx), max(a.hi, idx)
	b := a.buckets[idx]
	if b == nil {
		b = &bucket{}
		a.buckets[idx] = b
	}
	a.lastIdx, a.lastB = idx, b
	return b
}

// widen moves to the next width of the ladder, merging buckets exactly.
func (a *Aggregator) widen() {
	ratio := a.ladder[a.step+1] / a.ladder[a.step]
	a.step++
	a.lastB = nil
	if a.opts.Interval > 0 {
		a.widened = true
	}
	merged := make(map[int64]*bucket, len(a.buckets)/int(ratio)+1)
	for idx, b := range a.buckets {
		n := floorDiv(idx, ratio)
		if m := merged[n]; m != nil {
			m.mergeFrom(b)
		} else {
			merged[n] = b
		}
	}
	a.buckets = merged
	a.lo, a.hi = floorDiv(a.lo, ratio), floorDiv(a.hi, ratio)
}

func (b *bucket) mergeFrom(o *bucket) {
	for i := range b.tot {
		b.tot[i].add(o.tot[i])
	}
	for i := range b.alerts {
		b.alerts[i] += o.alerts[i]
	}
	b.talk = b.talk.merge(o.talk)
	b.rej = b.rej.merge(o.rej)
	b.lastRule, b.lastStat = "", nil
	if b.rules == nil {
		b.rules = o.rules
		return
	}
	for id, s := range o.rules {
		if m := b.rules[id]; m != nil {
			m.n += s.n
			m.first = min(m.first, s.first)
			m.last = max(m.last, s.last)
		} else {
			b.rules[id] = s
		}
	}
}

// prune drops the buckets of a rolling window that end before cut. Called
// with a.mu held.
func (a *Aggregator) prune(cut int64) {
	w := a.ladder[a.step]
	if cut-a.lastCut < w {
		return
	}
	a.lastCut = cut
	a.lastB = nil
	first := floorDiv(cut, w)
	for idx := range a.buckets {
		if idx < first {
			delete(a.buckets, idx)
		}
	}
	if a.any && a.lo < first {
		a.lo = first
		if a.hi < first {
			a.any = false
		}
	}
	a.addrs.prune(cut)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// AddRecord counts a record read that is neither a flow nor counted
// elsewhere (a CloudTrail record, a NODATA line): it shows in the summary's
// record count only.
func (a *Aggregator) AddRecord() {
	a.mu.Lock()
	a.sum.Records++
	a.mu.Unlock()
}

// AddFlow counts one flow record.
func (a *Aggregator) AddFlow(f *Flow) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addFlow(f, keyOf(f.Talker))
}

// addFlow is AddFlow with a.mu held; k is keyOf(f.Talker), and of f.Talker
// only the action is read.
func (a *Aggregator) addFlow(f *Flow, k tkey) {
	a.sum.Records++
	if !a.keep(f.Time) {
		return
	}
	b := a.bucketAt(f.Time)
	side := 0
	if f.Action == ActionReject {
		side = 1
	}
	b.tot[side].add(f.Counts)
	if b.talk == nil {
		b.talk = newSketch(byBytes, a.opts.Capacity)
	}
	b.talk.add(k, f.Counts)
	if side == 1 {
		if b.rej == nil {
			b.rej = newSketch(byFlows, a.opts.Capacity/4)
		}
		b.rej.add(k, f.Counts)
	}
	a.sum.Flows += f.Flows
	a.sum.Bytes += f.Bytes
	a.sum.Packets += f.Packets
	if len(f.Account) > 0 {
		a.sets[0].add(f.Account)
	} else {
		a.sets[0].addString(f.AccountName)
	}
	a.sets[1].add(f.Interface)
	if len(f.Region) > 0 {
		a.sets[2].add(f.Region)
	} else {
		a.sets[2].addString(f.RegionName)
	}
	a.sum.seen(f.Time)
}

// AddAlert counts one alert.
func (a *Aggregator) AddAlert(r *AlertRec) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addAlert(r)
}

// addAlert is AddAlert with a.mu held.
func (a *Aggregator) addAlert(r *AlertRec) {
	a.sum.Alerts++
	if !a.keep(r.Time) {
		return
	}
	b := a.bucketAt(r.Time)
	b.alerts[bandOf(r.Level)]++
	s := b.lastStat
	if s == nil || b.lastRule != r.RuleID {
		if b.rules == nil {
			b.rules = map[string]*ruleStat{}
		}
		if s = b.rules[r.RuleID]; s == nil {
			s = &ruleStat{first: r.Time, last: r.Time}
			b.rules[r.RuleID] = s
		}
		b.lastRule, b.lastStat = r.RuleID, s
	}
	s.n++
	s.first = min(s.first, r.Time)
	s.last = max(s.last, r.Time)
	info := a.lastInfo
	if info == nil || a.lastRule != r.RuleID {
		if info = a.rules[r.RuleID]; info == nil {
			info = &ruleInfo{}
			a.rules[r.RuleID] = info
		}
		a.lastRule, a.lastInfo = r.RuleID, info
	}
	info.level = r.Level
	if info.desc != string(r.Description) { // compared without a copy
		// Interned: descriptions repeat (a template over a few fields),
		// and the address lists below keep the same string.
		info.desc = a.addrs.intern(r.Description)
	}
	for _, ip := range r.Addrs {
		a.addrs.add(ip, r, info.desc)
	}
	a.sum.seen(r.Time)
}

// SetBadLines records the bad lines of the input for the summary.
func (a *Aggregator) SetBadLines(n int64) {
	a.mu.Lock()
	a.sum.BadLines = n
	a.mu.Unlock()
}

// boundedSet counts distinct values up to max.
type boundedSet struct {
	m    map[string]struct{}
	max  int
	last []byte // the value added last: records of a file repeat it
}

func (s *boundedSet) add(v []byte) {
	if len(v) == 0 || (len(v) == 1 && v[0] == '-') || bytes.Equal(v, s.last) {
		return
	}
	s.last = append(s.last[:0], v...)
	if _, ok := s.m[string(v)]; ok || len(s.m) >= s.max {
		return
	}
	s.m[string(v)] = struct{}{}
}

func (s *boundedSet) addString(v string) {
	if v == "" || v == "-" {
		return
	}
	if _, ok := s.m[v]; ok || len(s.m) >= s.max {
		return
	}
	s.m[v] = struct{}{}
}
