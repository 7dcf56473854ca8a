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
type sketch struct {
	by    metric
	cap   int
	heap  []entry
	pos   map[Talker]int32
	floor int64
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
	if len(s.heap) < s.cap {
		s.heap = append(s.heap, entry{key: k, c: c, hi: s.floor + w, exact: s.floor == 0})
		i := len(s.heap) - 1
		s.pos[k] = int32(i)
		s.up(i)
		return
	}
	// Evict the smallest: k may have had up to its hi before.
	old := s.heap[0]
	delete(s.pos, old.key)
	if old.hi > s.floor {
		s.floor = old.hi
	}
	s.heap[0] = entry{key: k, c: c, hi: s.floor + w, exact: false}
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
		e.hi += o.floor
		e.exact = e.exact && o.floor == 0
		all[e.key] = e
	}
	for _, e := range o.heap {
		if m, ok := all[e.key]; ok {
			m.c.add(e.c)
			m.hi += e.hi - o.floor
			m.exact = m.exact && e.exact
			all[e.key] = m
			continue
		}
		e.hi += s.floor
		e.exact = e.exact && s.floor == 0
		all[e.key] = e
	}
	entries := make([]entry, 0, len(all))
	for _, e := range all {
		entries = append(entries, e)
	}
	sortEntries(entries)
	n := &sketch{by: s.by, cap: s.cap, floor: s.floor + o.floor}
	if len(entries) > n.cap {
		for _, e := range entries[n.cap:] {
			if e.hi > n.floor {
				n.floor = e.hi
			}
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
