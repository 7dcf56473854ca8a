package decoders

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// Python's str() of a JSON value after json.load, as the wodle writes
// {"string": str(value)} for CloudTrail fields that are not objects
// (docs/wazuh-compat.md, "CloudTrail records", step 5): True/False/None, ints as written,
// floats in repr form, lists and dicts in repr form (['a', 'b']).

// appendPythonStr appends str(v) for the value of f.
func (r *runState) appendPythonStr(dst []byte, f *event.Field) []byte {
	switch f.Kind {
	case event.String:
		return append(dst, f.Value...)
	case event.Number:
		return appendPyNumber(dst, f.Value)
	case event.Bool:
		return appendPyBool(dst, string(f.Value) == "true")
	case event.Null:
		return append(dst, "None"...)
	case event.EmptyObject:
		return append(dst, "{}"...)
	}
	// f.Value is the compact JSON of an array, which appendCompact wrote.
	i, err := r.tree.Add(f.Value)
	if err != nil {
		return append(dst, f.Value...)
	}
	return appendPyRepr(&r.tree, dst, i)
}

func appendPyBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "True"...)
	}
	return append(dst, "False"...)
}

// appendPyRepr appends repr() of node i.
func appendPyRepr(t *ojson.Tree, dst []byte, i int32) []byte {
	switch t.Kind(i) {
	case ojson.Object:
		dst = append(dst, '{')
		for c := t.First(i); c >= 0; c = t.Next(c) {
			if c != t.First(i) {
				dst = append(dst, ", "...)
			}
			dst = appendPyStrRepr(dst, t.Name(c))
			dst = append(dst, ": "...)
			dst = appendPyRepr(t, dst, c)
		}
		return append(dst, '}')
	case ojson.Array:
		dst = append(dst, '[')
		for c := t.First(i); c >= 0; c = t.Next(c) {
			if c != t.First(i) {
				dst = append(dst, ", "...)
			}
			dst = appendPyRepr(t, dst, c)
		}
		return append(dst, ']')
	case ojson.String:
		return appendPyStrRepr(dst, string(t.Str(i)))
	case ojson.Number:
		return appendPyNumber(dst, t.Token(i))
	case ojson.Bool:
		return appendPyBool(dst, string(t.Token(i)) == "true")
	}
	return append(dst, "None"...)
}

// appendPyStrRepr appends Python's repr() of a str: single quotes unless
// the text holds a single quote and no double quote; \\, the quote, \t,
// \n, \r escaped; other non-printable characters as \xhh, \uhhhh or
// \Uhhhhhhhh.
func appendPyStrRepr(dst []byte, s string) []byte {
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

// appendPyNumber appends str() of the number json.loads makes of a JSON
// number literal: an int for literals without fraction or exponent (kept
// digit for digit, -0 is 0), else a float in Python's repr form.
func appendPyNumber(dst, lit []byte) []byte {
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
