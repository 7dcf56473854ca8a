package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// AppendWodleJSON appends the event as the Wazuh AWS collector serialises it
// with Python's json.dumps defaults: separators ", " and ": ", non-ASCII
// escaped as \uXXXX, original JSON types kept, empty strings and empty objects
// kept. This is the text Wazuh stores as full_log and previous_output
// (reference/wazuh.md §1.2).
func (e *Event) AppendWodleJSON(dst []byte) []byte {
	return e.appendNested(dst, wodleStyle)
}

// AppendDataJSON appends the alert's data object as analysisd writes it
// (reference/wazuh.md §4.3): compact JSON, every scalar a string, arrays kept
// as arrays with their element types, empty strings and empty objects
// dropped, the first occurrence of a key winning.
func (e *Event) AppendDataJSON(dst []byte) []byte {
	return e.appendNested(dst, dataStyle)
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
// contiguous in every event a decoder produces, so the object is written in one
// pass with a stack of open path segments; an event that breaks that
// (a key re-opening a closed object, or a duplicate key) is written through
// a tree instead.
func (e *Event) appendNested(dst []byte, st style) []byte {
	if !e.contiguous(st) {
		return e.appendTree(dst, st)
	}
	start := len(dst)
	dst = append(dst, '{')
	var open [16]string // open object segments below the root
	depth := 0
	first := true
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			continue
		}
		key := f.Key
		// Find how many open segments the key shares.
		common := 0
		rest := key
		for common < depth {
			dot := strings.IndexByte(rest, '.')
			if dot < 0 || rest[:dot] != open[common] {
				break
			}
			rest = rest[dot+1:]
			common++
		}
		for depth > common {
			dst = append(dst, '}')
			depth--
			first = false
		}
		// Open the remaining parent segments.
		for {
			dot := strings.IndexByte(rest, '.')
			if dot < 0 {
				break
			}
			if depth == len(open) {
				// Too deep for the stack: fall back to the tree.
				return e.appendTree(dst[:start], st)
			}
			seg := rest[:dot]
			dst = appendKey(dst, seg, first, st)
			dst = append(dst, '{')
			open[depth] = seg
			depth++
			first = true
			rest = rest[dot+1:]
		}
		dst = appendKey(dst, rest, first, st)
		dst = appendValue(dst, f, st)
		first = false
	}
	for ; depth > 0; depth-- {
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// contiguous reports whether every object's fields are adjacent and no key
// repeats, so that appendNested can stream. It compares each field only with
// the previous one, which is enough for the events decoders produce; the
// full check runs only when two neighbours disagree in a way that could hide
// a repeat.
func (e *Event) contiguous(st style) bool {
	prev := ""
	var closed []string
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			continue
		}
		k := f.Key
		if k == prev {
			return false
		}
		if prev != "" {
			// Objects of prev that k leaves are closed from now on.
			pp := parentOf(prev)
			for pp != "" && !strings.HasPrefix(k, pp+".") {
				closed = append(closed, pp)
				pp = parentOf(pp)
			}
			// k must not re-open a closed object, nor have a closed object
			// as its own key.
			for _, c := range closed {
				if k == c || strings.HasPrefix(k, c+".") {
					return false
				}
			}
		}
		prev = k
	}
	return true
}

func parentOf(k string) string {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i]
	}
	return ""
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
	if st == wodleStyle {
		switch f.Kind {
		case String:
			return AppendPythonString(dst, string(f.Value))
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
		return AppendCJSONString(dst, string(f.Value))
	default:
		return AppendCJSONString(dst, string(f.Value))
	}
}

// AppendPythonString appends s quoted as Python's json.dumps does with
// ensure_ascii: everything outside printable ASCII escaped, lower-case hex,
// surrogate pairs above U+FFFF.
func AppendPythonString(dst []byte, s string) []byte {
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
		r, size := utf8.DecodeRuneInString(s[i:])
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
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = appendControl(dst, c, false)
		last = i + 1
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}

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
