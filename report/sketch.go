package report

import (
	"net/netip"
	"sort"
)

// Action is a flow's action column.
type Action uint8

// The actions of a flow record; ActionOther is anything else ("-").
const (
	ActionAccept Action = iota
	ActionReject
	ActionOther
)

// String returns the action as flow logs write it.
func (a Action) String() string {
	switch a {
	case ActionAccept:
		return "ACCEPT"
	case ActionReject:
		return "REJECT"
	}
	return "-"
}

// Talker identifies a conversation in the top-talker tables.
type Talker struct {
	Src, Dst netip.Addr
	DstPort  uint16
	Proto    uint8
	Action   Action
}

// Counts are the traffic of one talker (or of an interval).
type Counts struct {
	Bytes, Packets, Flows int64
}

func (c *Counts) add(o Counts) {
	c.Bytes += o.Bytes
	c.Packets += o.Packets
	c.Flows += o.Flows
}

// metric picks the count a sketch ranks by.
type metric uint8

const (
	byBytes metric = iota
	byFlows
)

func (m metric) of(c Counts) int64 {
	if m == byFlows {
		return c.Flows
	}
	return c.Bytes
}

// entry is one monitored talker of a sketch. Counts hold what was seen since
// it was monitored (lower bounds); hi bounds its ranked metric from above.
type entry struct {
	key   Talker
	c     Counts
	hi    int64
	exact bool // monitored since its first record: c is its full count
}

// sketch is a Space-Saving summary (Metwally et al., "Efficient computation
// of frequent and top-k elements in data streams", 2005) of at most cap
// talkers, kept as a min-heap on hi so that the smallest is evicted in
// O(log cap). floor bounds the ranked metric of every talker not monitored.
//
// A Bloom filter of the evicted talkers refines it: a talker the filter has
// never seen was never counted before, so when it arrives its count is exact
// (hi = its weight, not floor + weight), and a merge knows that the other
// side never counted it. False positives only make a row approximate.
type sketch struct {
	by      metric
	cap     int
	heap    []entry
	pos     map[Talker]int32
	floor   int64
	evicted bloom // nil until the first eviction
}

// bloom is a Bloom filter with three probes.
type bloom []uint64

func newBloom(capacity int) bloom { return make(bloom, max(16, capacity*2)) } // 128 bits per slot

func (b bloom) probes(h uint64, f func(word int, bit uint64) bool) bool {
	n := uint64(len(b)) * 64
	h2 := h>>33 | 1
	for i := range uint64(3) {
		x := (h + i*h2) % n
		if !f(int(x/64), 1<<(x%64)) {
			return false
		}
	}
	return true
}

func (b bloom) add(h uint64) {
	b.probes(h, func(w int, bit uint64) bool { b[w] |= bit; return true })
}

func (b bloom) has(h uint64) bool {
	return b != nil && b.probes(h, func(w int, bit uint64) bool { return b[w]&bit != 0 })
}

func (b bloom) or(o bloom) bloom {
	switch {
	case o == nil:
		return b
	case b == nil:
		return append(bloom(nil), o...)
	}
	for i := range b {
		b[i] |= o[i]
	}
	return b
}

// hashTalker mixes a talker into 64 bits (splitmix64 finaliser).
func hashTalker(k Talker) uint64 {
	a, d := k.Src.As16(), k.Dst.As16()
	var h uint64 = 0x9e3779b97f4a7c15
	for _, x := range [...]uint64{
		le64(a[0:8]), le64(a[8:16]), le64(d[0:8]), le64(d[8:16]),
		uint64(k.DstPort) | uint64(k.Proto)<<16 | uint64(k.Action)<<24,
	} {
		h ^= x
		h ^= h >> 30
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 27
		h *= 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// seenBefore reports whether k may have been counted and evicted.
func (s *sketch) seenBefore(k Talker) bool {
	return s.evicted.has(hashTalker(k))
}

func newSketch(by metric, capacity int) *sketch {
	return &sketch{by: by, cap: capacity, pos: make(map[Talker]int32, 8)}
}

// add counts c for k.
func (s *sketch) add(k Talker, c Counts) {
	w := s.by.of(c)
	if i, ok := s.pos[k]; ok {
		e := &s.heap[i]
		e.c.add(c)
		e.hi += w
		s.down(int(i))
		return
	}
	e := entry{key: k, c: c, hi: w, exact: true}
	if s.seenBefore(k) {
		e.hi, e.exact = s.floor+w, false
	}
	if len(s.heap) < s.cap {
		s.heap = append(s.heap, e)
		i := len(s.heap) - 1
		s.pos[k] = int32(i)
		s.up(i)
		return
	}
	// Evict the smallest: its talker may have had up to its hi.
	old := s.heap[0]
	delete(s.pos, old.key)
	if old.hi > s.floor {
		s.floor = old.hi
	}
	if s.evicted == nil {
		s.evicted = newBloom(s.cap)
	}
	s.evicted.add(hashTalker(old.key))
	s.heap[0] = e
	s.pos[k] = 0
	s.down(0)
}

func (s *sketch) less(i, j int) bool { return s.heap[i].hi < s.heap[j].hi }

func (s *sketch) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.pos[s.heap[i].key] = int32(i)
	s.pos[s.heap[j].key] = int32(j)
}

func (s *sketch) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *sketch) down(i int) {
	n := len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}

// merge returns a sketch summarising the streams of s and o together (the
// mergeable-summaries construction: a talker missing from one side may have
// had up to that side's floor there).
func (s *sketch) merge(o *sketch) *sketch {
	if o == nil {
		return s
	}
	if s == nil {
		return o
	}
	all := make(map[Talker]entry, len(s.heap)+len(o.heap))
	for _, e := range s.heap {
		all[e.key] = e
	}
	for _, e := range o.heap {
		if m, ok := all[e.key]; ok {
			m.c.add(e.c)
			m.hi += e.hi
			m.exact = m.exact && e.exact
			all[e.key] = m
			continue
		}
		// Not monitored by s: s may have counted it up to its floor.
		if s.seenBefore(e.key) {
			e.hi += s.floor
			e.exact = false
		}
		all[e.key] = e
	}
	for _, e := range s.heap {
		if _, ok := o.pos[e.key]; !ok && o.seenBefore(e.key) {
			m := all[e.key]
			m.hi += o.floor
			m.exact = false
			all[e.key] = m
		}
	}
	entries := make([]entry, 0, len(all))
	for _, e := range all {
		entries = append(entries, e)
	}
	sortEntries(entries)
	n := &sketch{by: s.by, cap: s.cap, floor: s.floor + o.floor}
	n.evicted = s.evicted.or(o.evicted)
	if len(entries) > n.cap {
		if n.evicted == nil {
			n.evicted = newBloom(n.cap)
		}
		for _, e := range entries[n.cap:] {
			if e.hi > n.floor {
				n.floor = e.hi
			}
			n.evicted.add(hashTalker(e.key))
		}
		entries = entries[:n.cap]
	}
	n.heap = entries
	n.pos = make(map[Talker]int32, len(entries))
	// A slice sorted by hi descending is a max-heap; rebuild as a min-heap.
	for i := range n.heap {
		n.pos[n.heap[i].key] = int32(i)
	}
	for i := len(n.heap)/2 - 1; i >= 0; i-- {
		n.down(i)
	}
	return n
}

// Row is one line of a top-talker table. Counts are exact when Exact is
// set; otherwise they are what was counted (lower bounds) and Hi bounds the
// ranked metric from above.
type Row struct {
	Talker
	Counts
	Hi    int64
	Exact bool
}

// top returns the k biggest talkers, biggest first, and an upper bound of
// the ranked metric of every talker it leaves out.
func (s *sketch) top(k int) (rows []Row, rest int64) {
	if s == nil {
		return nil, 0
	}
	entries := append([]entry(nil), s.heap...)
	sortEntries(entries)
	rest = s.floor
	if len(entries) > k {
		if entries[k].hi > rest {
			rest = entries[k].hi
		}
		entries = entries[:k]
	}
	rows = make([]Row, len(entries))
	for i, e := range entries {
		rows[i] = Row{Talker: e.key, Counts: e.c, Hi: e.hi, Exact: e.exact}
	}
	return rows, rest
}

// sortEntries orders by hi descending, then by counted value, then by key,
// so that equal inputs give equal pages.
func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool {
		a, b := &es[i], &es[j]
		if a.hi != b.hi {
			return a.hi > b.hi
		}
		if a.c.Bytes != b.c.Bytes {
			return a.c.Bytes > b.c.Bytes
		}
		return talkerLess(a.key, b.key)
	})
}

func talkerLess(a, b Talker) bool {
	if c := a.Src.Compare(b.Src); c != 0 {
		return c < 0
	}
	if c := a.Dst.Compare(b.Dst); c != 0 {
		return c < 0
	}
	if a.DstPort != b.DstPort {
		return a.DstPort < b.DstPort
	}
	if a.Proto != b.Proto {
		return a.Proto < b.Proto
	}
	return a.Action < b.Action
}
