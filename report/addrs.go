package report

import (
	"net/netip"
	"sort"
)

// addrTable keeps, per address, the newest alerts of each rule that carried
// it, for the page's per-address list. It holds at most opts.MaxAddresses
// addresses: past that, the half with the lowest levels and fewest alerts is
// dropped (and counted), so memory stays bounded whatever the input.
type addrTable struct {
	m       map[netip.Addr]*addrAlerts
	opts    *Options
	dropped int64             // addresses dropped to stay within the bound
	descs   map[string]string // interned descriptions
}

type addrAlerts struct {
	n        int64 // alerts that carried the address
	maxLevel int
	last     int64
	recent   []alertRef // newest of each rule, capped
}

type alertRef struct {
	time  int64
	rule  string
	level int
	desc  string
}

func (t *addrTable) add(ip netip.Addr, r *AlertRec) {
	if !ip.IsValid() {
		return
	}
	aa := t.m[ip]
	if aa == nil {
		if len(t.m) >= t.opts.MaxAddresses {
			t.shrink()
		}
		aa = &addrAlerts{}
		t.m[ip] = aa
	}
	aa.n++
	aa.maxLevel = max(aa.maxLevel, r.Level)
	aa.last = max(aa.last, r.Time)
	ref := alertRef{time: r.Time, rule: r.RuleID, level: r.Level}
	// Keep the newest AlertsPerRule of this rule: replace its oldest if older.
	same, oldest := 0, -1
	for i := range aa.recent {
		if aa.recent[i].rule == r.RuleID {
			same++
			if oldest < 0 || aa.recent[i].time < aa.recent[oldest].time {
				oldest = i
			}
		}
	}
	if same >= t.opts.AlertsPerRule {
		if aa.recent[oldest].time > r.Time {
			return
		}
		ref.desc = t.intern(r.Description)
		aa.recent[oldest] = ref
		return
	}
	ref.desc = t.intern(r.Description)
	if len(aa.recent) < t.opts.AlertsPerAddress {
		aa.recent = append(aa.recent, ref)
		return
	}
	// Full: replace the oldest entry of the rule with the most entries.
	counts := map[string]int{}
	for _, x := range aa.recent {
		counts[x.rule]++
	}
	victim := -1
	for i, x := range aa.recent {
		if victim < 0 || counts[x.rule] > counts[aa.recent[victim].rule] ||
			counts[x.rule] == counts[aa.recent[victim].rule] && x.time < aa.recent[victim].time {
			victim = i
		}
	}
	if counts[aa.recent[victim].rule] > 1 || aa.recent[victim].time < r.Time {
		aa.recent[victim] = ref
	}
}

func (t *addrTable) intern(b []byte) string {
	if s, ok := t.descs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(t.descs) < 50000 {
		t.descs[s] = s
	}
	return s
}

// shrink drops the half of the addresses with the lowest levels, then the
// fewest alerts, then the oldest.
func (t *addrTable) shrink() {
	type scored struct {
		ip netip.Addr
		a  *addrAlerts
	}
	all := make([]scored, 0, len(t.m))
	for ip, a := range t.m {
		all = append(all, scored{ip, a})
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].a, all[j].a
		if a.maxLevel != b.maxLevel {
			return a.maxLevel < b.maxLevel
		}
		if a.n != b.n {
			return a.n < b.n
		}
		return a.last < b.last
	})
	for _, s := range all[:len(all)/2] {
		delete(t.m, s.ip)
		t.dropped++
	}
}

// prune forgets the alerts older than cut (a rolling window).
func (t *addrTable) prune(cut int64) {
	for ip, a := range t.m {
		if a.last < cut {
			delete(t.m, ip)
			continue
		}
		kept := a.recent[:0]
		for _, r := range a.recent {
			if r.time >= cut {
				kept = append(kept, r)
			}
		}
		a.recent = kept
	}
}
