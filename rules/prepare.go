package rules

import (
	"math/bits"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// A pipelined evaluation in two halves. Prepare does everything that
// depends on the event alone — every condition test and the walk of each
// tree, the descriptions, the group keys of aggregates — and may run on any
// goroutine, for many events at once. Where the walk reaches a rule whose
// outcome depends on correlation state (an aggregate or a frequency rule
// whose own tests held: a gate), Prepare records the gate and goes on as if
// it did not fire, which is what the serial walk does when it does not.
// Finish then does the rest in event order: each gate's aggregate window or
// if_matched_sid search (walking the gate's children if it fires), the
// fired counters (firedtimes), ignore and the correlation memory. Prepare
// then Finish on each event, in order, gives exactly what EvalAll gives,
// run-time error counts and reports included.

// Prepared is what Prepare found for one event, and then what Finish
// decided. It is reused from event to event: the slices Finish returns
// alias it until the next Prepare.
type Prepared struct {
	passes []prepPass
	gates  []prepGate
	uses   []errUse
	// buf holds the descriptions Prepare expanded and the aggregates'
	// group keys and values.
	buf           []byte
	desc, prevOut []byte // Finish's descriptions and previous outputs
}

// prepPass is one tree tried: the stock tree (root nil) or a pack root
// whose walk left something to Finish (a result, a gate or an error).
type prepPass struct {
	root *Rule
	// final is the pass's result when no gate fires, and parent the rule
	// above it.
	final, parent *Rule
	// gates are p.gates[gateStart:gateEnd], in walk order.
	gateStart, gateEnd int
	// hasDesc says that buf[descStart:descEnd] is final's description.
	hasDesc            bool
	descStart, descEnd int
}

// prepGate is an aggregate or frequency rule reached by Prepare's walk.
type prepGate struct {
	r     *Rule
	depth int // its depth
	// parent is the rule above it, nil for a top-level rule: the walk
	// only ever reads the last rule of evalCtx.path (the parent of its
	// result), so the rest of the ancestors is not kept.
	parent *Rule
	// An aggregate's group key and field value: a string field's own
	// bytes in the event (which does not change until Finish), else text
	// kept in p.buf (a key of several fields, a number's text); counted
	// is false when a same_field or the field is missing (the event is
	// not counted).
	key, val []byte
	counted  bool
}

// errUse is a run-time error of a condition met by Prepare's walk of pass
// pass after gate-1 of p.gates (gate = the number of gates recorded before
// it): the serial walk would have counted and maybe reported it there.
type errUse struct {
	pass, gate int
	r          *Rule
	err        error
}

// reset readies p for an event.
func (p *Prepared) reset() {
	p.passes = p.passes[:0]
	p.gates = p.gates[:0]
	p.uses = p.uses[:0]
	p.buf = p.buf[:0]
}

// Stateful reports whether a rule whose outcome depends on correlation
// state was reached (Finish decides it).
func (p *Prepared) Stateful() bool { return len(p.gates) > 0 }

// Prepare runs the half of the evaluation of ev that depends on ev alone
// and keeps the result in p. It touches no state of the Set, so it may run
// on many goroutines at once (one Evaluator each); ev must not change
// until Finish.
func (e *Evaluator) Prepare(ev *event.Event, p *Prepared) {
	c := &e.c
	p.reset()
	c.index(ev)
	c.indexed = true
	c.tr = nil
	c.p, c.spec = p, true
	c.walkPass(nil, false)
	if g := c.set.packRoots; g != nil && len(g.rules) > 0 {
		if len(g.discs) > 0 {
			mask := c.candidates(g)
			for w := range mask {
				word := mask[w]
				for word != 0 {
					i := w*64 + bits.TrailingZeros64(word)
					word &= word - 1
					if g.anyFull && g.full[i] {
						c.walkPass(g.rules[i], false)
						continue
					}
					// The root's tests left by the index, here: most
					// roots the index lets through fail one, and then
					// there is no pass to walk or record.
					if c.restHolds(g.rest[i]) {
						c.walkPass(g.rules[i], true)
					}
				}
			}
		} else {
			for _, r := range g.rules {
				c.walkPass(r, false)
			}
		}
	}
	c.p, c.spec, c.pass = nil, false, -1
}

// restHolds reports whether every conjunct in rest holds.
func (c *evalCtx) restHolds(rest []conjunct) bool {
	for i := range rest {
		if !rest[i].fn(c) {
			return false
		}
	}
	return true
}

// walkPass runs one of Prepare's passes, the stock tree (root nil) or a
// pack root tried as check does, and records it. held says that the
// root's own tests are known to hold (the index and restHolds found them
// so): the walk starts past them (passed).
func (c *evalCtx) walkPass(root *Rule, held bool) {
	p := c.p
	c.pass = len(p.passes)
	c.startPass()
	gates, uses := len(p.gates), len(p.uses)
	var f *Rule
	if root == nil {
		f = c.checkGroup(c.set.root, 0)
	} else {
		if held {
			f = c.passed(root, 0) // its tests held: no need to try them
		} else {
			f = c.check(root, 0, nil, false)
		}
		if f == nil && len(p.gates) == gates && len(p.uses) == uses {
			// A pack pass with no result, no gate and no error leaves
			// Finish (and Plan) nothing to do: it is not recorded. Most
			// pack roots tried end so (their own tests fail).
			return
		}
	}
	ps := prepPass{root: root, final: f, gateStart: gates, gateEnd: len(p.gates)}
	if f != nil {
		if n := len(c.path); n > 0 {
			ps.parent = c.path[n-1]
		}
		// finish and finishPack expand the description, unless ignore may
		// change the rule or a pack pass ends on a gate of level 0.
		if f.ignore == 0 && (root == nil || f.level > 0) {
			ps.hasDesc = true
			ps.descStart = len(p.buf)
			p.buf = f.tmpl.expand(p.buf, c, f.description)
			ps.descEnd = len(p.buf)
		}
	}
	p.passes = append(p.passes, ps)
}

// recordGate records that Prepare's walk reached r, an aggregate or
// frequency rule whose own tests held.
func (c *evalCtx) recordGate(r *Rule) {
	p := c.p
	g := prepGate{r: r, depth: len(c.path)}
	if n := len(c.path); n > 0 {
		g.parent = c.path[n-1]
	}
	if a := r.agg; a != nil {
		if len(a.same) == 1 {
			g.key, g.counted = c.keptField(a.same[0].sym)
		} else {
			start := len(p.buf)
			p.buf, g.counted = a.appendKey(c, p.buf)
			g.key = p.buf[start:len(p.buf):len(p.buf)]
		}
		if g.counted && a.kind.field {
			g.val, g.counted = c.keptField(a.field.sym)
		}
	}
	p.gates = append(p.gates, g)
}

// keptField returns the text of the field with symbol sym as Prepare keeps
// it for Finish: a string field's bytes in the event itself, without a
// copy, and so a number's when its text is its value (a short integer);
// another number's text (made in the Evaluator's buffer, which the next
// event reuses) copied into p.buf.
func (c *evalCtx) keptField(sym int32) ([]byte, bool) {
	i := c.idx[sym]
	if i == 0 {
		return nil, false
	}
	f := &c.ev.Fields[i-1]
	if f.Kind != event.Number {
		return f.Value, true
	}
	if v := c.nums[i-1]; len(v) > 0 && len(v) == len(f.Value) && &v[0] == &f.Value[0] {
		return v, true // the number's text is the event's own (numberText)
	}
	p := c.p
	start := len(p.buf)
	p.buf = append(p.buf, c.nums[i-1]...)
	return p.buf[start:len(p.buf):len(p.buf)], true
}

// errorUse records a run-time error met by Prepare's walk.
func (c *evalCtx) errorUse(r *Rule, err error) {
	c.p.uses = append(c.p.uses, errUse{pass: c.pass, gate: len(c.p.gates), r: r, err: err})
}

// Finish runs the stateful half of the evaluation of ev, which Prepare
// prepared in p, at processing time now, and returns what EvalAll would
// have returned: the stock tree's result first, then one Match per pack
// root whose tree matched. Events must be finished in the order they
// happened. The slice is valid until the Evaluator's next call; the bytes
// in it alias p until its next Prepare.
func (e *Evaluator) Finish(ev *event.Event, p *Prepared, now time.Time) []Match {
	c := &e.c
	c.ev = ev
	c.indexed = false
	c.now = now.Unix()
	c.tr = nil
	c.p = p
	// Descriptions and previous outputs go straight into p.
	ownDesc, ownPrev := c.desc, c.prevOut
	c.desc, c.prevOut = p.desc[:0], p.prevOut[:0]
	c.out = c.out[:0]
	u := 0
	for i := range p.passes {
		ps := &p.passes[i]
		c.pass = i
		c.startPass()
		var f *Rule
		decided := false
		for k := ps.gateStart; k < ps.gateEnd && !decided; k++ {
			if u < len(p.uses) {
				u = c.reportUses(u, i, k)
			}
			g := &p.gates[k]
			if c.fire(g) {
				// The serial walk goes into the gate's children now, and
				// on as before only if nothing there is the result.
				c.need()
				c.pathTo(g.parent)
				f = c.descend(g.r, g.depth)
				decided = f != nil
			}
		}
		if decided {
			for u < len(p.uses) && p.uses[u].pass == i {
				u++ // after the result: the serial walk never got there
			}
		} else {
			if u < len(p.uses) {
				u = c.reportUses(u, i, -1)
			}
			if f = ps.final; f != nil {
				if f.level > 0 || f.pack == "" {
					c.st.fired[f.index].Add(1)
				}
				c.pathTo(ps.parent)
			}
		}
		switch {
		case ps.root == nil:
			c.out = append(c.out, c.finish(f))
		case f != nil:
			c.out = append(c.out, c.finishPack(f))
		}
	}
	p.desc, p.prevOut = c.desc, c.prevOut
	c.desc, c.prevOut = ownDesc, ownPrev
	c.p, c.pass = nil, -1
	return c.out
}

// pathTo makes c.path the part of a walk's path Prepare keeps: parent, or
// nothing for a top-level rule (parent nil).
func (c *evalCtx) pathTo(parent *Rule) {
	c.path = c.path[:0]
	if parent != nil {
		c.path = append(c.path, parent)
	}
}

// reportUses counts and reports, from p.uses[u], the run-time errors pass
// met before its gate-th gate (all the pass's with gate < 0), and returns
// the next index.
func (c *evalCtx) reportUses(u, pass, gate int) int {
	uses := c.p.uses
	for ; u < len(uses) && uses[u].pass == pass && (gate < 0 || uses[u].gate <= gate); u++ {
		c.set.runtimeError(uses[u].r, uses[u].err)
	}
	return u
}

// fire runs a gate's aggregate window or if_matched_sid search and reports
// whether the rule fires.
func (c *evalCtx) fire(g *prepGate) bool {
	r := g.r
	if c.ans != nil {
		return c.answerGate(r)
	}
	if a := r.agg; a != nil {
		if !g.counted {
			return false
		}
		fired, _, _ := c.st.agg[r.index].addKey(c, a, g.key, g.val)
		return fired
	}
	c.need()
	fired, _ := c.st.mem[r.corr.target.index].search(c, r, c.now)
	return fired
}

// need indexes the current event if Finish has not yet.
func (c *evalCtx) need() {
	if !c.indexed {
		c.index(c.ev)
		c.indexed = true
	}
}

// describe returns r's description for the current event: Prepare's
// when it expanded it, else expanded now.
func (c *evalCtx) describe(r *Rule) []byte {
	if c.p != nil && c.pass >= 0 {
		if ps := &c.p.passes[c.pass]; ps.hasDesc && ps.final == r {
			return c.p.buf[ps.descStart:ps.descEnd:ps.descEnd]
		}
	}
	c.need()
	return c.expand(r)
}

// runtimeError counts a run-time error of r's condition and reports the
// first one (Options.OnRuntimeError).
func (s *Set) runtimeError(r *Rule, err error) {
	if r.cond.errors.Add(1) == 1 {
		if f := s.opts.OnRuntimeError; f != nil {
			f(r, err)
		}
	}
}
