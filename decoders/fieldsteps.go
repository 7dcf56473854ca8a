package decoders

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// The steps that work on the fields already in the event. Fields are flat
// and in document order, so an object is the contiguous run of fields whose
// keys start with its path and a dot, and an empty object is one field of
// kind event.EmptyObject (see run.go for the helpers).

// kindMask is a set of event.Kinds.
type kindMask uint8

const (
	kindString = event.String
	kindNumber = event.Number
	kindBool   = event.Bool
	kindNull   = event.Null
	kindArray  = event.Array
)

const (
	scalarKinds   kindMask = 1<<kindString | 1<<kindNumber | 1<<kindBool | 1<<kindNull
	allValueKinds          = scalarKinds | 1<<kindArray
)

func (m kindMask) has(k event.Kind) bool { return m&(1<<k) != 0 }

// exactField returns the index of the non-object field key, or -1.
func exactField(c *stepState, r *runState, fields []event.Field, key string) int {
	if !c.hit(r) {
		c.find(r, fields, key)
	}
	return c.exact
}

// setStep sets a field to a constant or an origin value.
type setStep struct {
	key    string
	value  []byte
	origin int // originField, or -1 for value
}

func (s *setStep) prepare(r *runState, c *stepState) {
	c.sym = r.syms.Lookup(s.key)
	c.val = s.value
	if s.origin >= 0 {
		c.val = r.originVals[s.origin]
	}
	c.safe = event.IsSafe(c.val)
}

func (s *setStep) apply(r *runState, ev *event.Event, c *stepState) error {
	if c.hit(r) && c.appendNew {
		// The flow-log path: field by field, see columnsStep.apply.
		fs := growFields(ev.Fields, 1)
		f := &fs[len(fs)-1]
		f.Key = s.key
		f.Value = c.val
		f.Kind = event.String
		f.Sym = c.sym
		f.Safe = c.safe
		ev.Fields = fs
		return nil
	}
	c.put(r, ev, s.key, event.Field{Key: s.key, Value: c.val, Kind: event.String, Sym: c.sym, Safe: c.safe})
	return nil
}

// renameStep renames a field or an object in place; an existing field with
// the new name is removed.
type renameStep struct {
	from, to string
}

func (s *renameStep) prepare(r *runState, c *stepState) {
	c.sym = r.syms.Lookup(s.to)
	c.sub = make([]stepState, 1)
}

func (s *renameStep) apply(r *runState, ev *event.Event, c *stepState) error {
	start, end := c.find(r, ev.Fields, s.from)
	if start < 0 {
		return nil
	}
	if ts, te := c.sub[0].find(r, ev.Fields, s.to); ts >= 0 {
		ev.Fields = append(ev.Fields[:ts], ev.Fields[te:]...)
		if ts < start {
			start -= te - ts
			end -= te - ts
		}
	}
	var buf [128]byte
	for i := start; i < end; i++ {
		f := &ev.Fields[i]
		if f.Key == s.from {
			f.Key, f.Sym = s.to, c.sym
			continue
		}
		ki := r.keys.get(r, append(append(buf[:0], s.to...), f.Key[len(s.from):]...))
		f.Key, f.Sym = ki.key, ki.sym
	}
	return nil
}

// removeStep removes a field or an object.
type removeStep struct{ key string }

func (s *removeStep) prepare(*runState, *stepState) {}

func (s *removeStep) apply(r *runState, ev *event.Event, c *stepState) error {
	if start, end := c.find(r, ev.Fields, s.key); start >= 0 {
		ev.Fields = removeRun(ev.Fields, start, end, s.key)
	}
	return nil
}

// copyStep copies a scalar field whose text matches re to a new field
// (Wazuh's source_ip_address: docs/wazuh-compat.md, "CloudTrail records", step 3).
type copyStep struct {
	from, to string
	re       interface{ Match([]byte) bool }
	kinds    kindMask
}

func (s *copyStep) prepare(r *runState, c *stepState) {
	c.sym = r.syms.Lookup(s.to)
	c.sub = make([]stepState, 2)
}

func (s *copyStep) apply(r *runState, ev *event.Event, c *stepState) error {
	i := exactField(&c.sub[0], r, ev.Fields, s.from)
	if i < 0 || !s.kinds.has(ev.Fields[i].Kind) {
		return nil
	}
	f := ev.Fields[i]
	if s.re != nil {
		text := f.Value
		if f.Kind == event.Number {
			start := len(r.scratch)
			r.scratch = ojson.AppendNumberText(r.scratch, f.Value)
			text = r.scratch[start:]
		}
		if !s.re.Match(text) {
			return nil
		}
	}
	f.Key, f.Sym = s.to, c.sym
	c.sub[1].put(r, ev, s.to, f)
	r.layout = 0
	return nil
}

// wrapStep replaces a value v of the selected kinds by {key: v}, optionally
// turning v into Python's str(v) (docs/wazuh-compat.md, "CloudTrail records", steps 4–6).
type wrapStep struct {
	key, newKey string
	kinds       kindMask
	python      bool
}

func (s *wrapStep) prepare(r *runState, c *stepState) { c.sym = r.syms.Lookup(s.newKey) }

func (s *wrapStep) apply(r *runState, ev *event.Event, c *stepState) error {
	i := exactField(c, r, ev.Fields, s.key)
	if i < 0 || !s.kinds.has(ev.Fields[i].Kind) {
		return nil
	}
	f := &ev.Fields[i]
	f.Key, f.Sym = s.newKey, c.sym
	if s.python {
		start := len(r.scratch)
		r.scratch = r.appendPythonStr(r.scratch, f)
		f.Value, f.Kind = r.scratch[start:len(r.scratch):len(r.scratch)], event.String
		f.Safe = event.IsSafe(f.Value)
	}
	r.layout = 0
	return nil
}

// epochStep rewrites Unix seconds as YYYY-MM-DDTHH:MM:SSZ (UTC), as the
// wodle's datetime.utcfromtimestamp(...).strftime does for start and end
// (docs/wazuh-compat.md, "VPC flow logs"). Values that are not Unix seconds ("-") stay.
type epochStep struct{ keys []string }

func (s *epochStep) prepare(_ *runState, c *stepState) {
	c.sub = make([]stepState, len(s.keys))
	for i := range c.sub {
		c.sub[i].last = make([]byte, 0, 18)
	}
}

func (s *epochStep) apply(r *runState, ev *event.Event, c *stepState) error {
	for k, key := range s.keys {
		i := exactField(&c.sub[k], r, ev.Fields, key)
		if i < 0 {
			continue
		}
		f := &ev.Fields[i]
		if f.Kind != event.String && f.Kind != event.Number {
			continue
		}
		// Consecutive flow-log lines often share a start or an end: the
		// last value of each field and its text are kept.
		sc := &c.sub[k]
		start := len(r.scratch)
		if len(sc.last) == 0 || string(sc.last) != string(f.Value) {
			sec, ok := parseUnix(f.Value)
			if !ok || sec > maxUnix {
				continue
			}
			r.epoch.appendUTC(sc.lastText[:0], sec)
			sc.last = append(sc.last[:0], f.Value...)
		}
		r.scratch = append(r.scratch, sc.lastText[:]...)
		f.Value, f.Kind, f.Safe = r.scratch[start:len(r.scratch):len(r.scratch)], event.String, true
	}
	return nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last second Python's datetime holds.
const maxUnix = 253402300799

// parseUnix parses a string of 1 to 18 digits.
func parseUnix(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	head := b
	if len(b) >= 8 {
		head = b[:len(b)-8]
	}
	for _, c := range head {
		if c-'0' > 9 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if len(b) < 8 {
		return v, true
	}
	low, ok := parse8(b[len(b)-8:])
	return v*100000000 + int64(low), ok
}

// parse8 parses exactly eight digits at once.
func parse8(b []byte) (uint64, bool) {
	w := binary.LittleEndian.Uint64(b)
	if ((w+0x4646464646464646)|(w-zeros8))&msb != 0 {
		return 0, false
	}
	w -= zeros8
	w = (w*10 + w>>8) & 0x00ff00ff00ff00ff
	w = (w*100 + w>>16) & 0x0000ffff0000ffff
	w = (w*10000 + w>>32) & 0xffffffff
	return w, true
}

// epochCache formats Unix seconds, remembering the date of the last day
// seen: the records of a flow-log file span a few minutes.
type epochCache struct {
	day  int64
	date [11]byte // YYYY-MM-DDT
	ok   bool
}

const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendUTC appends sec (0 <= sec <= maxUnix) as YYYY-MM-DDTHH:MM:SSZ.
func (e *epochCache) appendUTC(dst []byte, sec int64) []byte {
	day, rem := sec/86400, sec%86400
	if !e.ok || e.day != day {
		formatDate(&e.date, day)
		e.day, e.ok = day, true
	}
	n := len(dst)
	if cap(dst)-n < 20 {
		dst = append(dst, make([]byte, 20)...)[:n]
	}
	dst = dst[:n+20]
	t := (*[20]byte)(dst[n:])
	*(*[11]byte)(t[:11]) = e.date
	h, m, s := rem/3600, rem/60%60, rem%60
	t[11], t[12] = twoDigits[2*h], twoDigits[2*h+1]
	t[13] = ':'
	t[14], t[15] = twoDigits[2*m], twoDigits[2*m+1]
	t[16] = ':'
	t[17], t[18] = twoDigits[2*s], twoDigits[2*s+1]
	t[19] = 'Z'
	return dst
}

// formatDate writes the civil date of a day since 1970-01-01 as
// YYYY-MM-DDT, with the civil-from-days algorithm of H. Hinnant.
func formatDate(out *[11]byte, days int64) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	out[0], out[1] = twoDigits[2*(y/100)], twoDigits[2*(y/100)+1]
	out[2], out[3] = twoDigits[2*(y%100)], twoDigits[2*(y%100)+1]
	out[4] = '-'
	out[5], out[6] = twoDigits[2*m], twoDigits[2*m+1]
	out[7] = '-'
	out[8], out[9] = twoDigits[2*d], twoDigits[2*d+1]
	out[10] = 'T'
}

// timeFormat is how event_time reads a field.
type timeFormat uint8

const (
	timeUnix    timeFormat = iota + 1 // Unix seconds
	timeRFC3339                       // 2024-03-05T10:14:52Z
)

// eventTimeStep sets Event.Time from the first listed field that holds a
// usable time; it never fails.
type eventTimeStep struct {
	keys   []string
	format timeFormat
}

func (s *eventTimeStep) prepare(_ *runState, c *stepState) { c.sub = make([]stepState, len(s.keys)) }

func (s *eventTimeStep) apply(r *runState, ev *event.Event, c *stepState) error {
	for k, key := range s.keys {
		i := exactField(&c.sub[k], r, ev.Fields, key)
		if i < 0 {
			continue
		}
		v := ev.Fields[i].Value
		switch s.format {
		case timeUnix:
			if sec, ok := parseUnix(v); ok {
				ev.Time = sec
				return nil
			}
		case timeRFC3339:
			if t, err := time.Parse(time.RFC3339, string(v)); err == nil {
				ev.Time = t.Unix()
				return nil
			}
		}
	}
	return nil
}

func inScope(key, under string) bool { return under == "" || key == under || within(key, under) }

// dropNullsStep removes null members of objects at every depth, not inside
// lists; an object left empty stays as {} (the wodle's remove_none_fields,
// docs/wazuh-compat.md, "CloudTrail records", step 1).
type dropNullsStep struct{ under string }

func (s *dropNullsStep) prepare(*runState, *stepState) {}

func (s *dropNullsStep) apply(r *runState, ev *event.Event, _ *stepState) error {
	fs := ev.Fields
	w := 0
	for i := 0; i < len(fs); i++ {
		f := fs[i]
		if f.Kind != event.Null || !inScope(f.Key, s.under) {
			fs[w] = f
			w++
			continue
		}
		// Dropped. If it was the last member of its object, the object
		// stays as {}: its other members would sit right before (already
		// kept) or right after this field.
		if dot := strings.LastIndexByte(f.Key, '.'); dot > 0 {
			parent := f.Key[:dot]
			prevIn := w > 0 && within(fs[w-1].Key, parent)
			nextIn := i+1 < len(fs) && within(fs[i+1].Key, parent)
			if !prevIn && !nextIn {
				fs[w] = event.Field{Key: parent, Value: emptyObject, Kind: event.EmptyObject, Sym: r.syms.Lookup(parent)}
				w++
			}
		}
	}
	if w != len(fs) {
		ev.Fields = fs[:w]
		r.layout = 0
	}
	return nil
}

// unwrapListsStep replaces every list of exactly one element by the element,
// for lists that are members of objects at any depth; the element itself is
// not visited again (the wodle's single_element_list_to_dictionary,
// docs/wazuh-compat.md, "CloudTrail records", step 2).
type unwrapListsStep struct{ under string }

func (s *unwrapListsStep) prepare(*runState, *stepState) {}

func (s *unwrapListsStep) apply(r *runState, ev *event.Event, _ *stepState) error {
	// One pass into tmp, so that many lists cost linear time.
	r.tmp = r.tmp[:0]
	changed := false
	for _, f := range ev.Fields {
		if f.Kind == event.Array && inScope(f.Key, s.under) && ojson.CountElements(f.Value) == 1 {
			// Compact JSON the record step wrote; its depth was checked then.
			arr, err := r.tree.Add(f.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", f.Key, err)
			}
			r.tmp = appendFlat(&r.tree, r, r.tree.First(arr), append(r.pathBuf[:0], f.Key...), r.tmp)
			changed = true
			continue
		}
		r.tmp = append(r.tmp, f)
	}
	if changed {
		ev.Fields = append(ev.Fields[:0], r.tmp...)
		r.layout = 0
	}
	return nil
}

// replaceFields replaces fields[start:end] by with.
func replaceFields(fields []event.Field, start, end int, with []event.Field) []event.Field {
	n := end - start
	switch {
	case len(with) == n:
		copy(fields[start:], with)
		return fields
	case len(with) < n:
		copy(fields[start:], with)
		return append(fields[:start+len(with)], fields[end:]...)
	default:
		copy(fields[start:], with[:n])
		return insertFields(fields, end, with[n:]...)
	}
}
