package ojson

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules of Python 3's json and str/repr that the text Wazuh's AWS
// wodle sends shows: json.dumps's escaping, and str() of the values
// json.load makes (docs/wazuh-compat.md, "The wodle's messages" and
// "CloudTrail records").

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

func AppendPyBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "True"...)
	}
	return append(dst, "False"...)
}

// AppendPyRepr appends repr() of node i.
func (t *Tree) AppendPyRepr(dst []byte, i int32) []byte {
	switch t.Kind(i) {
	case Object:
		dst = append(dst, '{')
		for c := t.First(i); c >= 0; c = t.Next(c) {
			if c != t.First(i) {
				dst = append(dst, ", "...)
			}
			dst = AppendPyStrRepr(dst, t.Name(c))
			dst = append(dst, ": "...)
			dst = t.AppendPyRepr(dst, c)
		}
		return append(dst, '}')
	case Array:
		dst = append(dst, '[')
		for c := t.First(i); c >= 0; c = t.Next(c) {
			if c != t.First(i) {
				dst = append(dst, ", "...)
			}
			dst = t.AppendPyRepr(dst, c)
		}
		return append(dst, ']')
	case String:
		return AppendPyStrRepr(dst, string(t.Str(i)))
	case Number:
		return AppendPyNumber(dst, t.Token(i))
	case Bool:
		return AppendPyBool(dst, string(t.Token(i)) == "true")
	}
	return append(dst, "None"...)
}

// AppendPyStrRepr appends Python's repr() of a str: single quotes unless
// the text holds a single quote and no double quote; \\, the quote, \t,
// \n, \r escaped; other non-printable characters as \xhh, \uhhhh or
// \Uhhhhhhhh.
func AppendPyStrRepr(dst []byte, s string) []byte {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	dst = append(dst, quote)
	for _, c := range s {
		switch {
		case c == rune(quote) || c == '\\':
			dst = append(dst, '\\', byte(c))
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
		case c < utf8.RuneSelf || unicode.IsPrint(c):
			dst = utf8.AppendRune(dst, c)
		case c <= 0xff:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
		case c <= 0xffff:
			dst = append(dst, '\\', 'u')
			for sh := 12; sh >= 0; sh -= 4 {
				dst = append(dst, hex[(c>>sh)&15])
			}
		default:
			dst = append(dst, '\\', 'U')
			for sh := 28; sh >= 0; sh -= 4 {
				dst = append(dst, hex[(c>>sh)&15])
			}
		}
	}
	return append(dst, quote)
}

// AppendPyNumber appends str() of the number json.loads makes of a JSON
// number literal: an int for literals without fraction or exponent (kept
// digit for digit, -0 is 0), else a float in Python's repr form.
func AppendPyNumber(dst, lit []byte) []byte {
	s := string(lit)
	if !strings.ContainsAny(s, ".eE") {
		if strings.TrimLeft(s, "-0") == "" {
			return append(dst, '0')
		}
		return append(dst, s...)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(v, 0) {
		return append(dst, s...)
	}
	return appendPyFloat(dst, v)
}

// appendPyFloat appends Python's repr() of a float: the shortest digits
// that round-trip, in fixed notation when the decimal exponent is in
// [-4, 16), else as d.ddde+XX; fixed notation always has a fraction (1.0).
func appendPyFloat(dst []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(dst, "inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-inf"...)
	case math.IsNaN(v):
		return append(dst, "nan"...)
	}
	if math.Signbit(v) {
		dst = append(dst, '-')
		v = -v
	}
	if v == 0 {
		return append(dst, "0.0"...)
	}
	e := strconv.FormatFloat(v, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1 // value = 0.digits × 10^decpt
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			dst = append(dst, "0."...)
			dst = append(dst, strings.Repeat("0", -decpt)...)
			return append(dst, digits...)
		case decpt >= len(digits):
			dst = append(dst, digits...)
			dst = append(dst, strings.Repeat("0", decpt-len(digits))...)
			return append(dst, ".0"...)
		default:
			dst = append(dst, digits[:decpt]...)
			dst = append(dst, '.')
			return append(dst, digits[decpt:]...)
		}
	}
	dst = append(dst, digits[0])
	if len(digits) > 1 {
		dst = append(dst, '.')
		dst = append(dst, digits[1:]...)
	}
	dst = append(dst, 'e')
	if x < 0 {
		dst = append(dst, '-')
		x = -x
	} else {
		dst = append(dst, '+')
	}
	if x < 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, int64(x), 10)
}
