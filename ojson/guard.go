package ojson

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
)

// Limits bound one element of a records array (and any other value of the
// document around it), so that what a writer of the document puts in it
// cannot make a reader hold more than about MaxBytes: a larger element, or
// one with more fields or nested deeper, is skipped without being held
// (Records.Next reports a *LimitError for it) and the elements after it
// are read. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the largest element read, in bytes; default 1 MiB.
	MaxBytes int
	// MaxFields is the most fields an element may have: members of its
	// objects plus elements of its arrays, at every depth; default 10,000.
	MaxFields int
	// MaxDepth is the deepest nesting of objects and arrays in an element;
	// default 1000 (encoding/json stops the whole document at 10,000).
	MaxDepth int
}

// Defaults of Limits.
const (
	DefaultMaxBytes  = 1 << 20
	DefaultMaxFields = 10000
	DefaultMaxDepth  = 1000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxFields <= 0 {
		l.MaxFields = DefaultMaxFields
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Categories of LimitError, tested with errors.Is.
var (
	ErrTooLarge      = errors.New("record too large")
	ErrTooManyFields = errors.New("record with too many fields")
	ErrTooDeep       = errors.New("record nested too deep")
)

// LimitError is an element skipped for exceeding Limits: Err is
// ErrTooLarge, ErrTooManyFields or ErrTooDeep. Index is its 1-based index
// in the records array; Size is its length in bytes; Fields and Depth are
// counted up to the limit that stopped it, which is Limit.
type LimitError struct {
	Err    error
	Index  int
	Size   int64
	Fields int
	Depth  int
	Limit  int
}

// Error names the record, its size, the limit it broke and what to do.
func (e *LimitError) Error() string {
	switch e.Err {
	case ErrTooManyFields:
		return fmt.Sprintf("record %d (%d bytes) skipped, not decoded: more than %d fields (limits.record_fields); "+
			"raise limits.record_fields if the bucket's writers send such records", e.Index, e.Size, e.Limit)
	case ErrTooDeep:
		return fmt.Sprintf("record %d (%d bytes) skipped, not decoded: nested more than %d levels deep "+
			"(no AWS log nests so deep: check who writes to the bucket)", e.Index, e.Size, e.Limit)
	}
	return fmt.Sprintf("record %d (%d bytes) skipped, not decoded: larger than limits.record_size (%d bytes); "+
		"raise limits.record_size if the bucket's writers send such records", e.Index, e.Size, e.Limit)
}

func (e *LimitError) Unwrap() error { return e.Err }

// guard is the reader Records' decoder reads through. It passes the
// document through unchanged, except values that break the limits: the
// elements of the records array, and the values of the top-level object's
// other members. Each such value is read to its end without being held
// and replaced by "null"; a skipped element is remembered by its index for
// Records.Next. Offsets of the decoder are mapped back with orig.
type guard struct {
	src    *bufio.Reader
	member string
	bare   bool
	lim    Limits

	out  []byte // bytes ready for the decoder
	rpos int    // read position in out
	in   int64  // bytes consumed from src
	emit int64  // bytes handed to the decoder

	// Where the scan is: outside the records array (at the top level) or
	// in it; top-level depth and the key just read.
	state    uint8
	depth    int
	key      []byte
	keyOK    bool // key holds the whole key (not cut at len(member)+1)
	colon    bool // a ':' was read: a member's value comes next
	inRecs   bool
	elements int // elements of the records array started

	skipped map[int]*LimitError // element index -> why it was skipped
	shifts  []shift             // decoder offset -> source offset
	err     error
	// buf holds the element being read while it is within the limits;
	// stack is valueScan's, kept from one value to the next.
	buf   []byte
	stack []byte
}

// shift says that from decoder offset at on, source offsets are delta
// bytes further.
type shift struct{ at, delta int64 }

const (
	gTop uint8 = iota // before the document, or in the top-level container outside the records array
	gDone
)

func newGuard(r io.Reader, member string, bare bool, lim Limits) *guard {
	return &guard{src: bufio.NewReaderSize(r, 64<<10), member: member, bare: bare, lim: lim.withDefaults(), skipped: map[int]*LimitError{}}
}

// Read hands the decoder the next bytes of the guarded document: at least
// a few hundred when there are (the decoder looks ahead through its buffer
// for the blanks before an element).
func (g *guard) Read(p []byte) (int, error) {
	if g.rpos == len(g.out) {
		g.out, g.rpos = g.out[:0], 0
	}
	for len(g.out)-g.rpos < min(len(p), 512) && g.err == nil {
		g.err = g.step()
	}
	if g.rpos == len(g.out) {
		return 0, g.err
	}
	n := copy(p, g.out[g.rpos:])
	g.rpos += n
	g.emit += int64(n)
	return n, nil
}

// orig maps an offset of the decoder to the source.
func (g *guard) orig(off int64) int64 {
	i := sort.Search(len(g.shifts), func(i int) bool { return g.shifts[i].at > off })
	if i == 0 {
		return off
	}
	return off + g.shifts[i-1].delta
}

// take returns and forgets why element i was skipped, or nil.
func (g *guard) take(i int) *LimitError {
	e := g.skipped[i]
	delete(g.skipped, i)
	if e != nil {
		e.Index = i
	}
	return e
}

func (g *guard) readByte() (byte, error) {
	c, err := g.src.ReadByte()
	if err == nil {
		g.in++
	}
	return c, err
}

func (g *guard) unread() {
	_ = g.src.UnreadByte()
	g.in--
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// step moves the scan on by one token of the document's structure, or one
// whole guarded value, appending what the decoder gets to g.out.
func (g *guard) step() error {
	c, err := g.readByte()
	if err != nil {
		return err
	}
	if isSpace(c) || g.state == gDone {
		g.out = append(g.out, c)
		return nil
	}
	switch {
	case g.inRecs:
		return g.stepRecords(c)
	case g.depth == 0:
		// The document: an object, or the records array itself.
		switch c {
		case '{':
			g.depth = 1
		case '[':
			if g.bare {
				g.depth, g.inRecs = 1, true
			} else {
				g.state = gDone
			}
		default:
			g.state = gDone
		}
		g.out = append(g.out, c)
		return nil
	}
	// In the top-level object: a key, a separator, or a member's value.
	switch {
	case c == '"' && !g.colon:
		g.out = append(g.out, c)
		return g.readKey()
	case c == ':':
		g.colon = true
		g.out = append(g.out, c)
		return nil
	case c == ',':
		g.out = append(g.out, c)
		return nil
	case c == '}' && !g.colon:
		g.depth = 0
		g.state = gDone
		g.out = append(g.out, c)
		return nil
	}
	g.colon = false
	if g.keyOK && string(g.key) == g.member && c == '[' {
		g.inRecs, g.depth = true, 2
		g.out = append(g.out, c)
		return nil
	}
	g.unread()
	_, err = g.value(-1)
	return err
}

// readKey passes a key of the top-level object through and keeps enough
// of it to compare with the member's name.
func (g *guard) readKey() error {
	g.key, g.keyOK = g.key[:0], true
	esc := false
	for {
		c, err := g.readByte()
		if err != nil {
			return err
		}
		g.out = append(g.out, c)
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
			g.keyOK = false // an escaped name is compared by the decoder only
		case c == '"':
			return nil
		}
		if len(g.key) <= len(g.member) {
			g.key = append(g.key, c)
		} else {
			g.keyOK = false
		}
		if len(g.out) >= g.lim.MaxBytes {
			// A key longer than a record is not the member: its bytes go
			// to the decoder as they come.
			g.keyOK = false
			return nil
		}
	}
}

// stepRecords handles the records array: separators, its end, or an
// element.
func (g *guard) stepRecords(c byte) error {
	switch c {
	case ',':
		g.out = append(g.out, c)
		return nil
	case ']':
		g.inRecs = false
		g.depth--
		if g.depth == 0 {
			g.state = gDone
		}
		g.out = append(g.out, c)
		return nil
	}
	g.unread()
	g.elements++
	lerr, err := g.value(g.elements)
	if lerr != nil {
		g.skipped[g.elements] = lerr
	}
	return err
}

// value reads one value and hands it to the decoder whole when it keeps
// within the limits, else "null" in its place (element > 0: the element's
// index, for the record of why). A value the scan cannot follow (broken
// JSON) is handed over as read: the decoder reports the error.
func (g *guard) value(element int) (*LimitError, error) {
	start := g.in
	g.buf = g.buf[:0]
	s := valueScan{first: true, stack: g.stack[:0]}
	defer func() { g.stack = s.stack[:0] }() // kept for the next value
	for {
		c, err := g.valueByte(&s)
		if err != nil {
			if s.lerr == nil {
				g.out = append(g.out, g.buf...)
			}
			return nil, err
		}
		var end bool
		switch {
		case s.inStr:
			end = s.stringByte(c) && s.depth == 0
		case s.scalar:
			if end = isSpace(c) || c == ',' || c == ']' || c == '}' || c == ':'; end {
				g.unread()
				if s.lerr == nil {
					g.buf = g.buf[:len(g.buf)-1]
				}
			}
		case isSpace(c):
		default:
			end = s.structural(c, g.lim)
		}
		if end {
			return g.endValue(element, start, s.lerr, s.fields, max(s.depth, 0)), nil
		}
	}
}

// valueScan is where value's scan of one value is.
type valueScan struct {
	stack       []byte // '{' or '[' per open container, up to MaxDepth
	depth       int
	fields      int
	inStr, esc  bool
	expectValue bool // the next value counts as a field
	scalar      bool // the value is a number, true, false or null
	first       bool // no byte of the value read yet
	lerr        *LimitError
}

// over records the first limit the value goes beyond.
func (s *valueScan) over(cat error, limit int) {
	if s.lerr == nil {
		s.lerr = &LimitError{Err: cat, Limit: limit}
	}
}

// valueByte reads the next byte of the value (a string's body in bulk
// first), keeping the value's bytes in g.buf while it is within the size
// limit.
func (g *guard) valueByte(s *valueScan) (byte, error) {
	if s.inStr && !s.esc {
		// The body of a string, in bulk: a huge one costs no per-byte
		// work.
		if err := g.stringBody(s.lerr == nil); err != nil {
			return 0, err
		}
		if s.lerr == nil && len(g.buf) > g.lim.MaxBytes {
			s.over(ErrTooLarge, g.lim.MaxBytes)
		}
	}
	c, err := g.readByte()
	if err != nil {
		return 0, err
	}
	if s.lerr == nil {
		g.buf = append(g.buf, c)
		if len(g.buf) > g.lim.MaxBytes {
			s.over(ErrTooLarge, g.lim.MaxBytes)
		}
	}
	return c, nil
}

// stringByte follows a byte inside a string; it reports the closing
// quote.
func (s *valueScan) stringByte(c byte) (closed bool) {
	switch {
	case s.esc:
		s.esc = false
	case c == '\\':
		s.esc = true
	case c == '"':
		s.inStr = false
		return true
	}
	return false
}

// structural follows a byte outside strings and scalars: containers
// opened and closed, fields counted at each array element and object
// member's value. It reports the end of the value.
func (s *valueScan) structural(c byte, lim Limits) (end bool) {
	if s.first {
		s.first = false
		if c != '{' && c != '[' && c != '"' {
			s.scalar = true
			return false
		}
	}
	if s.expectValue && c != ']' && c != '}' {
		s.fields++
		s.expectValue = false
	}
	switch c {
	case '"':
		s.inStr = true
	case '{', '[':
		s.depth++
		if s.depth <= lim.MaxDepth {
			s.stack = append(s.stack, c)
		} else {
			s.over(ErrTooDeep, lim.MaxDepth)
		}
		s.expectValue = c == '['
	case '}', ']':
		s.depth--
		if s.depth < len(s.stack) && s.depth >= 0 {
			s.stack = s.stack[:s.depth]
		}
		if s.depth <= 0 {
			return true
		}
	case ',':
		// In an array the next value is an element; in an object the
		// next member is counted at its ':'.
		s.expectValue = s.depth <= len(s.stack) && s.stack[s.depth-1] == '['
	case ':':
		// The member's value is the field.
		s.expectValue = true
	}
	if s.fields > lim.MaxFields {
		s.over(ErrTooManyFields, lim.MaxFields)
	}
	return false
}

// stringBody consumes the bytes of a string up to its next quote or
// backslash (left unread), keeping them in g.buf when keep is set (and
// while it is within the limit).
func (g *guard) stringBody(keep bool) error {
	for {
		if g.src.Buffered() == 0 {
			if _, err := g.src.Peek(1); err != nil {
				return err
			}
		}
		b, _ := g.src.Peek(g.src.Buffered())
		i := bytes.IndexAny(b, "\\\"")
		n := len(b)
		if i >= 0 {
			n = i
		}
		if keep && len(g.buf) <= g.lim.MaxBytes {
			g.buf = append(g.buf, b[:n]...)
		}
		_, _ = g.src.Discard(n)
		g.in += int64(n)
		if i >= 0 {
			return nil
		}
	}
}

// endValue hands over the value read (or "null" for one skipped) and
// records the shift of offsets.
func (g *guard) endValue(element int, start int64, lerr *LimitError, fields, depth int) *LimitError {
	if lerr == nil {
		g.out = append(g.out, g.buf...)
		return nil
	}
	lerr.Size, lerr.Fields, lerr.Depth = g.in-start, fields, depth
	g.out = append(g.out, "null"...)
	at := g.emit + int64(len(g.out)-g.rpos) // decoder offset just after the placeholder
	prev := int64(0)
	if n := len(g.shifts); n > 0 {
		prev = g.shifts[n-1].delta
	}
	g.shifts = append(g.shifts, shift{at: at, delta: prev + lerr.Size - 4})
	if element <= 0 {
		return nil
	}
	return lerr
}
