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
	m       addrMap
	opts    *Options
	dropped int64             // addresses dropped to stay within the bound
	descs   map[string]string // interned descriptions
}

// addrMap maps addresses to their alerts: IPv4 ones by a uint32, for the
// map's fast path.
type addrMap struct {
	v4 map[uint32]*addrAlerts
	v6 map[[16]byte]*addrAlerts
}

func newAddrMap() addrMap {
	return addrMap{v4: map[uint32]*addrAlerts{}, v6: map[[16]byte]*addrAlerts{}}
}

func (m *addrMap) len() int { return len(m.v4) + len(m.v6) }

func v4key(ip netip.Addr) uint32 {
	b := ip.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (m *addrMap) get(ip netip.Addr) *addrAlerts {
	if ip.Is4() {
		return m.v4[v4key(ip)]
	}
	return m.v6[ip.As16()]
}

func (m *addrMap) put(ip netip.Addr, a *addrAlerts) {
	if ip.Is4() {
		m.v4[v4key(ip)] = a
	} else {
		m.v6[ip.As16()] = a
	}
}

func (m *addrMap) del(ip netip.Addr) {
	if ip.Is4() {
		delete(m.v4, v4key(ip))
	} else {
		delete(m.v6, ip.As16())
	}
}

// all yields every address and its alerts.
func (m *addrMap) all(yield func(netip.Addr, *addrAlerts) bool) {
	for k, a := range m.v4 {
		if !yield(netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}), a) {
			return
		}
	}
	for k, a := range m.v6 {
		if !yield(netip.AddrFrom16(k), a) {
			return
		}
	}
}

type addrAlerts struct {
	n        int64 // alerts that carried the address
	maxLevel int
	last     int64
	rules    []ruleRing // one per rule, at most AlertsPerAddress/AlertsPerRule
}

// ruleRing holds the newest alerts of one rule for one address.
type ruleRing struct {
	rule  string
	level int
	refs  []alertRef // at most AlertsPerRule
}

type alertRef struct {
	time int64
	desc string
}

// add keeps r for ip; desc is r.Description interned.
func (t *addrTable) add(ip netip.Addr, r *AlertRec, desc string) {
	if !ip.IsValid() {
		return
	}
	aa := t.m.get(ip)
	if aa == nil {
		if t.m.len() >= t.opts.MaxAddresses {
			t.shrink()
		}
		aa = &addrAlerts{}
		t.m.put(ip, aa)
	}
	aa.n++
	aa.maxLevel = max(aa.maxLevel, r.Level)
	aa.last = max(aa.last, r.Time)
	var ring *ruleRing
	for i := range aa.rules {
		if aa.rules[i].rule == r.RuleID {
			ring = &aa.rules[i]
			break
		}
	}
	if ring == nil {
		maxRules := max(1, t.opts.AlertsPerAddress/t.opts.AlertsPerRule)
		if len(aa.rules) < maxRules {
			aa.rules = append(aa.rules, ruleRing{})
			ring = &aa.rules[len(aa.rules)-1]
		} else {
			// Replace the rule of the lowest level, then the one seen
			// longest ago, unless it outranks this one.
			v := 0
			for i := range aa.rules {
				if ringLess(&aa.rules[i], &aa.rules[v]) {
					v = i
				}
			}
			if aa.rules[v].level > r.Level {
				return
			}
			ring = &aa.rules[v]
			ring.refs = ring.refs[:0]
		}
		ring.rule, ring.level = r.RuleID, r.Level
	}
	if len(ring.refs) < t.opts.AlertsPerRule {
		ring.refs = append(ring.refs, alertRef{time: r.Time, desc: desc})
		return
	}
	oldest := 0
	for i := range ring.refs {
		if ring.refs[i].time < ring.refs[oldest].time {
			oldest = i
		}
	}
	old := &ring.refs[oldest]
	if old.time > r.Time {
		return
	}
	old.time, old.desc = r.Time, desc
}

func ringLess(a, b *ruleRing) bool {
	if a.level != b.level {
		return a.level < b.level
	}
	return newest(a) < newest(b)
}

func newest(r *ruleRing) int64 {
	var t int64
	for _, x := range r.refs {
		t = max(t, x.time)
	}
	return t
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
	all := make([]scored, 0, t.m.len())
	for ip, a := range t.m.all {
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
		t.m.del(s.ip)
		t.dropped++
	}
}

// prune forgets the alerts older than cut (a rolling window).
func (t *addrTable) prune(cut int64) {
	for ip, a := range t.m.all {
		if a.last < cut {
			t.m.del(ip)
			continue
		}
		rules := a.rules[:0]
		for _, ring := range a.rules {
			kept := ring.refs[:0]
			for _, r := range ring.refs {
				if r.time >= cut {
					kept = append(kept, r)
				}
			}
			if ring.refs = kept; len(kept) > 0 {
				rules = append(rules, ring)
			}
		}
		a.rules = rules
	}
}
