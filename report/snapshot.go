package report

import (
	"net/netip"
	"sort"
	"time"
)

// Summary counts what the aggregator saw.
type Summary struct {
	Records  int64 // records seen (flows and others)
	Flows    int64 // flow records counted in intervals
	Bytes    int64
	Packets  int64
	Alerts   int64
	BadLines int64 // lines or records rejected by the reader
	Outside  int64 // records and alerts left out by From/To or the rolling window
	// First and Last are the earliest and latest record times counted, Unix
	// seconds (0 when none).
	First, Last int64
	// Accounts, Interfaces and Regions are distinct counts, capped at
	// 100,000 each.
	Accounts, Interfaces, Regions int
}

func (s *Summary) seen(t int64) {
	if s.First == 0 || t < s.First {
		s.First = t
	}
	if t > s.Last {
		s.Last = t
	}
}

// Meta describes the page: where its data came from.
type Meta struct {
	// Title heads the page; default "VPC traffic".
	Title string
	// Source says what was read: "replay", "alerts" or "live".
	Source string
	// AlertedOnly says the flows come from flow alerts (--alerts), so that
	// totals count alerted flows only.
	AlertedOnly bool
	// Inputs names what was read (paths, or the daemon's buckets).
	Inputs []string
	// Notes are shown on the page as they are (warnings about the input).
	Notes []string
	// Generated is when the page was made; default time.Now.
	Generated time.Time
}

// Peak is an interval that stands out.
type Peak struct {
	Kind  string // "bytes", "reject" (REJECT flows) or "flows"
	Index int    // interval index in the snapshot
	Start time.Time
	Value int64 // bytes, REJECT flows or flows of the interval
	// Top is the interval's biggest talker: by bytes, or by flows for a
	// REJECT burst. Zero when the interval has no flows.
	Top Row
}

// Snapshot is what a page shows: every interval of the span in order.
type Snapshot struct {
	Meta
	Summary Summary
	Width   time.Duration
	// Widened is set when an explicit interval had to be widened.
	Widened bool
	Start   time.Time // start of interval 0
	// Intervals holds the span's intervals, empty ones included.
	Intervals []Interval
	Rules     map[string]RuleInfo
	Peaks     []Peak
	// SpanTop lists the talkers of the whole span, merged from the
	// intervals' full sketches (not only their listed rows).
	SpanTop IntervalTop
	// AddrAlerts lists, per address, its kept alerts, newest first.
	AddrAlerts map[netip.Addr]AddrAlerts
	// AddrsDropped counts addresses whose alerts were not kept (the bound
	// MaxAddresses).
	AddrsDropped int64
	// MaxAddresses is the bound in force.
	MaxAddresses int
}

// Interval is one interval of a snapshot.
type Interval struct {
	Accept, Reject Counts
	Alerts         [4]int64 // by severity band: 0-6, 7-11, 12-14, 15-16
	Top            IntervalTop
	RejectTop      IntervalTop // REJECT talkers by flows
	Rules          map[string]RuleHits
}

// RuleHits are one rule's alerts in an interval.
type RuleHits struct {
	N           int64
	First, Last int64
}

// RuleInfo is a rule as the page shows it.
type RuleInfo struct {
	Level       int
	Description string // the latest one seen
}

// AddrAlerts are the alerts kept for one address.
type AddrAlerts struct {
	N      int64       // alerts that carried it
	Alerts []AlertItem // newest first, capped (see Options)
}

// AlertItem is one kept alert.
type AlertItem struct {
	Time        int64
	RuleID      string
	Level       int
	Description string
}

// Capped reports whether some alerts of the address are not listed.
func (a AddrAlerts) Capped() bool { return int64(len(a.Alerts)) < a.N }

// Snapshot returns a copy of what the aggregator holds, ready to render.
func (a *Aggregator) Snapshot(meta Meta) *Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.opts.Window > 0 {
		a.prune(a.opts.Now().Unix() - int64(a.opts.Window/time.Second))
	}
	if meta.Generated.IsZero() {
		meta.Generated = time.Now()
	}
	if meta.Title == "" {
		meta.Title = "VPC traffic"
	}
	w := a.ladder[a.step]
	s := &Snapshot{Meta: meta, Summary: a.sum, Width: time.Duration(w) * time.Second, Widened: a.widened,
		Rules: map[string]RuleInfo{}, AddrAlerts: map[netip.Addr]AddrAlerts{},
		AddrsDropped: a.addrs.dropped, MaxAddresses: a.opts.MaxAddresses}
	s.Summary.Accounts, s.Summary.Interfaces, s.Summary.Regions = len(a.sets[0].m), len(a.sets[1].m), len(a.sets[2].m)
	lo, hi := a.lo, a.hi
	if a.opts.Window > 0 {
		// A rolling page always shows the whole window, up to now.
		now := a.opts.Now().Unix()
		lo = floorDiv(now-int64(a.opts.Window/time.Second), w)
		hi = max(floorDiv(now, w), hi)
	}
	if !a.any && a.opts.Window == 0 {
		return s
	}
	s.Start = time.Unix(lo*w, 0).UTC()
	s.Intervals = make([]Interval, hi-lo+1)
	k := a.opts.TopK
	for idx, b := range a.buckets {
		if idx < lo || idx > hi {
			continue
		}
		iv := &s.Intervals[idx-lo]
		iv.Accept, iv.Reject = b.tot[0], b.tot[1]
		iv.Alerts = b.alerts
		iv.Top.Rows, iv.Top.Rest = b.talk.top(k)
		iv.RejectTop.Rows, iv.RejectTop.Rest = b.rej.top(5)
		if len(b.rules) > 0 {
			iv.Rules = make(map[string]RuleHits, len(b.rules))
			for id, r := range b.rules {
				iv.Rules[id] = RuleHits{N: r.n, First: r.first, Last: r.last}
			}
		}
	}
	var sketches []*sketch
	for idx, b := range a.buckets {
		if idx >= lo && idx <= hi && b.talk != nil {
			sketches = append(sketches, b.talk)
		}
	}
	s.SpanTop = spanTop(sketches, k)
	for id, r := range a.rules {
		s.Rules[id] = RuleInfo{Level: r.level, Description: r.desc}
	}
	for ip, aa := range a.addrs.m.all {
		var items []AlertItem
		for _, ring := range aa.rules {
			for _, r := range ring.refs {
				items = append(items, AlertItem{Time: r.time, RuleID: ring.rule, Level: ring.level, Description: r.desc})
			}
		}
		sort.Slice(items, func(i, j int) bool {
			if items[i].Time != items[j].Time {
				return items[i].Time > items[j].Time
			}
			return items[i].RuleID < items[j].RuleID
		})
		s.AddrAlerts[ip] = AddrAlerts{N: aa.n, Alerts: items}
	}
	s.Peaks = findPeaks(s)
	return s
}

// findPeaks lists the 10 intervals with the most bytes, then the 5 with the
// most REJECT flows and the 5 with the most flows, biggest first; an
// interval with nothing of that kind is no peak.
func findPeaks(s *Snapshot) []Peak {
	var peaks []Peak
	pick := func(kind string, n int, value func(*Interval) int64) {
		idx := make([]int, 0, len(s.Intervals))
		for i := range s.Intervals {
			if value(&s.Intervals[i]) > 0 {
				idx = append(idx, i)
			}
		}
		sort.SliceStable(idx, func(a, b int) bool {
			return value(&s.Intervals[idx[a]]) > value(&s.Intervals[idx[b]])
		})
		if len(idx) > n {
			idx = idx[:n]
		}
		for _, i := range idx {
			iv := &s.Intervals[i]
			p := Peak{Kind: kind, Index: i, Start: s.Start.Add(time.Duration(i) * s.Width), Value: value(iv)}
			top := iv.Top.Rows
			if kind == "reject" {
				top = iv.RejectTop.Rows
			}
			if len(top) > 0 {
				p.Top = top[0]
			}
			peaks = append(peaks, p)
		}
	}
	pick("bytes", 10, func(iv *Interval) int64 { return iv.Accept.Bytes + iv.Reject.Bytes })
	pick("reject", 5, func(iv *Interval) int64 { return iv.Reject.Flows })
	pick("flows", 5, func(iv *Interval) int64 { return iv.Accept.Flows + iv.Reject.Flows })
	return peaks
}

// spanTop merges the sketches of all intervals into one list of the k
// biggest talkers. Summing every monitored entry is cheap; bounding a
// talker where an interval did not monitor it costs a look at every
// interval, so it is done for the 4k best candidates only, and the talkers
// beyond them are bounded by their monitored upper bounds plus every
// interval's floor.
func spanTop(sketches []*sketch, k int) IntervalTop {
	type acc struct {
		key   tkey
		c     Counts
		hi    int64
		exact bool
	}
	var floors int64
	all := map[tkey]*acc{}
	for _, sk := range sketches {
		floors += sk.floor
		for _, e := range sk.entries {
			if !e.used {
				continue
			}
			a := all[e.key]
			if a == nil {
				a = &acc{key: e.key, exact: true}
				all[e.key] = a
			}
			a.c.add(e.c)
			a.hi += e.hi
			a.exact = a.exact && e.exact
		}
	}
	list := make([]*acc, 0, len(all))
	for _, a := range all {
		list = append(list, a)
	}
	order := func(l []*acc) {
		sort.Slice(l, func(i, j int) bool {
			if l[i].hi != l[j].hi {
				return l[i].hi > l[j].hi
			}
			if l[i].c.Bytes != l[j].c.Bytes {
				return l[i].c.Bytes > l[j].c.Bytes
			}
			return talkerLess(l[i].key.talker(), l[j].key.talker())
		})
	}
	order(list)
	rest := floors // a talker no interval monitored
	if n := 4 * k; len(list) > n {
		// Beyond the candidates: their monitored bounds, plus whatever the
		// intervals that did not monitor them may have counted.
		rest = max(rest, list[n].hi+floors)
		list = list[:n]
	}
	for _, a := range list {
		h := hashTalker(a.key)
		for _, sk := range sketches {
			if !sk.has(a.key, h) && sk.evicted.has(h) {
				a.hi += sk.floor
				a.exact = false
			}
		}
	}
	order(list)
	if len(list) > k {
		rest = max(rest, list[k].hi)
		list = list[:k]
	}
	out := IntervalTop{Rest: rest, Rows: make([]Row, len(list))}
	for i, a := range list {
		out.Rows[i] = Row{Talker: a.key.talker(), Counts: a.c, Hi: a.hi, Exact: a.exact}
	}
	return out
}
