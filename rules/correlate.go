package rules

import (
	"bytes"
	"sync"
)

// Correlation (docs/wazuh-compat.md, "Correlation": eventinfo.c Search_LastSids): a
// rule with if_matched_sid N looks at the events that previously alerted
// as N, newest first, within its timeframe; same_field / different_field
// filter them; it fires when frequency-1 of them are found. An event that
// already took part in a firing of this rule (matched ≥ level) stops the
// search, so counting restarts after a firing.

// memoryCap bounds the events kept per correlation target rule. With a
// frequency of at most 9999 this keeps every candidate Wazuh could count
// unless same_field/different_field skip most of them; each entry holds the
// event's full_log and the values of the compared fields.
const memoryCap = 10000

// correlation is the frequency part of a rule.
type correlation struct {
	target    *Rule
	frequency int   // as configured (2–9999)
	count     int   // frequency-2, as Wazuh stores it
	timeframe int64 // seconds
	base      TimeBase
	same      []corrField
	diff      []corrField
}

type corrField struct {
	name string
	sym  int32
	slot int // index into memEntry.vals
}

// memory holds the events whose final rule was a correlation target.
type memory struct {
	mu      sync.Mutex // guards everything below
	syms    []int32    // fields stored with each entry
	entries []memEntry
	start   int   // entries[start:] are live
	procWin int64 // the longest processing-time window of the searchers, -1 if none
	evWin   int64 // the longest event-time window of the searchers, -1 if none
	maxEvt  int64
}

type memEntry struct {
	proc    int64 // processing time, unix seconds
	evt     int64 // event time, unix seconds
	matched int   // level of the correlation rule this event took part in
	fullLog []byte
	vals    [][]byte // per memory.syms; nil = field absent
}

func newMemory(syms []int32, procWin, evWin int64) *memory {
	return &memory{syms: syms, procWin: procWin, evWin: evWin}
}

// memFields returns the fields the rules correlating on t compare, and
// assigns each its slot.
func (s *Set) memFields(t *Rule) ([]int32, int64, int64) {
	var syms []int32
	procWin, evWin := int64(-1), int64(-1) // -1: no searcher uses this clock
	slot := func(sym int32) int {
		for i, x := range syms {
			if x == sym {
				return i
			}
		}
		syms = append(syms, sym)
		return len(syms) - 1
	}
	for _, r := range s.rules {
		if r.corr == nil || r.corr.target != t {
			continue
		}
		for i := range r.corr.same {
			r.corr.same[i].slot = slot(r.corr.same[i].sym)
		}
		for i := range r.corr.diff {
			r.corr.diff[i].slot = slot(r.corr.diff[i].sym)
		}
		if r.corr.base == TimeEvent {
			evWin = max(evWin, r.corr.timeframe)
		} else {
			procWin = max(procWin, r.corr.timeframe)
		}
	}
	return syms, procWin, evWin
}

func (m *memory) expire(now int64) {
	for m.start < len(m.entries) {
		e := &m.entries[m.start]
		oldProc := m.procWin < 0 || now-e.proc > m.procWin
		oldEvt := m.evWin < 0 || m.maxEvt-e.evt > m.evWin
		if !(oldProc && oldEvt) && len(m.entries)-m.start <= memoryCap {
			break
		}
		*e = memEntry{}
		m.start++
	}
	if m.start > 64 && m.start > len(m.entries)/2 {
		n := copy(m.entries, m.entries[m.start:])
		clear(m.entries[n:])
		m.entries = m.entries[:n]
		m.start = 0
	}
}

// store remembers the current event as having alerted as the target.
func (m *memory) store(c *evalCtx, now int64, matched int) {
	e := memEntry{proc: now, evt: c.ev.Time, matched: matched, fullLog: fullLog(c.ev)}
	if len(m.syms) > 0 {
		e.vals = make([][]byte, len(m.syms))
		for i, sym := range m.syms {
			if v, ok := c.field(sym); ok {
				e.vals[i] = append([]byte{}, v...)
			}
		}
	}
	m.mu.Lock()
	if c.ev.Time > m.maxEvt {
		m.maxEvt = c.ev.Time
	}
	m.entries = append(m.entries, e)
	m.expire(now)
	m.mu.Unlock()
}

// search runs Search_LastSids for rule r. It reports whether r fires and
// sets c.curMatched and c.prev accordingly.
func (m *memory) search(c *evalCtx, r *Rule, now int64) (fired bool, seen int) {
	k := r.corr
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	var first *memEntry
	count := 0
	prev := c.prevScratch[:0]
	defer func() { c.prevScratch = prev[:0] }()
	for i := len(m.entries) - 1; i >= m.start; i-- {
		e := &m.entries[i]
		if k.base == TimeProcessing {
			if now-e.proc > k.timeframe {
				return false, count
			}
		} else if d := c.ev.Time - e.evt; d > k.timeframe || -d > k.timeframe {
			continue
		}
		if !sameFields(c, k.same, e) || !differentFields(c, k.diff, e) {
			continue
		}
		if e.matched >= r.level {
			return false, count
		}
		if count <= 10 {
			prev = append(prev, e.fullLog)
		}
		if count < k.count {
			count++
			if first == nil {
				first = e
			}
			continue
		}
		count++
		c.curMatched = r.level
		if first != nil {
			first.matched = r.level
		}
		c.prev = append(c.prev[:0], prev...)
		return true, count
	}
	return false, count
}

func sameFields(c *evalCtx, fs []corrField, e *memEntry) bool {
	for _, f := range fs {
		v, ok := c.field(f.sym)
		if !ok || e.vals[f.slot] == nil || !bytes.Equal(v, e.vals[f.slot]) {
			return false
		}
	}
	return true
}

func differentFields(c *evalCtx, fs []corrField, e *memEntry) bool {
	for _, f := range fs {
		v, ok := c.field(f.sym)
		if ok && e.vals[f.slot] != nil && bytes.Equal(v, e.vals[f.slot]) {
			return false
		}
	}
	return true
}
