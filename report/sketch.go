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

// tkey is a Talker as a map key without pointers (netip.Addr holds one for
// its zone), which hashes and compares faster.
type tkey struct {
	src, dst [16]byte
	port     uint16
	proto    uint8
	action   Action
	v4       uint8 // bit 0: src is IPv4, bit 1: dst is IPv4
}

func keyOf(t Talker) tkey {
	k := tkey{src: t.Src.As16(), dst: t.Dst.As16(), port: t.DstPort, proto: t.Proto, action: t.Action}
	if t.Src.Is4() {
		k.v4 |= 1
	}
	if t.Dst.Is4() {
		k.v4 |= 2
	}
	if !t.Src.IsValid() {
		k.v4 |= 4
	}
	if !t.Dst.IsValid() {
		k.v4 |= 8
	}
	return k
}

func addrOf(b [16]byte, v4, invalid bool) netip.Addr {
	switch {
	case invalid:
		return netip.Addr{}
	case v4:
		return netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrFrom16(b)
}

func (k tkey) talker() Talker {
	return Talker{Src: addrOf(k.src, k.v4&1 != 0, k.v4&4 != 0), Dst: addrOf(k.dst, k.v4&2 != 0, k.v4&8 != 0),
		DstPort: k.port, Proto: k.proto, Action: k.action}
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
	key   tkey
	h     uint64 // hashTalker(key)
	c     Counts
	hi    int64
	exact bool // monitored since its first record: c is its full count
	used  bool // the slot holds a talker
}

// sketch is a Space-Saving summary (Metwally et al., "Efficient computation
// of frequent and top-k elements in data streams", 2005) of at most cap
// talkers, evicting in batches: when it is full, the half with the smallest
// upper bounds goes at once, so that an eviction costs O(1) amortised map
// updates instead of a heap's O(log cap). floor bounds the ranked metric of
// every talker not monitored: the largest upper bound ever evicted.
//
// The talkers are found through an open-addressing index over the slots
// rather than a Go map: a talker's hash serves the index and the Bloom
// filter alike, and an eviction rebuilds the index in one pass (no deletes).
//
// A Bloom filter of the evicted talkers refines it: a talker the filter has
// never seen was never counted before, so when it arrives its count is exact
// (hi = its weight, not floor + weight), and a merge knows that the other
// side never counted it. False positives only make a row approximate.
type sketch struct {
	by      metric
	cap     int
	entries []entry // slots; a free slot has a zero key and is in free
	free    []int32
	n       int     // monitored talkers (used slots)
	index   []int32 // linear probing; slot+1 of entries, 0 when empty; a power of two ≥ 2*cap long
	floor   int64
	evicted bloom // nil until the first eviction
}

// bloom is a Bloom filter with three probes.
type bloom []uint64

// newBloom returns a filter of at least 128 bits per slot, a power of two.
func newBloom(capacity int) bloom {
	n := 16
	for n < capacity*2 {
		n *= 2
	}
	return make(bloom, n)
}

func (b bloom) probes(h uint64, f func(word int, bit uint64) bool) bool {
	mask := uint64(len(b))*64 - 1
	h2 := h>>33 | 1
	for i := range uint64(3) {
		x := (h + i*h2) & mask
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
func hashTalker(k tkey) uint64 {
	var h uint64 = 0x9e3779b97f4a7c15
	for _, x := range [...]uint64{
		le64(k.src[0:8]), le64(k.src[8:16]), le64(k.dst[0:8]), le64(k.dst[8:16]),
		uint64(k.port) | uint64(k.proto)<<16 | uint64(k.action)<<24 | uint64(k.v4)<<32,
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

// seenBefore reports whether the talker of hash h may have been counted
// and evicted.
func (s *sketch) seenBefore(h uint64) bool {
	return s.evicted.has(h)
}

func newSketch(by metric, capacity int) *sketch {
	return &sketch{by: by, cap: capacity}
}

// find returns the slot of k (of hash h) in entries, or -1, and where in
// the index it is or would go.
func (s *sketch) find(k tkey, h uint64) (slot int32, at int) {
	mask := len(s.index) - 1
	for at = int(h) & mask; ; at = (at + 1) & mask {
		v := s.index[at]
		if v == 0 {
			return -1, at
		}
		if e := &s.entries[v-1]; e.h == h && e.key == k {
			return v - 1, at
		}
	}
}

// has reports whether k is monitored.
func (s *sketch) has(k tkey, h uint64) bool {
	if s.n == 0 {
		return false
	}
	i, _ := s.find(k, h)
	return i >= 0
}

// reindex rebuilds the index from the used slots.
func (s *sketch) reindex() {
	size := 16
	for size < 2*max(s.cap, len(s.entries)) {
		size *= 2
	}
	if len(s.index) != size {
		s.index = make([]int32, size)
	} else {
		clear(s.index)
	}
	mask := size - 1
	for i := range s.entries {
		if !s.entries[i].used {
			continue
		}
		at := int(s.entries[i].h) & mask
		for s.index[at] != 0 {
			at = (at + 1) & mask
		}
		s.index[at] = int32(i) + 1
	}
}

// add counts c for k.
func (s *sketch) add(k tkey, c Counts) {
	w := s.by.of(c)
	h := hashTalker(k)
	if s.index == nil {
		s.reindex()
	}
	i, at := s.find(k, h)
	if i >= 0 {
		e := &s.entries[i]
		e.c.add(c)
		e.hi += w
		return
	}
	e := entry{key: k, h: h, c: c, hi: w, exact: true, used: true}
	if s.seenBefore(h) {
		e.hi, e.exact = s.floor+w, false
	}
	if s.n >= s.cap {
		s.evictHalf() // rebuilds the index
		_, at = s.find(k, h)
	}
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
		s.entries[i] = e
	} else {
		i = int32(len(s.entries))
		s.entries = append(s.entries, e)
	}
	s.index[at] = i + 1
	s.n++
}

// evictHalf evicts the monitored talkers whose upper bounds are below the
// median (and enough of those at it), raising floor to the largest evicted.
func (s *sketch) evictHalf() {
	his := make([]int64, 0, s.n)
	for i := range s.entries {
		if s.entries[i].used {
			his = append(his, s.entries[i].hi)
		}
	}
	drop := len(his) / 2
	if drop == 0 {
		drop = len(his)
	}
	cut := nth(his, drop-1) // evict every hi < cut, and hi == cut while drop lasts
	below := 0
	for _, h := range his {
		if h < cut {
			below++
		}
	}
	atCut := drop - below
	if s.evicted == nil {
		s.evicted = newBloom(s.cap)
	}
	for i := range s.entries {
		e := &s.entries[i]
		if !e.used || e.hi > cut || (e.hi == cut && atCut == 0) {
			continue
		}
		if e.hi == cut {
			atCut--
		}
		s.floor = max(s.floor, e.hi)
		s.evicted.add(e.h)
		*e = entry{}
		s.n--
		s.free = append(s.free, int32(i))
	}
	s.reindex()
}

// nth returns the value that would be at index n if v were sorted
// (Hoare's selection; v is reordered).
func nth(v []int64, n int) int64 {
	lo, hi := 0, len(v)-1
	for lo < hi {
		p := v[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		switch {
		case n <= j:
			hi = j
		case n >= i:
			lo = i
		default:
			return v[n]
		}
	}
	return v[n]
}

// live returns the monitored entries.
func (s *sketch) live() []entry {
	out := make([]entry, 0, s.n)
	for _, e := range s.entries {
		if e.used {
			out = append(out, e)
		}
	}
	return out
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
	all := make(map[tkey]entry, s.n+o.n)
	for _, e := range s.live() {
		all[e.key] = e
	}
	for _, e := range o.live() {
		if m, ok := all[e.key]; ok {
			m.c.add(e.c)
			m.hi += e.hi
			m.exact = m.exact && e.exact
			all[e.key] = m
			continue
		}
		// Not monitored by s: s may have counted it up to its floor.
		if s.seenBefore(e.h) {
			e.hi += s.floor
			e.exact = false
		}
		all[e.key] = e
	}
	for _, e := range s.live() {
		if !o.has(e.key, e.h) && o.seenBefore(e.h) {
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
			n.evicted.add(e.h)
		}
		entries = entries[:n.cap]
	}
	n.entries, n.n = entries, len(entries)
	n.reindex()
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
	entries := s.live()
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
		rows[i] = Row{Talker: e.key.talker(), Counts: e.c, Hi: e.hi, Exact: e.exact}
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
		return talkerLess(a.key.talker(), b.key.talker())
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
