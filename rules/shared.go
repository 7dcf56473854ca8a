package rules

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/vpcalertd/vpcalertd/event"
)

// Correlation state shared by several processes (docs/sqs.md, "Shared
// correlation"). A Set keeps its correlation state — aggregate windows,
// the events remembered for if_matched_sid rules, ignore times — in memory;
// with a SharedStore it keeps them in a store that several daemons read
// and write, so that they correlate as one.
//
// The state is changed only by Finish, in event order (prepare.go). For a
// shared store Finish is split in two around one call to the store per run
// of events (a SharedBatch): Plan writes, for each event that reaches a
// stateful rule, everything the store needs to make the event's stateful
// decisions itself, and Complete then runs Finish with the store's answers
// in place of the local state. The store runs a small interpreter
// (shared.lua, a Redis script) over the whole batch atomically: for each
// event and each tree tried, the gates in walk order — an aggregate window
// or an if_matched_sid search each — and, for a gate that fires, the walk
// of its children (which may hold gates of their own, so the plan of a
// gate holds the plan of its subtree); then, on the tree's result, ignore
// and the remembering of the event for if_matched_sid. Nothing of that
// depends on an answer the client has not had, so a batch of any length
// costs one round trip, and two processes crossing a threshold at once
// are ordered by the store: exactly one of them fires.
//
// What stays in the process: the fired counters (firedtimes, as each
// Wazuh manager counts its own), descriptions, and everything of events
// that reach no stateful rule.

// SharedScript is the Lua source of the store's interpreter (Redis EVAL).
//
//go:embed shared.lua
var SharedScript string

// sharedVersion is the encoding version the script checks.
const sharedVersion = "1"

// SharedStore keeps a Set's correlation state outside the process.
type SharedStore interface {
	// Run executes b (Args) atomically and hands the reply to
	// b.SetReply. An error means that the outcome is unknown: the batch
	// may or may not have been applied.
	Run(ctx context.Context, b *SharedBatch) error
}

// ErrSharedReply is the error of a store reply that does not fit the
// batch it answers (a store running another version of the script).
var ErrSharedReply = errors.New("correlation store reply")

// SharedOptions are the settings of a batch that come from the daemon's
// configuration.
type SharedOptions struct {
	// KeyPrefix starts every key.
	KeyPrefix string
	// Grace is added to every key's expiry: how long after its window a
	// key is kept, for events that arrive late.
	Grace time.Duration
	// MarkerTTL is how long the store remembers a batch it applied
	// (BeginBatch's id), so that a re-read gets its answers instead of
	// counting its events again.
	MarkerTTL time.Duration
}

// SharedBatch is the correlation work of consecutive events of one
// object, in order, for one call to a SharedStore. It is reused: Reset
// readies it for the next run of events.
type SharedBatch struct {
	set  *Set
	opts SharedOptions
	id   string
	// toks are the events' tokens; the rule table is kept apart, each
	// rule written once per batch.
	toks, table tokens
	nrules      int
	events      int
	// refs per rule index: the rule table entry of the rule as a gate, as
	// a result, and of its remembered events (its memory), 0 = none yet.
	gateRef, finalRef, memRef []int32
	// evMems are the memories the current event may be remembered in.
	evMems []int32
	// scratch holds the tokens of the current event's trees.
	scratch tokens
	subs    []*Prepared // per depth: the walk of a gate's subtree

	args  []string
	reply []any
	cur   int
	// nonAgg says that the batch asks more of the store than aggregate
	// windows (a search, ignore, a memory): no optimistic path.
	nonAgg bool
	fast   sharedFast
	// hashBuf is workHash's scratch.
	hashBuf []byte
	// evStart is the first token of each event.
	evStart []int
	// Replayed says that the store had applied this batch before (same id
	// and same work) and answered from its record.
	Replayed bool
}

// NewSharedBatch returns an empty batch for s.
func (s *Set) NewSharedBatch(o SharedOptions) *SharedBatch {
	n := len(s.rules)
	return &SharedBatch{set: s, opts: o, gateRef: make([]int32, n), finalRef: make([]int32, n), memRef: make([]int32, n)}
}

// Reset empties b for a new run of events; id, when not empty, names the
// run (object and first record) so that the store applies it at most once.
func (b *SharedBatch) Reset(id string) {
	b.id = id
	b.toks.reset()
	b.table.reset()
	b.nrules, b.events = 0, 0
	clear(b.gateRef)
	clear(b.finalRef)
	clear(b.memRef)
	b.args = b.args[:0]
	b.reply, b.cur, b.Replayed = nil, 0, false
	b.nonAgg = false
	b.evStart = b.evStart[:0]
	b.fast.reset()
}

// Len returns the number of events planned.
func (b *SharedBatch) Len() int { return b.events }

// Args returns the script's arguments (ARGV), valid until Reset.
func (b *SharedBatch) Args() []string {
	if len(b.args) > 0 {
		return b.args
	}
	head := []string{sharedVersion, b.opts.KeyPrefix, b.id,
		strconv.FormatInt(int64(b.opts.MarkerTTL/time.Second), 10),
		strconv.FormatInt(int64(b.opts.Grace/time.Second), 10), b.workHash()}
	b.args = append(b.args, head...)
	b.args = append(b.args, strconv.Itoa(b.nrules))
	b.args = b.table.appendStrings(b.args)
	b.args = append(b.args, strconv.Itoa(b.events))
	b.args = b.toks.appendStrings(b.args)
	return b.args
}

// workHash names the batch's work (its rule table and events): the store
// answers a batch id it applied before from its record only for the same
// work.
func (b *SharedBatch) workHash() string {
	h := xxhash.New()
	for _, t := range [2]*tokens{&b.table, &b.toks} {
		h.Write(t.buf)
		x := b.hashBuf[:0]
		for _, e := range t.ends {
			x = binary.LittleEndian.AppendUint32(x, uint32(e))
		}
		h.Write(x)
		b.hashBuf = x
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// SetReply takes the store's reply to Args: its first element says
// whether the batch was replayed (1) or applied now (0), the rest are the
// answers Complete consumes.
func (b *SharedBatch) SetReply(reply []any) error {
	if len(reply) == 0 {
		return fmt.Errorf("%w: empty", ErrSharedReply)
	}
	flag, ok := reply[0].(int64)
	if !ok {
		return fmt.Errorf("%w: first element %T, expected an integer", ErrSharedReply, reply[0])
	}
	b.Replayed = flag == 1
	b.reply, b.cur = reply, 1
	return nil
}

// Done reports an error when the answers were not all used: a reply that
// does not fit its batch.
func (b *SharedBatch) Done() error {
	if b.cur != len(b.reply) {
		return fmt.Errorf("%w: %d answers left over", ErrSharedReply, len(b.reply)-b.cur)
	}
	return nil
}

// answer takes the next answer: a fired flag or an ignore flag.
func (b *SharedBatch) answer() (bool, error) {
	if b.cur >= len(b.reply) {
		return false, fmt.Errorf("%w: too few answers", ErrSharedReply)
	}
	v, ok := b.reply[b.cur].(int64)
	b.cur++
	if !ok || v < 0 || v > 1 {
		return false, fmt.Errorf("%w: answer %d is %v, expected 0 or 1", ErrSharedReply, b.cur-1, b.reply[b.cur-1])
	}
	return v == 1, nil
}

// previous takes the full_logs a fired search counted.
func (b *SharedBatch) previous(dst [][]byte) ([][]byte, error) {
	if b.cur >= len(b.reply) {
		return dst, fmt.Errorf("%w: too few answers", ErrSharedReply)
	}
	n, ok := b.reply[b.cur].(int64)
	b.cur++
	if !ok || n < 0 || int(n) > len(b.reply)-b.cur {
		return dst, fmt.Errorf("%w: bad count of previous events", ErrSharedReply)
	}
	for range n {
		s, ok := b.reply[b.cur].(string)
		if !ok {
			return dst, fmt.Errorf("%w: previous event %T, expected a string", ErrSharedReply, b.reply[b.cur])
		}
		dst = append(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
		b.cur++
	}
	return dst, nil
}

// tokens is a list of strings in one buffer.
type tokens struct {
	buf  []byte
	ends []int
}

func (t *tokens) reset()         { t.buf, t.ends = t.buf[:0], t.ends[:0] }
func (t *tokens) str(s string)   { t.buf = append(t.buf, s...); t.ends = append(t.ends, len(t.buf)) }
func (t *tokens) bytes(s []byte) { t.buf = append(t.buf, s...); t.ends = append(t.ends, len(t.buf)) }
func (t *tokens) int(v int64) {
	t.buf = strconv.AppendInt(t.buf, v, 10)
	t.ends = append(t.ends, len(t.buf))
}
func (t *tokens) value(present bool, v []byte) {
	// An absent field is the empty token; a present one starts with '='.
	if present {
		t.buf = append(t.buf, '=')
		t.buf = append(t.buf, v...)
	}
	t.ends = append(t.ends, len(t.buf))
}

// appendStrings appends the tokens to dst as strings sharing one copy of
// the buffer.
func (t *tokens) appendStrings(dst []string) []string {
	all := string(t.buf)
	start := 0
	for _, e := range t.ends {
		dst = append(dst, all[start:e])
		start = e
	}
	return dst
}

// appendRange appends tokens [from, to) to dst as strings sharing one copy
// of their bytes.
func (t *tokens) appendRange(dst []string, from, to int) []string {
	if from >= to {
		return dst
	}
	start := 0
	if from > 0 {
		start = t.ends[from-1]
	}
	all := string(t.buf[start:t.ends[to-1]])
	prev := start
	for _, e := range t.ends[from:to] {
		dst = append(dst, all[prev-start:e-start])
		prev = e
	}
	return dst
}

// appendTokens appends the tokens of src to t.
func (t *tokens) appendTokens(src *tokens) {
	base := len(t.buf)
	t.buf = append(t.buf, src.buf...)
	for _, e := range src.ends {
		t.ends = append(t.ends, base+e)
	}
}

// sharedKey names a rule's state in the store: its id and a hash of what
// the state depends on, so that a reloaded rule with another window or
// other fields starts with state of its own.
func (s *Set) sharedKey(r *Rule, what string) string {
	h := fnv.New32a()
	h.Write([]byte(what))
	return r.id + ":" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// inert says that r as a tree's result asks nothing of the store.
func (c *evalCtx) inert(r *Rule) bool {
	return r.level == 0 || (r.ignore == 0 && c.st.mem[r.index] == nil)
}

// needsStore reports whether the event Prepare prepared in p asks
// anything of the store.
func (c *evalCtx) needsStore(p *Prepared) bool {
	if len(p.gates) > 0 {
		return true
	}
	for i := range p.passes {
		if f := p.passes[i].final; f != nil && !c.inert(f) {
			return true
		}
	}
	return false
}

// Plan adds the stateful half of the evaluation of ev (prepared in p) to
// b, at processing time now, and reports whether it did: false means the
// event reaches no stateful rule, and Finish evaluates it without the
// store. Plan changes nothing: events planned into b are completed, in
// order, by Complete after the store has run b.
func (e *Evaluator) Plan(ev *event.Event, p *Prepared, now time.Time, b *SharedBatch) bool {
	c := &e.c
	c.ev = ev
	c.indexed = false
	c.now = now.Unix()
	c.tr = nil
	if !c.needsStore(p) {
		return false
	}
	// The event's fields are indexed only when something here reads them
	// (a subtree's conditions, a search's fields, what is remembered):
	// aggregate gates read what Prepare kept.
	b.events++
	b.evMems = b.evMems[:0]
	b.scratch.reset()
	b.scratch.int(int64(len(p.passes)))
	for i := range p.passes {
		ps := &p.passes[i]
		c.pass = i
		c.planWalk(b, 0, p, p.gates[ps.gateStart:ps.gateEnd], ps.final, ps.parent, ps.final != nil)
	}
	c.pass = -1
	// The event: its times, what it would be remembered as, then its trees.
	b.evStart = append(b.evStart, len(b.toks.ends))
	b.toks.int(c.now)
	b.toks.int(ev.Time)
	if len(b.evMems) > 0 {
		b.toks.bytes(fullLog(ev))
	} else {
		b.toks.str("")
	}
	b.toks.int(int64(len(b.evMems)))
	if len(b.evMems) > 0 {
		c.need()
	}
	for _, t := range b.evMems {
		mem := c.st.mem[t]
		b.toks.int(int64(b.memRef[t]))
		for _, sym := range mem.syms {
			v, ok := c.field(sym)
			b.toks.value(ok, v)
		}
	}
	b.toks.appendTokens(&b.scratch)
	return true
}

// planWalk writes one walk: its gates in walk order, each with the walk of
// its subtree (what the serial walk does if it fires), then its result
// when no gate decides it (decided false: none, the walk of the caller
// goes on).
func (c *evalCtx) planWalk(b *SharedBatch, depth int, p *Prepared, gates []prepGate, final, parent *Rule, decided bool) {
	t := &b.scratch
	t.int(int64(len(gates)))
	for k := range gates {
		g := &gates[k]
		r := g.r
		t.int(int64(b.gateRefOf(c, r)))
		if a := r.agg; a != nil {
			if !g.counted {
				t.str("")
				t.str("")
				t.str("")
			} else {
				tm := c.now
				if a.base == TimeEvent && c.ev.Time != 0 {
					tm = c.ev.Time
				}
				t.int(tm)
				t.bytes(g.key)
				v := g.val
				if a.sum {
					t.int(parseDecimal(v))
				} else {
					t.bytes(v)
				}
			}
		} else {
			c.need()
			k := r.corr
			for _, f := range k.same {
				v, ok := c.field(f.sym)
				t.value(ok, v)
			}
			for _, f := range k.diff {
				v, ok := c.field(f.sym)
				t.value(ok, v)
			}
		}
		// The gate's subtree, walked as descend walks it, with its own
		// gates recorded instead of decided.
		sub := b.sub(depth)
		saveP, saveSpec := c.p, c.spec
		c.p, c.spec = sub, true
		c.pathTo(g.parent)
		c.path = append(c.path, r)
		if r.kids != nil && len(r.kids.rules) > 0 {
			c.need()
		}
		f := c.checkGroup(r.kids, g.depth+1)
		var par *Rule
		if f != nil {
			par = c.path[len(c.path)-1]
		} else if !r.opts.noAlert {
			f = r
			par = g.parent
		}
		c.p, c.spec = saveP, saveSpec
		c.planWalk(b, depth+1, sub, sub.gates, f, par, f != nil)
	}
	switch {
	case !decided:
		t.str("-")
	case c.inert(final):
		t.str("0")
	default:
		t.int(int64(b.finalRefOf(c, final)))
	}
	if decided && parent != nil && c.st.mem[parent.index] != nil {
		t.int(int64(b.finalRefOf(c, parent)))
	} else {
		t.str("0")
	}
}

// sub returns the scratch Prepared of a subtree walk at depth.
func (b *SharedBatch) sub(depth int) *Prepared {
	for len(b.subs) <= depth {
		b.subs = append(b.subs, &Prepared{})
	}
	p := b.subs[depth]
	p.reset()
	return p
}

// gateRefOf returns r's rule table entry as a gate, writing it first.
func (b *SharedBatch) gateRefOf(c *evalCtx, r *Rule) int32 {
	if ref := b.gateRef[r.index]; ref != 0 {
		return ref
	}
	t := &b.table
	if a := r.agg; a != nil {
		t.str("A")
		t.str(c.set.sharedKey(r, "a "+a.fingerprint()))
		t.str(a.kind.name)
		t.int(a.threshold)
		t.int(a.timeframe)
		t.int(a.width)
		t.int(a.cooldown)
		t.int(int64(a.maxGroups))
		t.int(a.keep())
	} else {
		k := r.corr
		m := b.memRefOf(c, k.target)
		b.nonAgg = true
		t.str("S")
		t.int(int64(m))
		t.int(int64(r.level))
		t.int(int64(k.count))
		t.int(k.timeframe)
		if k.base == TimeEvent {
			t.str("e")
		} else {
			t.str("p")
		}
		t.int(int64(len(k.same)))
		t.int(int64(len(k.diff)))
		for _, f := range k.same {
			t.int(int64(f.slot + 1))
		}
		for _, f := range k.diff {
			t.int(int64(f.slot + 1))
		}
	}
	b.nrules++
	b.gateRef[r.index] = int32(b.nrules)
	return int32(b.nrules)
}

// finalRefOf returns r's rule table entry as a tree's result, writing it
// first, and notes the memory the event may be remembered in.
func (b *SharedBatch) finalRefOf(c *evalCtx, r *Rule) int32 {
	m := int32(0)
	if c.st.mem[r.index] != nil {
		m = b.memRefOf(c, r)
		found := false
		for _, x := range b.evMems {
			if x == int32(r.index) {
				found = true
			}
		}
		if !found {
			b.evMems = append(b.evMems, int32(r.index))
		}
	}
	if ref := b.finalRef[r.index]; ref != 0 {
		return ref
	}
	t := &b.table
	b.nonAgg = true
	t.str("F")
	t.int(int64(r.level))
	t.int(r.ignore)
	if r.timeBase == TimeEvent {
		t.str("e")
	} else {
		t.str("p")
	}
	t.str(c.set.sharedKey(r, "i "+strconv.FormatInt(r.ignore, 10)))
	t.int(int64(m))
	b.nrules++
	b.finalRef[r.index] = int32(b.nrules)
	return int32(b.nrules)
}

// memRefOf returns the rule table entry of target t's memory.
func (b *SharedBatch) memRefOf(c *evalCtx, t *Rule) int32 {
	if ref := b.memRef[t.index]; ref != 0 {
		return ref
	}
	mem := c.st.mem[t.index]
	names := make([]string, len(mem.syms))
	for i, sym := range mem.syms {
		names[i] = c.set.syms.Name(sym)
	}
	tb := &b.table
	b.nonAgg = true
	tb.str("M")
	tb.str(c.set.sharedKey(t, "m "+strings.Join(names, " ")))
	tb.int(mem.procWin)
	tb.int(mem.evWin)
	tb.int(int64(len(mem.syms)))
	tb.int(memoryCap)
	b.nrules++
	b.memRef[t.index] = int32(b.nrules)
	return int32(b.nrules)
}

// Complete runs the stateful half of the evaluation of ev, which Plan
// planned into b, with the store's answers: what Finish returns, with the
// same aliasing. Events must be completed in the order they were planned,
// after b's reply was set.
func (e *Evaluator) Complete(ev *event.Event, p *Prepared, now time.Time, b *SharedBatch) ([]Match, error) {
	c := &e.c
	c.ans, c.ansErr = b, nil
	out := e.Finish(ev, p, now)
	c.ans = nil
	if c.ansErr != nil {
		return nil, c.ansErr
	}
	return out, nil
}

// answerGate is the store's answer for a gate in place of its window or
// search; for a search that fired it also takes the counted events'
// full_logs (previous_output).
func (c *evalCtx) answerGate(r *Rule) bool {
	fired, err := c.ans.answer()
	if err == nil && fired && r.corr != nil {
		c.prev, err = c.ans.previous(c.prev[:0])
		c.curMatched = r.level
	}
	if err != nil && c.ansErr == nil {
		c.ansErr = err
	}
	return fired && err == nil
}

// answerIgnore is the store's answer for ignore: whether r is ignored.
func (c *evalCtx) answerIgnore() bool {
	ign, err := c.ans.answer()
	if err != nil && c.ansErr == nil {
		c.ansErr = err
	}
	return ign
}
