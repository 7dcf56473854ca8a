package ojson

import (
	"bytes"
	"math"
	"strconv"
)

// The rules of cJSON 1.7.18, the JSON library of Wazuh's analysisd, that
// the alerts it writes show: how strings are escaped, how numbers print,
// which text it reads as an array, and how a number becomes text.

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

// AppendCJSONNumber prints a number literal as cJSON does (appendCJSONFloat).
func AppendCJSONNumber(dst, lit []byte) []byte {
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && !math.IsInf(v, 0) {
		return append(dst, lit...)
	}
	return AppendCJSONFloat(dst, v)
}

// AppendNumberText converts a JSON number literal the way analysisd does:
// cJSON keeps the value as a double and an int (saturated to the C int range);
// the decoder prints "%i" when both are equal, else "%f".
func AppendNumberText(dst, lit []byte) []byte {
	v, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return append(dst, lit...)
	}
	iv := v
	switch {
	case v >= 2147483647:
		iv = 2147483647
	case v <= -2147483648:
		iv = -2147483648
	default:
		iv = float64(int32(v))
	}
	if iv == v {
		return strconv.AppendInt(dst, int64(iv), 10)
	}
	return strconv.AppendFloat(dst, v, 'f', 6, 64)
}

// AppendCJSON appends node i as compact JSON (no spaces), strings escaped
// as cJSON prints them: quote, backslash and control characters only.
func (t *Tree) AppendCJSON(dst []byte, i int32) []byte {
	switch t.Kind(i) {
	case Object:
		dst = append(dst, '{')
		for c := t.First(i); c >= 0; c = t.Next(c) {
			if c != t.First(i) {
				dst = append(dst, ',')
			}
			dst = AppendCJSONString(dst, t.Name(c))
			dst = append(dst, ':')
			dst = t.AppendCJSON(dst, c)
		}
		return append(dst, '}')
	case Array:
		dst = append(dst, '[')
		for c := t.First(i); c >= 0; c = t.Next(c) {
			if c != t.First(i) {
				dst = append(dst, ',')
			}
			dst = t.AppendCJSON(dst, c)
		}
		return append(dst, ']')
	case String:
		return AppendCJSONString(dst, t.Str(i))
	}
	return append(dst, t.Token(i)...)
}

// AppendCJSONArray reads v as Wazuh's W_JSON_AddField (src/shared/string_op.c,
// v4.14.7) reads a value that starts with '[': with
// cJSON_ParseWithOpts(value, &end, 0) of cJSON 1.7.18, the version Wazuh
// 4.14.7 builds with. The value becomes JSON only when the parse succeeds
// and ends exactly at the end of the value (*end == '\0'; cJSON does not
// skip whitespace after the value when it is not asked to require the
// terminating NUL). The grammar is cJSON's, not RFC 8259's: numbers are
// whatever C's strtod reads from the characters 0-9 + - e E . (so [01],
// [1.] and [-.5] are arrays), any byte up to 0x20 is whitespace, strings may
// hold raw control bytes, a \u escape with a bad hex digit reads as U+0000,
// and a string ends at its first U+0000 when printed. See
// docs/wazuh-compat.md.
//
// When v becomes JSON, AppendCJSONArray appends it as cJSON_PrintUnformatted
// prints the parsed value and returns true. Otherwise it returns dst
// unchanged, false, and the offset in v where cJSON's parse stopped (the
// end of the array when something follows it). A value with a NUL byte
// never becomes JSON: in Wazuh the value is a C string that ends there.
func AppendCJSONArray(dst, v []byte) ([]byte, bool, int) {
	if len(v) == 0 || v[0] != '[' {
		return dst, false, 0
	}
	p := cjParser{s: v, dst: dst}
	if nul := bytes.IndexByte(v, 0); nul >= 0 {
		p.s = v[:nul]
	}
	ok := p.value()
	if !ok || p.off != len(v) {
		return dst, false, p.off
	}
	return p.dst, true, p.off
}

// cjsonNestingLimit is cJSON's CJSON_NESTING_LIMIT.
const cjsonNestingLimit = 1000

// cjParser follows cJSON 1.7.18's parse_* functions over a C string: s is
// the text before its terminating NUL, and the buffer length cJSON uses
// counts that NUL (cJSON_ParseWithOpts passes strlen + 1).
type cjParser struct {
	s     []byte
	off   int
	depth int
	dst   []byte
}

func (p *cjParser) length() int { return len(p.s) + 1 }

// at returns the byte at i, the terminating NUL at len(s).
func (p *cjParser) at(i int) byte {
	if i < len(p.s) {
		return p.s[i]
	}
	return 0
}

func (p *cjParser) canAccess(i int) bool { return p.off+i < p.length() }
func (p *cjParser) canRead(n int) bool   { return p.off+n <= p.length() }

// skipWhitespace is buffer_skip_whitespace: every byte up to 0x20 (the
// terminating NUL too, then it steps back onto it).
func (p *cjParser) skipWhitespace() {
	if !p.canAccess(0) {
		return
	}
	for p.canAccess(0) && p.at(p.off) <= 32 {
		p.off++
	}
	if p.off == p.length() {
		p.off--
	}
}

func (p *cjParser) literal(word string) bool {
	if !p.canRead(len(word)) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if p.at(p.off+i) != word[i] {
			return false
		}
	}
	return true
}

// value is parse_value.
func (p *cjParser) value() bool {
	for _, w := range [...]string{"null", "false", "true"} {
		if p.literal(w) {
			p.dst = append(p.dst, w...)
			p.off += len(w)
			return true
		}
	}
	if !p.canAccess(0) {
		return false
	}
	switch c := p.at(p.off); {
	case c == '"':
		return p.str()
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case c == '[':
		return p.array()
	case c == '{':
		return p.object()
	}
	return false
}

// number is parse_number: up to 63 bytes of 0-9 + - e E . are handed to
// strtod, and the value ends where strtod stops.
func (p *cjParser) number() bool {
	run := 0
	for run < 63 && p.canAccess(run) && isNumberByte(p.at(p.off+run)) {
		run++
	}
	lit := p.s[p.off : p.off+run]
	n := strtodLen(lit)
	if n == 0 {
		return false
	}
	v, err := strconv.ParseFloat(string(lit[:n]), 64)
	if err != nil && !math.IsInf(v, 0) {
		return false // not reached: strtodLen accepts only what ParseFloat reads
	}
	p.dst = AppendCJSONFloat(p.dst, v)
	p.off += n
	return true
}

func isNumberByte(c byte) bool {
	return ('0' <= c && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.'
}

// strtodLen returns how many bytes of b C's strtod reads as a decimal
// number (0 when none): an optional sign, digits with at most one '.' and
// at least one digit, then an exponent only when it has a digit.
func strtodLen(b []byte) int {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j < len(b) && '0' <= b[j] && b[j] <= '9' {
			for j < len(b) && '0' <= b[j] && b[j] <= '9' {
				j++
			}
			i = j
		}
	}
	return i
}

// array is parse_array.
func (p *cjParser) array() bool {
	if p.depth >= cjsonNestingLimit {
		return false
	}
	p.depth++
	if p.at(p.off) != '[' {
		return false
	}
	p.dst = append(p.dst, '[')
	p.off++
	p.skipWhitespace()
	if p.canAccess(0) && p.at(p.off) == ']' {
		return p.close(']')
	}
	if !p.canAccess(0) {
		p.off--
		return false
	}
	p.off--
	for first := true; first || (p.canAccess(0) && p.at(p.off) == ','); first = false {
		if !first {
			p.dst = append(p.dst, ',')
		}
		p.off++
		p.skipWhitespace()
		if !p.value() {
			return false
		}
		p.skipWhitespace()
	}
	if !p.canAccess(0) || p.at(p.off) != ']' {
		return false
	}
	return p.close(']')
}

func (p *cjParser) close(c byte) bool {
	p.depth--
	p.dst = append(p.dst, c)
	p.off++
	return true
}

// object is parse_object.
func (p *cjParser) object() bool {
	if p.depth >= cjsonNestingLimit {
		return false
	}
	p.depth++
	if !p.canAccess(0) || p.at(p.off) != '{' {
		return false
	}
	p.dst = append(p.dst, '{')
	p.off++
	p.skipWhitespace()
	if p.canAccess(0) && p.at(p.off) == '}' {
		return p.close('}')
	}
	if !p.canAccess(0) {
		p.off--
		return false
	}
	p.off--
	for first := true; first || (p.canAccess(0) && p.at(p.off) == ','); first = false {
		if !first {
			p.dst = append(p.dst, ',')
		}
		if !p.canAccess(1) {
			return false
		}
		p.off++
		p.skipWhitespace()
		if !p.str() {
			return false
		}
		p.skipWhitespace()
		if !p.canAccess(0) || p.at(p.off) != ':' {
			return false
		}
		p.dst = append(p.dst, ':')
		p.off++
		p.skipWhitespace()
		if !p.value() {
			return false
		}
		p.skipWhitespace()
	}
	if !p.canAccess(0) || p.at(p.off) != '}' {
		return false
	}
	return p.close('}')
}

// str is parse_string, printing the string as print_string_ptr does: the
// parsed C string, so it ends at a decoded U+0000.
func (p *cjParser) str() bool {
	if p.at(p.off) != '"' {
		return false
	}
	end := p.off + 1
	for end < p.length() && p.at(end) != '"' {
		if p.at(end) == '\\' {
			if end+1 >= p.length() {
				p.off++
				return false
			}
			end++
		}
		end++
	}
	if end >= p.length() || p.at(end) != '"' {
		p.off++
		return false
	}
	p.dst = append(p.dst, '"')
	cut := false // a U+0000 was decoded: nothing after it is printed
	for i := p.off + 1; i < end; {
		if p.s[i] != '\\' {
			j := i + 1
			for j < end && p.s[j] != '\\' {
				j++
			}
			if !cut {
				p.dst = appendEscaped(p.dst, p.s[i:j])
			}
			i = j
			continue
		}
		var utf [4]byte
		n, size := 2, 1
		switch e := p.at(i + 1); e {
		case 'b':
			utf[0] = '\b'
		case 'f':
			utf[0] = '\f'
		case 'n':
			utf[0] = '\n'
		case 'r':
			utf[0] = '\r'
		case 't':
			utf[0] = '\t'
		case '"', '\\', '/':
			utf[0] = e
		case 'u':
			if n, size = p.utf16(i, end, &utf); n == 0 {
				p.off = i
				return false
			}
		default:
			p.off = i
			return false
		}
		if utf[0] == 0 { // \u0000, or a \u with a bad hex digit
			cut = true
		}
		if !cut {
			p.dst = appendEscaped(p.dst, utf[:size])
		}
		i += n
	}
	p.dst = append(p.dst, '"')
	p.off = end + 1
	return true
}

// utf16 is utf16_literal_to_utf8 for the \u escape at i: it returns the
// length of the escape (6, or 12 for a surrogate pair; 0 when invalid) and
// the UTF-8 bytes it stands for.
func (p *cjParser) utf16(i, end int, out *[4]byte) (int, int) {
	if end-i < 6 {
		return 0, 0
	}
	first := p.hex4(i + 2)
	if first >= 0xdc00 && first <= 0xdfff {
		return 0, 0
	}
	cp, n := first, 6
	if first >= 0xd800 && first <= 0xdbff {
		second := i + 6
		if end-second < 6 || p.at(second) != '\\' || p.at(second+1) != 'u' {
			return 0, 0
		}
		low := p.hex4(second + 2)
		if low < 0xdc00 || low > 0xdfff {
			return 0, 0
		}
		cp, n = 0x10000+((first&0x3ff)<<10|low&0x3ff), 12
	}
	switch {
	case cp < 0x80:
		out[0] = byte(cp)
		return n, 1
	case cp < 0x800:
		out[0], out[1] = byte(0xc0|cp>>6), byte(0x80|cp&0x3f)
		return n, 2
	case cp < 0x10000:
		out[0], out[1], out[2] = byte(0xe0|cp>>12), byte(0x80|cp>>6&0x3f), byte(0x80|cp&0x3f)
		return n, 3
	}
	out[0], out[1], out[2], out[3] = byte(0xf0|cp>>18), byte(0x80|cp>>12&0x3f), byte(0x80|cp>>6&0x3f), byte(0x80|cp&0x3f)
	return n, 4
}

// hex4 is parse_hex4: four hex digits, or 0 when one is not.
func (p *cjParser) hex4(i int) uint32 {
	var h uint32
	for k := 0; k < 4; k++ {
		c := p.at(i + k)
		switch {
		case '0' <= c && c <= '9':
			h = h<<4 | uint32(c-'0')
		case 'a' <= c && c <= 'f':
			h = h<<4 | uint32(c-'a'+10)
		case 'A' <= c && c <= 'F':
			h = h<<4 | uint32(c-'A'+10)
		default:
			return 0
		}
	}
	return h
}

// AppendCJSONFloat prints a number as cJSON's print_number does: "null"
// for an infinity, "%d" when it equals its int value, else "%1.15g" when
// that reads back within DBL_EPSILON of the value (compare_double: so
// 0.30000000000000004 prints 0.3), else "%1.17g".
func AppendCJSONFloat(dst []byte, v float64) []byte {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return append(dst, "null"...)
	}
	if v >= -2147483648 && v <= 2147483647 && v == float64(int64(v)) {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'g', 15, 64)
	back, _ := strconv.ParseFloat(string(dst[start:]), 64)
	if math.Abs(back-v) > math.Max(math.Abs(back), math.Abs(v))*dblEpsilon {
		dst = strconv.AppendFloat(dst[:start], v, 'g', 17, 64)
	}
	return dst
}

// dblEpsilon is C's DBL_EPSILON.
const dblEpsilon = 2.220446049250313e-16

// CJSONReads reports where cJSON's parse of v stops and whether it read a
// value up to there (a value cut short at its first NUL byte, as a C string).
func CJSONReads(v []byte) (int, bool) {
	p := cjParser{s: v}
	for i, c := range v {
		if c == 0 {
			p.s = v[:i]
			break
		}
	}
	ok := p.value()
	return p.off, ok
}
