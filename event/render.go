package event

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// AppendWodleJSON appends the event as the Wazuh AWS collector serialises it
// with Python's json.dumps defaults: separators ", " and ": ", non-ASCII
// escaped as \uXXXX, original JSON types kept, empty strings and empty objects
// kept. This is the text Wazuh stores as full_log and previous_output
// (docs/wazuh-compat.md, "The wodle's messages").
func (e *Event) AppendWodleJSON(dst []byte) []byte {
	return e.appendNested(dst, wodleStyle, nil, nil)
}

// AppendDataJSON appends the alert's data object as analysisd writes it
// (docs/wazuh-compat.md): compact JSON, every scalar a string, arrays kept
// as arrays with their element types, empty strings and empty objects
// dropped. Fields are placed in order as Wazuh's W_JSON_AddField places
// them: a name equal to an earlier one but for ASCII letter case is that
// name (a repeated leaf is dropped, a nested field goes into the earlier
// object, or is dropped when the earlier member is not an object), and the
// first spelling stays. A string that starts with '[' is written as JSON
// when cJSON reads all of it as an array (appendCJSONArray).
func (e *Event) AppendDataJSON(dst []byte) []byte {
	return e.appendNested(dst, dataStyle, nil, nil)
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
// one pass with a stack of open path segments, remembering the names
// written at each open level. When a name equals one already written at its
// level (ignoring ASCII letter case in the data style: a key re-opening an
// object already closed, a scalar and an object under one name, a repeated
// key), or the event nests deeper than the stack holds, the event is
// written through a dataTree instead, which places fields exactly as
// Wazuh's W_JSON_AddField does. Both ways give the same bytes.
// When spans is not nil, it receives where each field's value was written
// (dst offsets), in the order written. sc is scratch space, or nil.
func (e *Event) appendNested(dst []byte, st style, spans *[]span, sc *scratch) []byte {
	if sc == nil {
		sc = scratchPool.Get().(*scratch)
		defer scratchPool.Put(sc)
	}
	start := len(dst)
	if out, ok := e.appendStream(dst, st, spans, sc); ok {
		return out
	}
	if spans != nil {
		*spans = (*spans)[:0]
	}
	sc.tree.build(e, st)
	return sc.tree.appendTo(dst[:start], e, 0, st, spans)
}

// scratch is the reusable memory of appendNested.
type scratch struct {
	sibs []string // names written at the open levels, outermost first
	tree dataTree
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// nameBit maps a name to one of 64 bits, the same for names equal but for
// ASCII letter case, so that most names need no comparison with the others
// of their level.
func nameBit(name string) uint64 {
	if name == "" {
		return 1
	}
	first, last := name[0]|0x20, name[len(name)-1]|0x20
	return 1 << ((uint(len(name))*7 + uint(first)*3 + uint(last)) & 63)
}

// streamDepth is how many open objects appendStream follows.
const streamDepth = 16

// appendStream is appendNested's one pass; it returns false when the event
// needs the tree.
func (e *Event) appendStream(dst []byte, st style, spans *[]span, sc *scratch) ([]byte, bool) {
	fold := st == dataStyle
	dst = append(dst, '{')
	var open [streamDepth]string          // open object segments below the root
	var levelStart [streamDepth + 1]int32 // where each level's names start in sibs
	var masks [streamDepth + 1]uint64     // nameBit of each level's names
	sibs := sc.sibs[:0]
	defer func() { sc.sibs = sibs[:0] }()
	depth := 0
	first := true
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			continue
		}
		key := f.Key
		// Find how many open segments the key continues; pos is where the
		// rest of key starts.
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
			sibs = sibs[:levelStart[depth]]
			masks[depth] = 0
			dst = append(dst, '}')
			depth--
			first = false
		}
		// Open the remaining parent segments, then write the leaf; a name
		// the level already has sends the event to the tree.
		for {
			dot := strings.IndexByte(key[pos:], '.')
			name := key[pos:]
			if dot >= 0 {
				name = key[pos : pos+dot]
			}
			if bit := nameBit(name); masks[depth]&bit == 0 {
				masks[depth] |= bit
			} else {
				for _, s := range sibs[levelStart[depth]:] {
					if len(s) == len(name) && (s == name || (fold && asciiEqualFold(s, name))) {
						return dst, false
					}
				}
			}
			sibs = append(sibs, name)
			dst = appendKey(dst, name, first, st)
			if dot < 0 {
				break
			}
			if depth == streamDepth {
				return dst, false
			}
			dst = append(dst, '{')
			open[depth] = name
			depth++
			levelStart[depth] = int32(len(sibs))
			first = true
			pos += dot + 1
		}
		vstart := len(dst)
		dst = appendValue(dst, f, st)
		if spans != nil {
			*spans = append(*spans, span{field: i, start: vstart, end: len(dst)})
		}
		first = false
	}
	for ; depth > 0; depth-- {
		dst = append(dst, '}')
	}
	return append(dst, '}'), true
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
		// A decoder's array is JSON cJSON reads; should one not be, it is
		// still written as the array it is.
		if out, ok, _ := appendCJSONArray(dst, f.Value); ok {
			return out
		}
		return appendReformatted(dst, f.Value, dataStyle)
	case Number:
		dst = append(dst, '"')
		dst = AppendNumberText(dst, f.Value)
		return append(dst, '"')
	case String:
		// W_JSON_AddField turns a value that cJSON reads as one whole
		// array back into JSON.
		if len(f.Value) > 0 && f.Value[0] == '[' {
			if out, ok, _ := appendCJSONArray(dst, f.Value); ok {
				return out
			}
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
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends s escaped as cJSON's print_string_ptr escapes it,
// without the quotes.
func appendEscaped[S ~string | ~[]byte](dst []byte, s S) []byte {
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
	return append(dst, s[last:]...)
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

// appendCJSONNumber prints a number literal as cJSON does (appendCJSONFloat).
func appendCJSONNumber(dst, lit []byte) []byte {
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !math.IsInf(v, 0) {
		return append(dst, lit...)
	}
	return appendCJSONFloat(dst, v)
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
