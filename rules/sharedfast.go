package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The optimistic path of a SharedBatch (docs/sqs.md, "Cost"). The
// interpreter of shared.lua decides a batch event by event on the server,
// which costs the server tens of microseconds per event: with the shipped
// flow pack, which has an aggregate window on nearly every flow, that is
// nearly every record. A batch whose stateful work is aggregate windows
// only — no if_matched_sid search, no ignore, no remembered event — is
// decided in the process instead, on the same state, and committed only if
// that state did not change meanwhile:
//
//  1. SharedReadScript returns, in one call, the state of every aggregate
//     group the batch can touch and of its rules (or the batch's answers
//     when the store applied it before);
//  2. Simulate runs shared.lua's walk and aggregate functions, ported line
//     for line (sharedSim), over the batch: the same answers, the groups'
//     new state, and each rule's new groups and newest time;
//  3. SharedCommitScript, atomically, checks that every group the batch
//     used is exactly as it was read and that no sweep of a rule's groups
//     would have run at one of the batch's new groups (the sweep needs the
//     rule's whole index: the interpreter's job), then writes the groups,
//     their index, the rules' newest time and the batch's record.
//
// A group that changed meanwhile (another instance counted in it) makes
// the commit fail: the batch is read and simulated again, on the new
// state. So the outcome is the one of the batch applied atomically on the
// state at its commit — what the interpreter computes — and of two
// instances that cross a threshold at once exactly one commits the firing;
// the other reads a fired, cleared window. After a few conflicts, or when
// a sweep is due, the batch goes to the interpreter. The server's work is
// then one read and one write per group and batch instead of an
// interpretation per event.

// SharedReadScript returns the state the optimistic path reads (Redis
// EVAL).
//
//go:embed sharedread.lua
var SharedReadScript string

// SharedCommitScript commits a simulated batch if its state is unchanged
// (Redis EVAL).
//
//go:embed sharedcommit.lua
var SharedCommitScript string

// sharedMaxAttempts bounds the reads of the optimistic path before a batch
// whose groups other instances keep changing goes to the interpreter.
const sharedMaxAttempts = 3

// SharedStep is what the optimistic path asks of the store next.
type SharedStep int

// The steps of the optimistic path.
const (
	// StepDone: the batch's reply is set; nothing more to send.
	StepDone SharedStep = iota
	// StepCommit: send CommitArgs to SharedCommitScript.
	StepCommit
	// StepRead: read again (ReadArgs), the state changed meanwhile.
	StepRead
	// StepExact: send Args to SharedScript, the interpreter.
	StepExact
)

// fastRule is an aggregate rule of the batch's table as the simulation
// sees it, with the state read.
type fastRule struct {
	key                        string
	buckets, sum               bool
	threshold, tf, width, cool float64
	maxg, keep                 float64
	// The rule's state as read, and as the simulation leaves it.
	maxT0, lastSweep, nextSweep, count0 float64
	maxT, count                         float64
	used                                bool
	newGroups                           int
	tNew, tMax                          float64
	groups                              map[string]*fastGroup
	order                               []*fastGroup
	// part are the groups the events of the current part can touch, in
	// order: what is read, simulated and committed.
	part []*fastGroup
}

// fastGroup is one aggregate group: as read, and as the simulation leaves
// it.
type fastGroup struct {
	gk      string
	read    string // the stored value as read
	present bool
	g       *simGroup // nil: absent (or not yet created)
	dirty   bool
	// readLast is the group's last time as read.
	readLast float64
	// lastEvent is the last event of the batch that can count in it.
	lastEvent int
}

// simGroup is shared.lua's group table.
type simGroup struct {
	last  float64
	fired float64
	isF   bool
	bs    [aggBuckets]float64
	bv    [aggBuckets]float64
	bok   [aggBuckets]bool
	seen  map[string]float64
}

// sharedFast is the optimistic state of a batch. A batch goes in parts:
// events [from, to) are read, simulated and committed; when a sweep is due
// at an event, the events before it are one part, the event alone goes to
// the interpreter, and the rest is read again. Each part has its own
// record in the store (id@from), so that a batch read again after a crash
// is answered part by part from the records, whatever the state is then.
type sharedFast struct {
	rules    []*fastRule // by table entry (1-based)
	pool     []*fastRule // the rules, kept from batch to batch
	groups   slab[fastGroup]
	sims     slab[simGroup]
	work     string // the batch's work hash
	started  bool
	attempts int
	from, to int
	// sweepAt: the event at which a sweep is due (-1: none).
	sweepAt int
	answers []int64 // of the part
	all     []any   // the batch's reply so far
	args    []string
	// enc and encEnds are CommitArgs' buffer and its parts' ends.
	enc     []byte
	encEnds []int
	// pos is the token cursor of the simulation over b.toks.
	pos int
}

func (f *sharedFast) reset() {
	f.started, f.attempts, f.from, f.to, f.sweepAt = false, 0, 0, 0, -1
	f.all = f.all[:0]
}

// newSim returns an empty group, kept from batch to batch with its
// distinct window's map.
func (f *sharedFast) newSim() *simGroup {
	g := f.sims.next()
	seen := g.seen
	clear(seen)
	*g = simGroup{seen: seen}
	return g
}

// slabChunk is how many values a slab makes at once.
const slabChunk = 256

// slab hands out values of T that stay where they are (a chunk is never
// moved) and are kept from batch to batch: a batch makes its groups once
// for the life of the SharedBatch, not once per batch. The values come as
// the last batch left them: the caller sets them.
type slab[T any] struct {
	chunks [][]T
	n      int
}

func (s *slab[T]) reset() { s.n = 0 }

func (s *slab[T]) next() *T {
	c, i := s.n/slabChunk, s.n%slabChunk
	if c == len(s.chunks) {
		s.chunks = append(s.chunks, make([]T, slabChunk))
	}
	s.n++
	return &s.chunks[c][i]
}

// Optimistic reports whether b can take the optimistic path: its stateful
// work is aggregate windows only.
func (b *SharedBatch) Optimistic() bool {
	return b.events > 0 && !b.nonAgg
}

// tok returns token i of t.
func (t *tokens) tok(i int) []byte {
	start := 0
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.buf[start:t.ends[i]]
}

// num reads token i as a number (Plan writes integers).
func (t *tokens) num(i int) float64 {
	s := t.tok(i)
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > 18 {
		v, _ := strconv.ParseFloat(string(t.tok(i)), 64)
		return v
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			v, _ := strconv.ParseFloat(string(t.tok(i)), 64)
			return v
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return float64(n)
}

// fastTable reads the rule table (aggregate entries only).
func (b *SharedBatch) fastTable() error {
	f := &b.fast
	f.rules = append(f.rules[:0], nil)
	f.groups.reset()
	t := &b.table
	for i := 0; i < len(t.ends); {
		if string(t.tok(i)) != "A" {
			return fmt.Errorf("%w: rule table entry %q on the optimistic path", ErrSharedReply, t.tok(i))
		}
		kind := string(t.tok(i + 2))
		// The rules of the batch before are reused with their maps and
		// slices, emptied: a batch's rules and groups are made once.
		if len(f.rules) > len(f.pool) {
			f.pool = append(f.pool, &fastRule{groups: map[string]*fastGroup{}})
		}
		r := f.pool[len(f.rules)-1]
		key := r.key
		if key != string(t.tok(i+1)) {
			key = string(t.tok(i + 1))
		}
		groups, order, part := r.groups, r.order[:0], r.part[:0]
		clear(groups)
		*r = fastRule{key: key, buckets: kind != "distinct", sum: kind == "sum",
			threshold: t.num(i + 3), tf: t.num(i + 4), width: t.num(i + 5), cool: t.num(i + 6),
			maxg: t.num(i + 7), keep: t.num(i + 8), groups: groups, order: order, part: part}
		f.rules = append(f.rules, r)
		i += 9
	}
	return nil
}

// eventHead skips the head of the event whose tokens start at pos and
// returns its number of passes and the position after.
func (b *SharedBatch) eventHead(pos int) (passes, next int) {
	// Times, full_log, no memories (none on the optimistic path).
	pos += 4
	return int(b.toks.num(pos)), pos + 1
}

// collect walks the tokens of one walk of event ev and registers every
// group a gate of it may count in.
func (b *SharedBatch) collect(pos, ev int) int {
	t := &b.toks
	ng := int(t.num(pos))
	pos++
	for range ng {
		r := b.fast.rules[int(t.num(pos))]
		if len(t.tok(pos+1)) > 0 {
			gk := t.tok(pos + 2)
			g := r.groups[string(gk)]
			if g == nil {
				g = b.fast.groups.next()
				*g = fastGroup{gk: string(gk)}
				r.groups[g.gk] = g
				r.order = append(r.order, g)
			}
			g.lastEvent = ev
		}
		pos = b.collect(pos+4, ev)
	}
	return pos + 2
}

// partID is the record id of the part that starts at the current event.
func (b *SharedBatch) partID() string {
	if b.id == "" {
		return ""
	}
	return b.id + "@" + strconv.Itoa(b.fast.from)
}

// ReadArgs returns the arguments of SharedReadScript for the next part of
// b.
func (b *SharedBatch) ReadArgs() ([]string, error) {
	f := &b.fast
	if !f.started {
		if err := b.fastTable(); err != nil {
			return nil, err
		}
		for i, p := range b.evStart {
			np, pos := b.eventHead(p)
			for range np {
				pos = b.collect(pos, i)
			}
		}
		f.work = b.workHash()
		f.all = append(f.all[:0], int64(0))
		f.started = true
	}
	f.attempts++
	a := append(f.args[:0], sharedVersion, b.opts.KeyPrefix, b.partID(), f.work, strconv.Itoa(len(f.rules)-1))
	// A part after the first (the batch was split at a sweep) reads only
	// the groups its events can count in.
	ng := 0
	for _, r := range f.rules[1:] {
		a = append(a, r.key)
		r.part = r.part[:0]
		for _, g := range r.order {
			if g.lastEvent >= f.from {
				r.part = append(r.part, g)
			}
		}
		ng += len(r.part)
	}
	a = append(a, strconv.Itoa(ng))
	for i, r := range f.rules[1:] {
		ref := strconv.Itoa(i + 1)
		for _, g := range r.part {
			a = append(a, ref, g.gk)
		}
	}
	f.args = a
	return a, nil
}

// replyString reads a string or nil element of a reply.
func replyString(v any) (string, bool, error) {
	switch x := v.(type) {
	case nil:
		return "", false, nil
	case string:
		return x, true, nil
	}
	return "", false, fmt.Errorf("%w: %T, expected a string or nil", ErrSharedReply, v)
}

func replyNum(v any, def float64) (float64, error) {
	s, ok, err := replyString(v)
	if err != nil || !ok {
		return def, err
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return def, fmt.Errorf("%w: %w", ErrSharedReply, err)
	}
	return x, nil
}

// partDone adds the answers of a part that ends before event to, and says
// what comes next.
func (b *SharedBatch) partDone(answers []any, to int) (SharedStep, error) {
	f := &b.fast
	f.all = append(f.all, answers...)
	f.from, f.attempts = to, 0
	if f.from >= b.events {
		if b.Replayed {
			// A part was answered from its record.
			f.all[0] = int64(1)
		}
		return StepDone, b.SetReply(f.all)
	}
	if f.sweepAt == f.from {
		return StepExact, nil
	}
	return StepRead, nil
}

// Simulate takes the reply of SharedReadScript and runs the part on the
// state read. It returns StepCommit when CommitArgs are ready, StepExact
// when the part's first event is due a sweep (the interpreter's), and,
// when the store had applied the part before, what comes after it (its
// answers are taken from the store's record).
func (b *SharedBatch) Simulate(reply []any) (SharedStep, error) {
	f := &b.fast
	if len(reply) == 0 {
		return 0, fmt.Errorf("%w: empty", ErrSharedReply)
	}
	if flag, ok := reply[0].(int64); ok && flag == 1 {
		// {1, end of the part, answers...}
		var to int64
		if len(reply) >= 2 {
			to, ok = reply[1].(int64)
		}
		if !ok || int(to) <= f.from || int(to) > b.events {
			return 0, fmt.Errorf("%w: record of a part", ErrSharedReply)
		}
		b.Replayed = true
		f.sweepAt = -1
		return b.partDone(reply[2:], int(to))
	}
	k := 1
	for _, r := range f.rules[1:] {
		if len(reply) < k+4 {
			return 0, fmt.Errorf("%w: too short", ErrSharedReply)
		}
		var err error
		if r.maxT0, err = replyNum(reply[k], math.Inf(-1)); err != nil {
			return 0, err
		}
		if r.lastSweep, err = replyNum(reply[k+1], 0); err != nil {
			return 0, err
		}
		if r.nextSweep, err = replyNum(reply[k+2], math.Min(1024, r.maxg)); err != nil {
			return 0, err
		}
		n, ok := reply[k+3].(int64)
		if !ok {
			return 0, fmt.Errorf("%w: group count %T", ErrSharedReply, reply[k+3])
		}
		r.count0 = float64(n)
		k += 4
	}
	for _, r := range f.rules[1:] {
		for _, g := range r.part {
			if k >= len(reply) {
				return 0, fmt.Errorf("%w: too short", ErrSharedReply)
			}
			s, ok, err := replyString(reply[k])
			if err != nil {
				return 0, err
			}
			k++
			g.read, g.present = s, ok
		}
	}
	if k != len(reply) {
		return 0, fmt.Errorf("%w: %d elements left over", ErrSharedReply, len(reply)-k)
	}
	at, err := b.simulate(b.events)
	if err != nil {
		return 0, err
	}
	f.sweepAt = at
	switch {
	case at < 0:
		f.to = b.events
	case at == f.from:
		return StepExact, nil
	default:
		// The events before the sweep are one part: simulated again
		// without the event that stopped.
		if _, err := b.simulate(at); err != nil {
			return 0, err
		}
		f.to = at
	}
	return StepCommit, nil
}

// simulate runs events [from, limit) on the state read; it returns the
// event at which a sweep is due, or -1.
func (b *SharedBatch) simulate(limit int) (int, error) {
	f := &b.fast
	f.sims.reset()
	for _, r := range f.rules[1:] {
		r.maxT, r.count = r.maxT0, r.count0
		r.used, r.newGroups, r.tNew, r.tMax = false, 0, math.Inf(-1), math.Inf(-1)
		for _, g := range r.part {
			g.dirty, g.g = false, nil
			if g.present {
				g.g = f.newSim()
				if err := decodeGroup(g.g, g.read, r.buckets); err != nil {
					return 0, fmt.Errorf("%w: group %q: %w", ErrSharedReply, g.gk, err)
				}
				g.readLast = g.g.last
			}
		}
	}
	f.answers = f.answers[:0]
	for i := f.from; i < limit; i++ {
		np, pos := b.eventHead(b.evStart[i])
		f.pos = pos
		for range np {
			if _, ok := b.simWalk(); !ok {
				return i, nil
			}
		}
	}
	return -1, nil
}

// simWalk is shared.lua's walk: the gates of one walk in order, the first
// that fires and whose subtree has a result decides it. It returns whether
// the walk has a result; ok is false when a sweep is due.
func (b *SharedBatch) simWalk() (result, ok bool) {
	t := &b.toks
	f := &b.fast
	ng := int(t.num(f.pos))
	f.pos++
	for k := 0; k < ng; k++ {
		fired, ok := b.simGate()
		if !ok {
			return false, false
		}
		if !fired {
			f.pos = b.skipWalk(f.pos)
			continue
		}
		res, ok := b.simWalk()
		if !ok {
			return false, false
		}
		if res {
			for k++; k < ng; k++ {
				f.pos = b.skipWalk(f.pos + 4)
			}
			f.pos += 2
			return true, true
		}
	}
	d := t.tok(f.pos)
	f.pos += 2
	return string(d) != "-", true
}

// skipWalk passes over a walk not reached.
func (b *SharedBatch) skipWalk(pos int) int {
	t := &b.toks
	ng := int(t.num(pos))
	pos++
	for range ng {
		pos = b.skipWalk(pos + 4)
	}
	return pos + 2
}

// simGate is shared.lua's gate for an aggregate: whether it fired.
func (b *SharedBatch) simGate() (fired, ok bool) {
	t := &b.toks
	f := &b.fast
	r := f.rules[int(t.num(f.pos))]
	ts := t.tok(f.pos + 1)
	gk := t.tok(f.pos + 2)
	v := t.tok(f.pos + 3)
	f.pos += 4
	if len(ts) == 0 {
		f.answers = append(f.answers, 0)
		return false, true
	}
	fired, ok = r.aggregate(f, t.num(f.pos-3), r.groups[string(gk)], v)
	if !ok {
		return false, false
	}
	if fired {
		f.answers = append(f.answers, 1)
	} else {
		f.answers = append(f.answers, 0)
	}
	return fired, true
}

// aggregate is shared.lua's aggregate; ok is false when the sweep would
// run.
func (r *fastRule) aggregate(f *sharedFast, t float64, fg *fastGroup, v []byte) (fired, ok bool) {
	r.used = true
	r.maxT = math.Max(r.maxT, t)
	r.tMax = math.Max(r.tMax, t)
	g := fg.g
	if g != nil && g.last < t-r.keep {
		g.isF = false
		g.clear()
		g.last = t
	}
	if g == nil {
		n := r.count
		if n >= r.nextSweep || (n > 0 && r.maxT-r.lastSweep >= r.keep) {
			return false, false
		}
		g = f.newSim()
		g.last = t
		fg.g = g
		r.count++
		r.newGroups++
		r.tNew = r.tMax
	}
	fg.dirty = true
	if t < g.last-r.tf {
		return false, true
	}
	var value float64
	if r.buckets {
		n := 1.0
		if r.sum {
			n, _ = strconv.ParseFloat(string(v), 64)
		}
		value = g.addBuckets(r, t, n)
	} else {
		value = g.addDistinct(r, t, string(v))
	}
	if t > g.last {
		g.last = t
	}
	if value < r.threshold {
		return false, true
	}
	if g.isF && t-g.fired < r.cool {
		return false, true
	}
	g.fired, g.isF = t, true
	g.clear()
	return true, true
}

// clear empties the group's window. A distinct window's map is emptied,
// not dropped, for its next values.
func (g *simGroup) clear() {
	g.bok = [aggBuckets]bool{}
	clear(g.seen)
}

// luaMod is Lua's %: the floored modulo.
func luaMod(a, b float64) float64 { return a - math.Floor(a/b)*b }

func (g *simGroup) addBuckets(r *fastRule, t, n float64) float64 {
	slot := math.Floor(t / r.width)
	top := slot
	if g.last > t {
		top = math.Floor(g.last / r.width)
	}
	if slot > top-aggBuckets {
		j := int(luaMod(slot, aggBuckets))
		if !g.bok[j] || g.bs[j] != slot {
			g.bs[j], g.bv[j], g.bok[j] = slot, 0, true
		}
		g.bv[j] += n
	}
	lo := top - aggBuckets
	total := 0.0
	for j := range g.bs {
		if g.bok[j] && g.bs[j] > lo && g.bs[j] <= top {
			total += g.bv[j]
		}
	}
	return total
}

func (g *simGroup) addDistinct(r *fastRule, t float64, v string) float64 {
	lim := math.Max(t, g.last) - r.tf
	n, found := 0.0, false
	for k, st := range g.seen {
		if st < lim {
			delete(g.seen, k)
			continue
		}
		n++
		if k == v {
			found = true
			if t > st {
				g.seen[k] = t
			}
		}
	}
	if !found {
		if g.seen == nil {
			g.seen = map[string]float64{}
		}
		g.seen[v] = t
		n++
	}
	return n
}

// CommitArgs returns the arguments of SharedCommitScript after Simulate.
func (b *SharedBatch) CommitArgs() []string {
	f := &b.fast
	a := append(f.args[:0], sharedVersion, b.opts.KeyPrefix, b.partID(), f.work+"/"+strconv.Itoa(f.to),
		strconv.FormatInt(int64(b.opts.MarkerTTL/time.Second), 10), strconv.FormatInt(int64(b.opts.Grace/time.Second), 10))
	a = append(a, strconv.Itoa(len(f.rules)-1))
	nd := 0
	for _, r := range f.rules[1:] {
		used := "0"
		if r.used {
			used = "1"
		}
		a = append(a, r.key, luaNum(r.keep), luaNum(r.maxg), used, strconv.Itoa(r.newGroups), luaNum(r.tNew), luaNum(r.tMax))
		for _, g := range r.part {
			if g.dirty {
				nd++
			}
		}
	}
	a = append(a, strconv.Itoa(nd))
	// The groups' encodings and last times, and the answers, are written
	// into one buffer, made one string; the arguments are parts of it.
	enc := f.enc[:0]
	ends := f.encEnds[:0]
	for _, r := range f.rules[1:] {
		for _, g := range r.part {
			if !g.dirty {
				continue
			}
			enc = g.g.encode(enc, r.buckets)
			ends = append(ends, len(enc))
			// The index holds every stored group with its last time: a
			// group whose last time did not move keeps its place.
			if !g.present || g.g.last != g.readLast {
				enc = appendLuaNum(enc, g.g.last)
			}
			ends = append(ends, len(enc))
		}
	}
	for _, v := range f.answers {
		enc = append(enc, '0'+byte(v))
	}
	all := string(enc)
	f.enc, f.encEnds = enc, ends
	k, start := 0, 0
	part := func() string {
		s := all[start:ends[k]]
		start = ends[k]
		k++
		return s
	}
	for i, r := range f.rules[1:] {
		ref := strconv.Itoa(i + 1)
		for _, g := range r.part {
			if !g.dirty {
				continue
			}
			present := "0"
			if g.present {
				present = "1"
			}
			a = append(a, ref, g.gk, present, g.read, part(), part())
		}
	}
	a = append(a, all[start:])
	f.args = a
	return a
}

// Committed takes the reply of SharedCommitScript and says what comes
// next: StepRead when a group changed meanwhile (or after the part, the
// next part), StepExact when the commit was refused (a sweep is due), or
// after too many conflicts, StepDone when every part is done.
func (b *SharedBatch) Committed(reply []any) (SharedStep, error) {
	f := &b.fast
	if len(reply) != 1 {
		return 0, fmt.Errorf("%w: commit reply of %d elements", ErrSharedReply, len(reply))
	}
	v, _ := reply[0].(int64)
	switch v {
	case 1:
		for _, a := range f.answers {
			f.all = append(f.all, a)
		}
		return b.partDone(nil, f.to)
	case 2:
		if f.attempts >= sharedMaxAttempts {
			f.sweepAt = -1
			return StepExact, nil
		}
		return StepRead, nil
	case 3:
		f.sweepAt = -1
		return StepExact, nil
	}
	return 0, fmt.Errorf("%w: commit reply %v", ErrSharedReply, reply[0])
}

// exactEnd is where the interpreter's part ends: after the one event due a
// sweep, else at the end of the batch.
func (f *sharedFast) exactEnd(events int) int {
	if f.sweepAt == f.from {
		return f.from + 1
	}
	return events
}

// ExactArgs returns the arguments of SharedScript (the interpreter) for
// the batch, or on the optimistic path for its part that goes to the
// interpreter.
func (b *SharedBatch) ExactArgs() []string {
	f := &b.fast
	if !f.started {
		return b.Args()
	}
	to := f.exactEnd(b.events)
	a := append(f.args[:0], sharedVersion, b.opts.KeyPrefix, b.partID(),
		strconv.FormatInt(int64(b.opts.MarkerTTL/time.Second), 10),
		strconv.FormatInt(int64(b.opts.Grace/time.Second), 10), f.work+"/"+strconv.Itoa(to))
	a = append(a, strconv.Itoa(b.nrules))
	a = b.table.appendStrings(a)
	a = append(a, strconv.Itoa(to-f.from))
	end := len(b.toks.ends)
	if to < b.events {
		end = b.evStart[to]
	}
	a = b.toks.appendRange(a, b.evStart[f.from], end)
	f.args = a
	return a
}

// ExactDone takes the interpreter's reply to ExactArgs and says what comes
// next.
func (b *SharedBatch) ExactDone(reply []any) (SharedStep, error) {
	f := &b.fast
	if !f.started {
		return StepDone, b.SetReply(reply)
	}
	if len(reply) == 0 {
		return 0, fmt.Errorf("%w: empty", ErrSharedReply)
	}
	if flag, _ := reply[0].(int64); flag == 1 {
		b.Replayed = true
	}
	to := f.exactEnd(b.events)
	f.sweepAt = -1
	return b.partDone(reply[1:], to)
}

// luaNum formats a number as the scripts read it.
func luaNum(v float64) string {
	return string(appendLuaNum(nil, v))
}

// appendLuaNum appends luaNum(v) to dst.
func appendLuaNum(dst []byte, v float64) []byte {
	if math.IsInf(v, -1) {
		return append(dst, "-inf"...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// The group value, as shared.lua stores it: msgpack {last, fired|false,
// data}, data (slot, value) pairs or (value, time) pairs. Lua's cmsgpack
// writes a number as an integer when it is one and as a float or a double
// otherwise.

var errMsgpack = errors.New("msgpack value not understood")

type mpReader struct {
	b   string
	pos int
}

func (m *mpReader) byte() (byte, error) {
	if m.pos >= len(m.b) {
		return 0, errMsgpack
	}
	c := m.b[m.pos]
	m.pos++
	return c, nil
}

func (m *mpReader) uint(n int) (uint64, error) {
	if m.pos+n > len(m.b) {
		return 0, errMsgpack
	}
	var v uint64
	for i := range n {
		v = v<<8 | uint64(m.b[m.pos+i])
	}
	m.pos += n
	return v, nil
}

// mpKind is the kind of a value mpReader.item read.
type mpKind uint8

// The kinds of values a group holds.
const (
	mpNil mpKind = iota // nil or false
	mpNumber
	mpString
)

// item reads a number (into num), a string (into str), nil or false. The
// value is returned typed, not as an interface: boxing a number or a
// string allocated, two or three times per group read.
func (m *mpReader) item() (kind mpKind, num float64, str string, err error) {
	c, err := m.byte()
	if err != nil {
		return 0, 0, "", err
	}
	switch {
	case c <= 0x7f:
		return mpNumber, float64(c), "", nil
	case c >= 0xe0:
		return mpNumber, float64(int8(c)), "", nil
	case c >= 0xa0 && c <= 0xbf:
		str, err = m.str(int(c & 0x1f))
		return mpString, 0, str, err
	case c == 0xc0, c == 0xc2:
		return mpNil, 0, "", nil
	}
	var u uint64
	switch c {
	case 0xcc, 0xd0, 0xd9:
		u, err = m.uint(1)
	case 0xcd, 0xd1, 0xda:
		u, err = m.uint(2)
	case 0xce, 0xd2, 0xdb, 0xca:
		u, err = m.uint(4)
	case 0xcf, 0xd3, 0xcb:
		u, err = m.uint(8)
	default:
		return 0, 0, "", errMsgpack
	}
	if err != nil {
		return 0, 0, "", err
	}
	switch c {
	case 0xcc, 0xcd, 0xce, 0xcf:
		return mpNumber, float64(u), "", nil
	case 0xd0:
		return mpNumber, float64(int8(u)), "", nil
	case 0xd1:
		return mpNumber, float64(int16(u)), "", nil
	case 0xd2:
		return mpNumber, float64(int32(u)), "", nil
	case 0xd3:
		return mpNumber, float64(int64(u)), "", nil
	case 0xca:
		return mpNumber, float64(math.Float32frombits(uint32(u))), "", nil
	case 0xcb:
		return mpNumber, math.Float64frombits(u), "", nil
	}
	str, err = m.str(int(u))
	return mpString, 0, str, err
}

// number reads a number.
func (m *mpReader) number() (float64, error) {
	k, v, _, err := m.item()
	if err == nil && k != mpNumber {
		err = errMsgpack
	}
	return v, err
}

func (m *mpReader) str(n int) (string, error) {
	if m.pos+n > len(m.b) {
		return "", errMsgpack
	}
	s := m.b[m.pos : m.pos+n]
	m.pos += n
	return s, nil
}

// array reads an array header (a map header of 0 is an empty table).
func (m *mpReader) array() (int, error) {
	c, err := m.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), nil
	case c == 0x80:
		return 0, nil
	case c == 0xdc:
		u, err := m.uint(2)
		return int(u), err
	case c == 0xdd:
		u, err := m.uint(4)
		return int(u), err
	}
	return 0, errMsgpack
}

// decodeGroup reads the stored group s into g, an empty group.
func decodeGroup(g *simGroup, s string, buckets bool) error {
	m := mpReader{b: s}
	n, err := m.array()
	if err != nil || n != 3 {
		return errMsgpack
	}
	if g.last, err = m.number(); err != nil {
		return err
	}
	switch k, x, _, err := m.item(); {
	case err != nil:
		return err
	case k == mpNumber:
		g.fired, g.isF = x, true
	case k != mpNil:
		return errMsgpack
	}
	n, err = m.array()
	if err != nil || n%2 != 0 {
		return errMsgpack
	}
	for i := 0; i < n; i += 2 {
		ka, slot, key, err := m.item()
		if err != nil {
			return err
		}
		x, err := m.number()
		if err != nil {
			return err
		}
		switch {
		case buckets && ka == mpNumber:
			j := int(luaMod(slot, aggBuckets))
			g.bs[j], g.bv[j], g.bok[j] = slot, x, true
		case !buckets && ka == mpString:
			if g.seen == nil {
				g.seen = map[string]float64{}
			}
			g.seen[key] = x
		default:
			return errMsgpack
		}
	}
	return nil
}

func (g *simGroup) encode(dst []byte, buckets bool) []byte {
	dst = append(dst, 0x93)
	dst = mpNum(dst, g.last)
	if g.isF {
		dst = mpNum(dst, g.fired)
	} else {
		dst = append(dst, 0xc2)
	}
	n := 0
	if buckets {
		for j := range g.bok {
			if g.bok[j] {
				n += 2
			}
		}
	} else {
		n = 2 * len(g.seen)
	}
	dst = append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	if buckets {
		for j := range g.bok {
			if g.bok[j] {
				dst = mpNum(dst, g.bs[j])
				dst = mpNum(dst, g.bv[j])
			}
		}
	} else {
		for k, t := range g.seen {
			dst = append(dst, 0xdb, byte(len(k)>>24), byte(len(k)>>16), byte(len(k)>>8), byte(len(k)))
			dst = append(dst, k...)
			dst = mpNum(dst, t)
		}
	}
	return dst
}

// mpNum writes a number: an integer when it is one (as cmsgpack does),
// else a double.
func mpNum(dst []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		i := int64(v)
		if i >= 0 && i <= 0x7f {
			return append(dst, byte(i))
		}
		u := uint64(i)
		return append(dst, 0xd3, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
	u := math.Float64bits(v)
	return append(dst, 0xcb, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}
