package rules

import (
	"sort"

	"github.com/vpcalertd/vpcalertd/event"
)

// Sibling groups: the order Wazuh tries siblings in, and the per-value memo
// that lets a large group try only the siblings whose tests on a few
// fields can hold.

// siblings is an ordered group of children (or the top-level rules).
type siblings struct {
	rules []*Rule
	gid   int
	// discs are the fields most siblings test with single-field
	// conjuncts, most used first; none when the group is tried rule by
	// rule. The siblings that can match are those whose conjuncts on every
	// disc field hold, each remembered per value of the field.
	discs []memoField
	rest  [][]conjunct // per sibling: the conjuncts on no disc field
	// full is true, per sibling, when its condition must run whole on the
	// memo path (it runs on the VM); otherwise rest is all there is left.
	full []bool
	// anyFull says that some sibling is full: without one, full need not
	// be read per sibling.
	anyFull bool
	// common are the conjuncts every sibling has in its rest, taken out
	// of rest: on the memo path they are tested once per visit of the
	// group (candidates), not once per sibling tried.
	common []conjunct
}

// memoField is one field a sibling group is filtered on.
type memoField struct {
	sym  int32
	slot int      // index into evalCtx.memo
	fns  []boolFn // per sibling: its conjuncts on sym; nil = no constraint
}

func sortKey(level int) int {
	if level == 0 {
		return 99
	}
	return level
}

func (g *siblings) insert(r *Rule) {
	k := sortKey(r.sortLevel)
	i := 0
	for i < len(g.rules) && sortKey(g.rules[i].sortLevel) >= k {
		i++
	}
	g.rules = append(g.rules, nil)
	copy(g.rules[i+1:], g.rules[i:])
	g.rules[i] = r
}

// buildGroups numbers the sibling groups and picks, for each large group,
// the fields most siblings test on their own (up to maxMemoFields, each
// tested by at least minMemoSiblings siblings), so that Eval only tries
// the siblings whose tests on those fields' values hold.
func (s *Set) buildGroups() {
	var all []*siblings
	all = append(all, s.root, s.packRoots)
	for _, r := range s.rules {
		if r.kids != nil {
			all = append(all, r.kids)
		}
	}
	s.memoSlots = 0
	for i, g := range all {
		g.gid = i
		g.discs, g.anyFull = nil, false
		count := map[int32]int{}
		texts := map[int32]map[string]bool{} // the conjuncts' sources per field
		for _, r := range g.rules {
			if r.cond == nil || !r.cond.typed {
				continue
			}
			seen := map[int32]bool{}
			for _, cj := range r.cond.conj {
				if cj.field == event.NoSym {
					continue
				}
				if texts[cj.field] == nil {
					texts[cj.field] = map[string]bool{}
				}
				texts[cj.field][cj.src] = true
				if !seen[cj.field] {
					seen[cj.field] = true
					count[cj.field]++
				}
			}
		}
		var fields []int32
		for sym, n := range count {
			// A field every sibling tests the same way does not tell
			// siblings apart: testing it in each is cheaper than a memo.
			if n >= minMemoSiblings && (len(texts[sym]) > 1 || n < len(g.rules)) {
				fields = append(fields, sym)
			}
		}
		sort.Slice(fields, func(a, b int) bool {
			if count[fields[a]] != count[fields[b]] {
				return count[fields[a]] > count[fields[b]]
			}
			return fields[a] < fields[b]
		})
		if len(fields) > maxMemoFields {
			fields = fields[:maxMemoFields]
		}
		if len(fields) == 0 {
			continue
		}
		isDisc := map[int32]bool{}
		for _, sym := range fields {
			isDisc[sym] = true
			g.discs = append(g.discs, memoField{sym: sym, slot: s.memoSlots, fns: make([]boolFn, len(g.rules))})
			s.memoSlots++
		}
		g.rest = make([][]conjunct, len(g.rules))
		g.full = make([]bool, len(g.rules))
		for j, r := range g.rules {
			if r.cond != nil && !r.cond.typed {
				g.full[j] = true
				g.anyFull = true
			}
			if r.cond == nil || !r.cond.typed {
				continue
			}
			on := map[int32][]boolFn{}
			for _, cj := range r.cond.conj {
				if isDisc[cj.field] {
					on[cj.field] = append(on[cj.field], cj.fn)
				} else {
					g.rest[j] = append(g.rest[j], cj)
				}
			}
			for k := range g.discs {
				if fns := on[g.discs[k].sym]; len(fns) > 0 {
					g.discs[k].fns[j] = andAll(fns)
				}
			}
		}
		g.hoistCommon()
	}
	s.groups = len(all)
}

// hoistCommon moves the conjuncts that every sibling's rest has (the same
// source text, so the same test) into g.common. Typed conjuncts are pure,
// so testing one once before the siblings gives what testing it in each
// gives. Nothing is hoisted when a sibling runs on the VM or has no
// condition.
func (g *siblings) hoistCommon() {
	g.common = nil
	if len(g.rules) < 2 {
		return
	}
	for j := range g.rules {
		if g.full[j] || g.rules[j].cond == nil {
			return
		}
	}
	has := func(rest []conjunct, src string) bool {
		for _, cj := range rest {
			if cj.src == src {
				return true
			}
		}
		return false
	}
	for _, cj := range g.rest[0] {
		every := !has(g.common, cj.src)
		for j := 1; j < len(g.rules) && every; j++ {
			every = has(g.rest[j], cj.src)
		}
		if every {
			g.common = append(g.common, cj)
		}
	}
	for j := range g.rest {
		var kept []conjunct
		for _, cj := range g.rest[j] {
			if !has(g.common, cj.src) {
				kept = append(kept, cj)
			}
		}
		g.rest[j] = kept
	}
}

// candidates returns which siblings of g can match: none when a conjunct
// they all have fails, else the memo's mask.
func (c *evalCtx) candidates(g *siblings) []uint64 {
	if !c.restHolds(g.common) {
		return nil
	}
	if len(g.discs) == 1 {
		return c.fieldMask(g, &g.discs[0]) // memoMask's first case, without its call
	}
	return c.memoMask(g)
}

func andAll(fns []boolFn) boolFn {
	if len(fns) == 1 {
		return fns[0]
	}
	return func(c *evalCtx) bool {
		for _, f := range fns {
			if !f(c) {
				return false
			}
		}
		return true
	}
}

// memoMask returns which siblings of g can match given the values of the
// group's disc fields: the AND of one remembered mask per field.
func (c *evalCtx) memoMask(g *siblings) []uint64 {
	first := c.fieldMask(g, &g.discs[0])
	if len(g.discs) == 1 {
		return first
	}
	and := c.ands[g.gid]
	if and == nil {
		and = make([]uint64, len(first))
		c.ands[g.gid] = and
	}
	copy(and, first)
	for k := 1; k < len(g.discs); k++ {
		for w, x := range c.fieldMask(g, &g.discs[k]) {
			and[w] &= x
		}
	}
	return and
}

// fieldMask returns which siblings of g pass their conjuncts on one disc
// field, computing and remembering it on first sight of a value.
func (c *evalCtx) fieldMask(g *siblings, d *memoField) []uint64 {
	v, ok := c.field(d.sym)
	// The last value seen: flow records mostly repeat aws.source, and the
	// map lookup is the cost here.
	last := &c.lastMemo[d.slot]
	if last.mask != nil && last.ok == ok && string(last.val) == string(v) {
		return last.mask
	}
	key := c.key[:0]
	if ok {
		key = append(key, 1)
		key = append(key, v...)
	}
	c.key = key
	m := c.memo[d.slot]
	if mask, hit := m[string(key)]; hit {
		last.ok, last.val, last.mask = ok, append(last.val[:0], v...), mask
		return mask
	}
	words := (len(g.rules) + 63) / 64
	var mask []uint64
	if len(m) < memoMax {
		mask = make([]uint64, words)
	} else {
		// Each slot has its own scratch: a caller walks its mask while
		// the children's groups compute theirs.
		if cap(c.masks[d.slot]) < words {
			c.masks[d.slot] = make([]uint64, words)
		}
		mask = c.masks[d.slot][:words]
		clear(mask)
	}
	for i, fn := range d.fns {
		if fn == nil || fn(c) {
			mask[i/64] |= 1 << (i % 64)
		}
	}
	if len(m) < memoMax {
		if m == nil {
			m = make(map[string][]uint64)
			c.memo[d.slot] = m
		}
		m[string(key)] = mask
		last.ok, last.val, last.mask = ok, append(last.val[:0], v...), mask
	}
	return mask
}

// lastMemo is the most recent value of a memo slot and its mask (a mask
// from the memo map, never a scratch one).
type lastMemo struct {
	ok   bool
	val  []byte
	mask []uint64
}
