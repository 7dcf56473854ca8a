package rules

import (
	"fmt"
	"math/bits"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// minMemoSiblings is the number of siblings sharing a single-field
// conjunct from which a sibling group is filtered by a per-value memo
// instead of trying every sibling.
const minMemoSiblings = 4

// maxMemoFields bounds the fields one sibling group is filtered on.
const maxMemoFields = 3

// memoMax bounds each per-evaluator memo (distinct values of one field).
const memoMax = 4096

// fullLog is the text Wazuh keeps as an event's full_log.
func fullLog(ev *event.Event) []byte { return ev.AppendWodleJSON(nil) }

// evalCtx is the per-goroutine state of one evaluation.
type evalCtx struct {
	set  *Set
	st   *state
	ev   *event.Event
	idx  []int32  // per symbol: field index + 1, 0 = absent
	num  []byte   // texts of number fields
	nums [][]byte // per field of ev: a number field's text (index sets it)
	key  []byte
	memo []map[string][]uint64 // per memo slot (memoField.slot)
	// idxLayout and idxFields are the Event.Layout and field count of
	// the event idx was made for (0 when it is not kept: no layout, no
	// symbol, or an empty object among the fields).
	idxLayout uint64
	idxFields int

	now         int64 // processing time, unix seconds
	curMatched  int   // Eventinfo.matched of the current event
	prev        [][]byte
	prevScratch [][]byte
	path        []*Rule
	tr          *Trace
	env         exprEnv

	desc    []byte
	prevOut []byte
	out     []Match // EvalAll's results
	// addrs caches, per symbol, the field parsed as an IP address for the
	// current event (valid when its gen equals addrGen).
	addrs    []addrSlot
	addrGen  uint32
	aggKey   []byte     // scratch: an aggregate's group key
	masks    [][]uint64 // per memo slot: scratch mask when its memo is full
	ands     [][]uint64 // per sibling group: scratch for the AND of its masks
	lastMemo []lastMemo // per memo slot

	// The two halves of a pipelined evaluation (prepare.go). spec says
	// the walk is Prepare's: it touches no state, records in p each
	// aggregate and frequency rule it reaches (a gate) and goes on as if
	// it did not fire.
	p    *Prepared
	spec bool
	// pass is the index in p.passes of the pass being walked or
	// finished, or -1.
	pass int
	// indexed says whether idx describes ev (Finish indexes lazily).
	indexed bool
	// ans, when set, answers for the correlation state (Complete): the
	// shared store made the stateful decisions; ansErr is the first reply
	// that did not fit.
	ans    *SharedBatch
	ansErr error
	// holding is set between Hold and Release: the aggregates' locks
	// this evaluator takes stay taken (held) until Release.
	holding bool
	held    []*aggState
}

// Evaluator evaluates events on one goroutine without allocating: the
// slices in its Match results are valid until its next Eval. Use one per
// worker goroutine; Set.Eval is the goroutine-safe convenience.
type Evaluator struct {
	c evalCtx
}

// NewEvaluator returns an Evaluator for s.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{}
	e.c = evalCtx{
		set:      s,
		st:       s.st,
		idx:      make([]int32, s.syms.Len()),
		memo:     make([]map[string][]uint64, s.memoSlots),
		masks:    make([][]uint64, s.memoSlots),
		ands:     make([][]uint64, s.groups),
		lastMemo: make([]lastMemo, s.memoSlots),
		addrs:    make([]addrSlot, s.syms.Len()),
	}
	e.c.env.c = &e.c
	e.c.pass = -1
	return e
}

// Eval evaluates ev on the stock tree at processing time now, as Wazuh
// does (packs are not tried: see EvalAll); tr, when not nil, receives every
// rule tried. Match.Description and Match.PreviousOutput alias the
// Evaluator's buffers until its next Eval or EvalAll.
func (e *Evaluator) Eval(ev *event.Event, now time.Time, tr *Trace) Match {
	return e.c.eval(ev, now, tr)
}

// EvalAll evaluates ev on the stock tree and then on every pack root, each
// as a tree of its own: the first result is the stock tree's (its Rule is
// nil when nothing matched), followed by one Match per pack root whose tree
// matched, in load order. So a pack only ever adds results: the stock
// result is the one Eval gives. The slice and the bytes in it alias the
// Evaluator's buffers until its next Eval or EvalAll.
func (e *Evaluator) EvalAll(ev *event.Event, now time.Time, tr *Trace) []Match {
	return e.c.evalAll(ev, now, tr)
}

// EvalAll is Evaluator.EvalAll with a pooled Evaluator; it is safe for
// concurrent use and returns copies the caller owns.
func (s *Set) EvalAll(ev *event.Event, now time.Time, tr *Trace) []Match {
	e, ok := s.evals.Get().(*Evaluator)
	if !ok {
		e = s.NewEvaluator()
	}
	ms := e.c.evalAll(ev, now, tr)
	out := make([]Match, len(ms))
	for i, m := range ms {
		if m.Description != nil {
			m.Description = append([]byte(nil), m.Description...)
		}
		if m.PreviousOutput != nil {
			m.PreviousOutput = append([]byte(nil), m.PreviousOutput...)
		}
		out[i] = m
	}
	s.evals.Put(e)
	return out
}

// Eval evaluates ev at processing time now with a pooled Evaluator; it is
// safe for concurrent use. Description and PreviousOutput are copies the
// caller owns (one allocation per matched event); a worker that wants no
// allocation keeps its own Evaluator (NewEvaluator).
func (s *Set) Eval(ev *event.Event, now time.Time, tr *Trace) Match {
	e, ok := s.evals.Get().(*Evaluator)
	if !ok {
		e = s.NewEvaluator()
	}
	m := e.c.eval(ev, now, tr)
	if m.Description != nil || m.PreviousOutput != nil {
		buf := make([]byte, len(m.Description)+len(m.PreviousOutput))
		n := copy(buf, m.Description)
		copy(buf[n:], m.PreviousOutput)
		if m.Description != nil {
			m.Description = buf[:n:n]
		}
		if m.PreviousOutput != nil {
			m.PreviousOutput = buf[n:]
		}
	}
	s.evals.Put(e)
	return m
}

func (c *evalCtx) eval(ev *event.Event, now time.Time, tr *Trace) Match {
	c.begin(ev, now, tr)
	m := c.finish(c.checkGroup(c.set.root, 0))
	c.tr = nil
	return m
}

func (c *evalCtx) evalAll(ev *event.Event, now time.Time, tr *Trace) []Match {
	c.begin(ev, now, tr)
	c.out = append(c.out[:0], c.finish(c.checkGroup(c.set.root, 0)))
	c.packPasses()
	c.tr = nil
	return c.out
}

// begin readies the context for one event.
func (c *evalCtx) begin(ev *event.Event, now time.Time, tr *Trace) {
	c.index(ev)
	c.indexed = true
	c.now = now.Unix()
	c.tr = tr
	c.desc = c.desc[:0]
	c.prevOut = c.prevOut[:0]
	c.startPass()
}

// startPass resets what one tree's evaluation gathers.
func (c *evalCtx) startPass() {
	c.curMatched = 0
	c.prev = c.prev[:0]
	c.path = c.path[:0]
}

// packPasses evaluates every pack root that can match as a tree of its
// own, appending each result to c.out.
func (c *evalCtx) packPasses() {
	g := c.set.packRoots
	if g == nil || len(g.rules) == 0 {
		return
	}
	if c.tr == nil && len(g.discs) > 0 {
		mask := c.candidates(g)
		for w := range mask {
			word := mask[w]
			for word != 0 {
				i := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				c.startPass()
				if f := c.check(g.rules[i], 0, g.rest[i], !g.full[i]); f != nil {
					c.out = append(c.out, c.finishPack(f))
				}
			}
		}
		return
	}
	for _, r := range g.rules {
		c.startPass()
		if f := c.check(r, 0, nil, false); f != nil {
			c.out = append(c.out, c.finishPack(f))
		}
	}
}

// finishPack is finish for a pack pass: a level-0 result (a gate that
// nothing below matched, the common case) is returned without expanding its
// description or counting it, unless the evaluation is traced.
func (c *evalCtx) finishPack(r *Rule) Match {
	if r.level == 0 && c.tr == nil {
		return Match{Rule: r}
	}
	return c.finish(r)
}

// finish turns the final rule of one tree into a Match: level 0, ignore
// (docs/wazuh-compat.md, "Correlation"), the description, previous_output, and the
// correlation memory. Descriptions of one EvalAll follow each other in
// c.desc.
func (c *evalCtx) finish(r *Rule) Match {
	if r == nil {
		return Match{}
	}
	if r.level == 0 {
		return Match{Rule: r, Firedtimes: int(c.st.fired[r.index].Load()), Description: c.describe(r)}
	}
	if r.ignore > 0 {
		var parent *Rule
		if n := len(c.path); n > 0 {
			parent = c.path[n-1]
		}
		t := c.now
		if r.timeBase == TimeEvent {
			t = c.ev.Time
		}
		if c.ignored(r, t) {
			if parent == nil {
				return Match{}
			}
			r = parent
			c.prev = c.prev[:0]
		}
	}
	opts := &c.set.opts
	m := Match{
		Rule:       r,
		Alert:      (r.level >= opts.LogAlertLevel || r.opts.logAlert) && !r.opts.noLog,
		Mail:       (r.level >= opts.EmailAlertLevel || r.opts.alertByEmail) && !r.opts.noEmailAlert,
		Firedtimes: int(c.st.fired[r.index].Load()),
		Frequency:  r.Frequency(),
	}
	m.Description = c.describe(r)
	if len(c.prev) >= 2 {
		start := len(c.prevOut)
		for i, p := range c.prev {
			if i > 0 {
				c.prevOut = append(c.prevOut, '\n')
			}
			c.prevOut = append(c.prevOut, p...)
		}
		m.PreviousOutput = c.prevOut[start:len(c.prevOut):len(c.prevOut)]
	}
	if mem := c.st.mem[r.index]; mem != nil && c.ans == nil {
		c.need()
		mem.store(c, c.now, c.curMatched)
	}
	return m
}

// ignored is ignore's window of r at time t: whether r fired less than
// r.ignore seconds ago (then it is ignored), else it starts a new window.
func (c *evalCtx) ignored(r *Rule, t int64) bool {
	if c.ans != nil {
		return c.answerIgnore()
	}
	ia := &c.st.ignoredAt[r.index]
	switch t0 := ia.Load(); {
	case t0 == 0:
		ia.Store(t)
	case t-t0 < r.ignore:
		return true
	default:
		ia.Store(t)
	}
	return false
}

// expand appends r's description to c.desc and returns it.
func (c *evalCtx) expand(r *Rule) []byte {
	start := len(c.desc)
	c.desc = r.tmpl.expand(c.desc, c, r.description)
	return c.desc[start:len(c.desc):len(c.desc)]
}

// index maps the event's symbols to field positions. Events whose fields
// carry no symbol (built by hand, or by a producer that did not use
// Set.Symbols) are resolved by name, case-insensitively.
func (c *evalCtx) index(ev *event.Event) {
	c.ev = ev
	c.addrGen++
	if c.addrGen == 0 {
		clear(c.addrs)
		c.addrGen = 1
	}
	c.num = c.num[:0]
	if ev.Layout != 0 && ev.Layout == c.idxLayout && len(ev.Fields) == c.idxFields && c.sameIndex(ev) {
		return
	}
	c.num = c.num[:0]
	clear(c.idx)
	c.idxLayout = 0
	n := int32(len(c.idx))
	anySym, plain := false, true
	for i := range ev.Fields {
		f := &ev.Fields[i]
		switch f.Kind {
		case event.Number:
			c.numberAt(i)
		case event.EmptyObject:
			plain = false
		}
		s := f.Sym
		if s < 0 {
			continue
		}
		anySym = true
		if s < n && c.idx[s] == 0 && f.Kind != event.EmptyObject {
			c.idx[s] = int32(i + 1)
		}
	}
	if anySym && plain {
		// The next event of the same layout has the same symbols at the
		// same positions (Event.Layout): idx is kept for it.
		c.idxLayout, c.idxFields = ev.Layout, len(ev.Fields)
	}
	if anySym || len(ev.Fields) == 0 {
		return
	}
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Kind == event.EmptyObject {
			continue
		}
		c.key = c.key[:0]
		for j := 0; j < len(f.Key); j++ {
			c.key = append(c.key, lower(f.Key[j]))
		}
		if s := c.set.syms.LookupBytes(c.key); s >= 0 && s < n && c.idx[s] == 0 {
			c.idx[s] = int32(i + 1)
		}
	}
}

// sameIndex finishes index for an event of the layout idx was made for:
// the symbols' positions are the same, so only the number fields' texts
// are new. It reports false, to index from scratch, when the event has an
// empty object (not a field for rules), which the layout's promise of the
// same keys does not rule out.
func (c *evalCtx) sameIndex(ev *event.Event) bool {
	for i := range ev.Fields {
		switch ev.Fields[i].Kind {
		case event.Number:
			c.numberAt(i)
		case event.EmptyObject:
			return false
		}
	}
	return true
}

// numberAt keeps the text of field i of the current event, a number, in
// c.nums: field returns it without a call, which keeps field small enough
// to be inlined into every typed test.
func (c *evalCtx) numberAt(i int) {
	if n := len(c.ev.Fields); len(c.nums) < n {
		c.nums = make([][]byte, n+n/2)
	}
	c.nums[i] = c.numberText(&c.ev.Fields[i])
}

// field returns the text of the field with symbol sym (Wazuh FindField).
// sym comes from the Set's own table, so it is always within idx.
func (c *evalCtx) field(sym int32) ([]byte, bool) {
	if i := c.idx[sym]; i != 0 {
		if f := &c.ev.Fields[i-1]; f.Kind != event.Number {
			return f.Value, true
		}
		return c.nums[i-1], true
	}
	return nil, false
}

// numberText returns a number field as Wazuh's decoder prints it.
func (c *evalCtx) numberText(f *event.Field) []byte {
	if shortInt(f.Value) {
		// An integer of at most nine digits prints as itself ("%i").
		return f.Value
	}
	start := len(c.num)
	c.num = f.AppendText(c.num)
	return c.num[start:len(c.num):len(c.num)]
}

// shortInt reports a JSON integer literal of one to nine digits, with an
// optional minus sign: it fits a C int, so Wazuh prints it unchanged.
func shortInt(v []byte) bool {
	if len(v) > 0 && v[0] == '-' {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 9 || (v[0] == '0' && len(v) > 1) {
		return false
	}
	for _, b := range v {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

func (c *evalCtx) has(sym int32) bool {
	return uint32(sym) < uint32(len(c.idx)) && c.idx[sym] != 0
}

// checkGroup tries the siblings of g in order; the first one that matches
// (with its deepest matching descendant) wins.
func (c *evalCtx) checkGroup(g *siblings, depth int) *Rule {
	if g == nil {
		return nil
	}
	if c.tr == nil && len(g.discs) > 0 {
		mask := c.candidates(g)
		for w, word := range mask {
			for word != 0 {
				i := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				if f := c.check(g.rules[i], depth, g.rest[i], !g.full[i]); f != nil {
					return f
				}
			}
		}
		return nil
	}
	for _, r := range g.rules {
		if f := c.check(r, depth, nil, false); f != nil {
			return f
		}
	}
	return nil
}

// check is OS_CheckIfRuleMatch: the rule's own tests, then correlation,
// then the children; a rule whose children do not match is the result
// unless it is noalert.
func (c *evalCtx) check(r *Rule, depth int, rest []conjunct, memoed bool) *Rule {
	if c.tr != nil {
		return c.checkTraced(r, depth, rest, memoed)
	}
	if !c.ownTestsHold(r, rest, memoed) {
		return nil
	}
	return c.passed(r, depth)
}

// passed is check of r once its own tests held: its correlation (in
// Prepare's walk, a gate left to Finish), then its children.
func (c *evalCtx) passed(r *Rule, depth int) *Rule {
	if r.agg != nil || r.corr != nil {
		if c.spec {
			// The outcome depends on correlation state: Finish decides
			// it. The walk goes on as if the rule did not fire, which is
			// what the serial walk does when it does not.
			c.recordGate(r)
			return nil
		}
		if !c.correlate(r) {
			return nil
		}
	}
	return c.descend(r, depth)
}

// correlate runs r's aggregate window or if_matched_sid search (or takes
// the shared store's answer) and reports whether r fires.
func (c *evalCtx) correlate(r *Rule) bool {
	ok := true
	if r.agg != nil {
		if c.ans != nil {
			ok = c.answerGate(r)
		} else {
			ok, _, _ = c.st.agg[r.index].add(c, r.agg)
		}
	}
	if ok && r.corr != nil {
		if c.ans != nil {
			ok = c.answerGate(r)
		} else {
			ok, _ = c.st.mem[r.corr.target.index].search(c, r, c.now)
		}
	}
	return ok
}

// ownTestsHold is test without a trace: whether r's own tests hold, without the
// reasons a trace keeps. A condition's required fields are checked first:
// one missing fails it without running it.
func (c *evalCtx) ownTestsHold(r *Rule, rest []conjunct, memoed bool) bool {
	if memoed {
		return c.restHolds(rest)
	}
	cond := r.cond
	if cond == nil {
		return true
	}
	for _, s := range cond.required {
		if c.idx[s] == 0 {
			return false
		}
	}
	if cond.typed {
		return c.restHolds(cond.conj)
	}
	ok, err := c.runVM(cond)
	if err != nil {
		c.conditionError(r, err)
		return false
	}
	return ok
}

// conditionError reports a run-time error of r's condition: Prepare's walk
// keeps it for Finish, which reports it if the serial walk gets there;
// otherwise it is reported now.
func (c *evalCtx) conditionError(r *Rule, err error) {
	if c.spec {
		c.errorUse(r, err)
		return
	}
	c.set.runtimeError(r, err)
}

// checkTraced is check recording every rule tried in c.tr, with why it
// did not match. Only Eval and EvalAll trace: Prepare, Finish and Complete
// clear c.tr, so a traced walk is never Prepare's (c.spec) and never takes
// the shared store's answers (c.ans), and runs correlation itself.
func (c *evalCtx) checkTraced(r *Rule, depth int, rest []conjunct, memoed bool) *Rule {
	ok, failed, err := c.test(r, rest, memoed)
	failedCond := !ok // the condition itself was false (not a window)
	if ok && r.agg != nil {
		fired, value, counted := c.st.agg[r.index].add(c, r.agg)
		if !fired {
			ok = false
			failed = r.agg.explain(value, counted)
		}
	}
	if ok && r.corr != nil {
		mem := c.st.mem[r.corr.target.index]
		fired, seen := mem.search(c, r, c.now)
		if !fired {
			ok = false
			failed = fmt.Sprintf("frequency: %d of %d previous %s events within %ds", seen, r.corr.frequency-1, r.corr.target.id, r.corr.timeframe)
		}
	}
	step := TraceStep{Rule: r, Depth: depth, Matched: ok, Failed: failed, Err: err, Pack: r.pack}
	if !ok && err == nil && failed != "" && failedCond {
		step.Failed, step.Values = c.why(r.cond)
		step.cond = true
	}
	c.tr.Steps = append(c.tr.Steps, step)
	if !ok {
		return nil
	}
	return c.descend(r, depth)
}

// descend is the end of check once r's own tests and correlation held: r's
// children, else r itself unless it is noalert.
func (c *evalCtx) descend(r *Rule, depth int) *Rule {
	c.path = append(c.path, r)
	if f := c.checkGroup(r.kids, depth+1); f != nil {
		return f
	}
	c.path = c.path[:len(c.path)-1]
	if r.opts.noAlert {
		return nil
	}
	if (r.level > 0 || r.pack == "") && !c.spec {
		// A pack gate of level 0 that ends a pass is not counted: its
		// counter is never shown, and it is bumped on most events.
		c.st.fired[r.index].Add(1)
	}
	return r
}

// test evaluates the rule's condition for checkTraced, with the source of
// the conjunct (or condition) that failed and the run-time error; the
// untraced check uses ownTestsHold. With memoed, the conjuncts on the
// group's disc fields are known to hold and only rest runs (a typed
// condition, or none). Required fields are not checked first: a trace
// names the conjunct that fails on the missing field.
func (c *evalCtx) test(r *Rule, rest []conjunct, memoed bool) (bool, string, error) {
	if memoed {
		return c.firstFailing(rest)
	}
	cond := r.cond
	if cond == nil {
		return true, "", nil
	}
	if cond.typed {
		return c.firstFailing(cond.conj)
	}
	ok, err := c.runVM(cond)
	if err != nil {
		c.conditionError(r, err)
		return false, cond.src, err
	}
	if !ok {
		return false, cond.src, nil
	}
	return true, "", nil
}

// firstFailing is restHolds naming the conjunct that fails, for test.
func (c *evalCtx) firstFailing(conj []conjunct) (bool, string, error) {
	for i := range conj {
		if !conj[i].fn(c) {
			return false, conj[i].src, nil
		}
	}
	return true, "", nil
}

func (c *evalCtx) runVM(cond *condition) (bool, error) {
	v := c.set.getVM()
	out, err := v.Run(cond.prog, &c.env)
	c.set.vms.Put(v)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}
