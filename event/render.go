package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// AppendWodleJSON appends the event as the Wazuh AWS collector serialises it
// with Python's json.dumps defaults: separators ", " and ": ", non-ASCII
// escaped as \uXXXX, original JSON types kept, empty strings and empty objects
// kept. This is the text Wazuh stores as full_log and previous_output
// (reference/wazuh.md §1.2).
func (e *Event) AppendWodleJSON(dst []byte) []byte {
	return e.appendNested(dst, wodleStyle, nil)
}

// AppendDataJSON appends the alert's data object as analysisd writes it
// (reference/wazuh.md §4.3): compact JSON, every scalar a string, arrays kept
// as arrays with their element types, empty strings and empty objects
// dropped, the first occurrence of a key winning.
func (e *Event) AppendDataJSON(dst []byte) []byte {
	return e.appendNested(dst, dataStyle, nil)
}

// DataWriter renders data objects like AppendDataJSON, remembering the layout
// of the last event: when the next event has the same keys (every record of
// one flow-log file does), only the values are written between the
// remembered fragments. A DataWriter is for one goroutine.
type DataWriter struct {
	layout uint64 // the Event.Layout learned, 0 if none
	keys   []string
	skips  []bool
	frags  [][]byte // frags[i] precedes the value of field i; nil when it is skipped
	end    []byte   // closes the objects after the last value
	ok     bool     // the layout streams (no tree fallback)
	spans  []span
	buf    []byte
}

type span struct{ field, start, end int }

// Append appends e's data object to dst.
func (w *DataWriter) Append(dst []byte, e *Event) []byte {
	if !w.same(e) {
		w.learn(e)
	}
	if !w.ok {
		return e.AppendDataJSON(dst)
	}
	for i := range e.Fields {
		if w.skips[i] {
			continue
		}
		dst = append(dst, w.frags[i]...)
		dst = appendValue(dst, &e.Fields[i], dataStyle)
	}
	return append(dst, w.end...)
}

func (w *DataWriter) same(e *Event) bool {
	if len(e.Fields) != len(w.keys) || len(w.keys) == 0 {
		return false
	}
	if e.Layout != 0 && e.Layout == w.layout {
		// Same keys by the decoder's promise; only which values are empty
		// may differ.
		for i := range e.Fields {
			if skip(&e.Fields[i], dataStyle) != w.skips[i] {
				return false
			}
		}
		return true
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		if !sameString(f.Key, w.keys[i]) || skip(f, dataStyle) != w.skips[i] {
			return false
		}
	}
	return true
}

// sameString compares two strings, first by where they are stored: a
// decoder hands out the same key strings for every record of a file.
func sameString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return unsafe.StringData(a) == unsafe.StringData(b) || a == b
}

// learn renders e once, recording where each value went, and keeps the
// bytes between values as the layout.
func (w *DataWriter) learn(e *Event) {
	w.layout = e.Layout
	w.keys = w.keys[:0]
	w.skips = w.skips[:0]
	w.frags = w.frags[:0]
	w.spans = w.spans[:0]
	for i := range e.Fields {
		w.keys = append(w.keys, e.Fields[i].Key)
		w.skips = append(w.skips, skip(&e.Fields[i], dataStyle))
		w.frags = append(w.frags, nil)
	}
	if w.spans == nil {
		w.spans = make([]span, 0, 32)
	}
	w.buf = e.appendNested(w.buf[:0], dataStyle, &w.spans)
	w.ok = w.spans != nil
	if !w.ok {
		return
	}
	prev := 0
	for _, sp := range w.spans {
		w.frags[sp.field] = append([]byte(nil), w.buf[prev:sp.start]...)
		prev = sp.end
	}
	w.end = append(w.end[:0], w.buf[prev:]...)
}

type style uint8

const (
	wodleStyle style = iota
	dataStyle
)

// skip reports whether a field is left out in the given style.
func skip(f *Field, st style) bool {
	if st == dataStyle {
		return f.Kind == EmptyObject || (f.Kind == String && len(f.Value) == 0)
	}
	return false
}

// appendNested re-nests the flat dotted keys. Fields of one object are
// contiguous in every event a decoder produces, so the object is written in
// one pass with a stack of open path segments. An event that breaks that (a
// key re-opening an object already closed, a scalar and an object under the
// same key, the same key twice in a row, or nesting deeper than the stack) is
// written through a tree instead, which keeps the first occurrence of every
// key as analysisd does.
// When spans is not nil, it receives where each field's value was written
// (dst offsets), or is set to nil when the tree was used.
func (e *Event) appendNested(dst []byte, st style, spans *[]span) []byte {
	start := len(dst)
	dst = append(dst, '{')
	var open [16]string // open object segments below the root
	var closedBuf [8]string
	closed := closedBuf[:0] // full paths of objects closed so far
	depth := 0
	first := true
	prev := ""
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			continue
		}
		key := f.Key
		if key == prev {
			return e.tree(dst[:start], st, spans)
		}
		// Find how many open segments the key shares; pos is where the
		// unshared part of key starts.
		common, pos := 0, 0
		for common < depth {
			seg := open[common]
			if len(key)-pos <= len(seg) || key[pos+len(seg)] != '.' || key[pos:pos+len(seg)] != seg {
				break
			}
			pos += len(seg) + 1
			common++
		}
		for depth > common {
			// The object prev[:end] closes.
			end := 0
			for d := 0; d < depth; d++ {
				end += len(open[d]) + 1
			}
			closed = append(closed, prev[:end-1])
			dst = append(dst, '}')
			depth--
			first = false
		}
		// Open the remaining parent segments.
		for {
			dot := strings.IndexByte(key[pos:], '.')
			if dot < 0 {
				break
			}
			if depth == len(open) || isClosed(closed, key[:pos+dot]) {
				return e.tree(dst[:start], st, spans)
			}
			seg := key[pos : pos+dot]
			dst = appendKey(dst, seg, first, st)
			dst = append(dst, '{')
			open[depth] = seg
			depth++
			first = true
			pos += dot + 1
		}
		if len(closed) > 0 && isClosed(closed, key) {
			return e.tree(dst[:start], st, spans)
		}
		dst = appendKey(dst, key[pos:], first, st)
		vstart := len(dst)
		dst = appendValue(dst, f, st)
		if spans != nil {
			*spans = append(*spans, span{field: i, start: vstart, end: len(dst)})
		}
		first = false
		prev = key
	}
	for ; depth > 0; depth-- {
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func (e *Event) tree(dst []byte, st style, spans *[]span) []byte {
	if spans != nil {
		*spans = nil
	}
	return e.appendTree(dst, st)
}

func isClosed(closed []string, path string) bool {
	for _, c := range closed {
		if c == path {
			return true
		}
	}
	return false
}

// node is one object of the fallback tree.
type node struct {
	keys  []string
	kids  map[string]*node
	leafs map[string]*Field
}

func (e *Event) appendTree(dst []byte, st style) []byte {
	root := &node{kids: map[string]*node{}, leafs: map[string]*Field{}}
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			continue
		}
		segs := strings.Split(f.Key, ".")
		n := root
		ok := true
		for _, s := range segs[:len(segs)-1] {
			if _, scalar := n.leafs[s]; scalar {
				ok = false // an intermediate node already holds a scalar
				break
			}
			c, found := n.kids[s]
			if !found {
				c = &node{kids: map[string]*node{}, leafs: map[string]*Field{}}
				n.kids[s] = c
				n.keys = append(n.keys, s)
			}
			n = c
		}
		last := segs[len(segs)-1]
		if !ok {
			continue
		}
		if _, dup := n.leafs[last]; dup {
			continue // the first occurrence wins
		}
		if _, obj := n.kids[last]; obj {
			continue
		}
		n.leafs[last] = f
		n.keys = append(n.keys, last)
	}
	return root.append(dst, st)
}

func (n *node) append(dst []byte, st style) []byte {
	dst = append(dst, '{')
	for i, k := range n.keys {
		dst = appendKey(dst, k, i == 0, st)
		if c, ok := n.kids[k]; ok {
			dst = c.append(dst, st)
		} else {
			dst = appendValue(dst, n.leafs[k], st)
		}
	}
	return append(dst, '}')
}

func appendKey(dst []byte, k string, first bool, st style) []byte {
	if st == wodleStyle {
		if !first {
			dst = append(dst, ", "...)
		}
		dst = AppendPythonString(dst, k)
		return append(dst, ": "...)
	}
	if !first {
		dst = append(dst, ',')
	}
	dst = AppendCJSONString(dst, k)
	return append(dst, ':')
}

func appendValue(dst []byte, f *Field, st style) []byte {
	if f.Safe && f.Kind == String && (len(f.Value) == 0 || f.Value[0] != '[') {
		dst = append(dst, '"')
		dst = append(dst, f.Value...)
		return append(dst, '"')
	}
	if st == wodleStyle {
		switch f.Kind {
		case String:
			return AppendPythonString(dst, f.Value)
		case Array:
			return appendReformatted(dst, f.Value, wodleStyle)
		default:
			return append(dst, f.Value...)
		}
	}
	switch f.Kind {
	case Array:
		return appendReformatted(dst, f.Value, dataStyle)
	case Number:
		dst = append(dst, '"')
		dst = AppendNumberText(dst, f.Value)
		return append(dst, '"')
	case String:
		// analysisd turns a value that starts with '[' and parses as a JSON
		// array back into an array.
		if len(f.Value) > 0 && f.Value[0] == '[' && validArray(f.Value) {
			return appendReformatted(dst, f.Value, dataStyle)
		}
		return AppendCJSONString(dst, f.Value)
	default:
		return AppendCJSONString(dst, f.Value)
	}
}

// AppendPythonString appends s quoted as Python's json.dumps does with
// ensure_ascii: everything outside printable ASCII escaped, lower-case hex,
// surrogate pairs above U+FFFF.
func AppendPythonString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = appendControl(dst, c, true)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:]))
		i += size
		if r >= 0x10000 {
			r -= 0x10000
			dst = appendU(dst, 0xd800+(r>>10))
			dst = appendU(dst, 0xdc00+(r&0x3ff))
			continue
		}
		dst = appendU(dst, r)
	}
	return append(dst, '"')
}

// AppendCJSONString appends s quoted as cJSON prints it: ", \ and control
// characters escaped, everything else (UTF-8, '/') raw.
func AppendCJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	last := 0
	i := 0
	// Skip 8 bytes at a time while none needs escaping.
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if needsEscape8(x) {
			break
		}
	}
	for ; i < len(s); i++ {
		c := s[i]
		if !cjsonEscape[c] {
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = appendControl(dst, c, false)
		last = i + 1
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}

// needsEscape8 reports whether one of the 8 bytes in x is below 0x20, a
// quote or a backslash (may report a false positive, never a false negative:
// the byte loop decides then).
func needsEscape8(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	less := (x - lo*0x20) & ^x & hi
	q := x ^ (lo * '"')
	quote := (q - lo) & ^q & hi
	b := x ^ (lo * '\\')
	bs := (b - lo) & ^b & hi
	return less|quote|bs != 0
}

// cjsonEscape marks the bytes cJSON escapes.
var cjsonEscape = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'] = true
	t['\\'] = true
	return t
}()

func appendControl(dst []byte, c byte, python bool) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	_ = python
	return appendU(dst, rune(c))
}

func appendU(dst []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

// appendReformatted re-writes compact JSON text in the wodle (Python) or data
// (cJSON) style: separators, string escapes and, for data, cJSON's number
// form. The input is JSON a decoder produced, so it is valid.
func appendReformatted(dst, js []byte, st style) []byte {
	for i := 0; i < len(js); {
		c := js[i]
		switch {
		case c == '"':
			end := stringEnd(js, i)
			s, ok := unquote(js[i:end])
			if !ok {
				dst = append(dst, js[i:end]...)
			} else if st == wodleStyle {
				dst = AppendPythonString(dst, s)
			} else {
				dst = AppendCJSONString(dst, s)
			}
			i = end
		case c == ',' && st == wodleStyle:
			dst = append(dst, ", "...)
			i++
		case c == ':' && st == wodleStyle:
			dst = append(dst, ": "...)
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(js) && strings.IndexByte("0123456789+-.eE", js[j]) >= 0 {
				j++
			}
			if st == dataStyle {
				dst = appendCJSONNumber(dst, js[i:j])
			} else {
				dst = append(dst, js[i:j]...)
			}
			i = j
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}

// appendCJSONNumber prints a number as cJSON does: "%d" when it equals its
// int value, else "%1.15g" (or "%1.17g" when 15 digits do not round-trip).
func appendCJSONNumber(dst, lit []byte) []byte {
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return append(dst, lit...)
	}
	if v >= -2147483648 && v <= 2147483647 && v == float64(int64(v)) {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	s := strconv.FormatFloat(v, 'g', 15, 64)
	if back, _ := strconv.ParseFloat(s, 64); back != v {
		s = strconv.FormatFloat(v, 'g', 17, 64)
	}
	return append(dst, s...)
}

func stringEnd(js []byte, i int) int {
	for j := i + 1; j < len(js); j++ {
		switch js[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(js)
}

// unquote decodes a JSON string literal.
func unquote(q []byte) (string, bool) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", false
	}
	q = q[1 : len(q)-1]
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q), true
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(q) {
			return "", false
		}
		switch q[i] {
		case '"', '\\', '/':
			b.WriteByte(q[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 >= len(q) {
				return "", false
			}
			r, err := strconv.ParseUint(string(q[i+1:i+5]), 16, 32)
			if err != nil {
				return "", false
			}
			i += 4
			ru := rune(r)
			if ru >= 0xd800 && ru < 0xdc00 && i+6 < len(q) && q[i+1] == '\\' && q[i+2] == 'u' {
				if lo, err := strconv.ParseUint(string(q[i+3:i+7]), 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
					ru = 0x10000 + (ru-0xd800)<<10 + (rune(lo) - 0xdc00)
					i += 6
				}
			}
			b.WriteRune(ru)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// validArray reports whether v is one complete JSON array.
func validArray(v []byte) bool {
	return json.Valid(v)
}
