package ojson

import "strings"

// Dialect is a program whose JSON text vpcalertd reproduces.
type Dialect uint8

// The dialects.
const (
	// Python is Python's json.dumps with its defaults: ", " and ": "
	// separators, everything outside printable ASCII escaped.
	Python Dialect = iota
	// CJSON is cJSON_PrintUnformatted: compact, UTF-8 as is, numbers as
	// print_number writes them.
	CJSON
)

// Reformat appends the JSON text js (valid, as a decoder or cJSON wrote it)
// as d writes it: separators, string escapes and, for CJSON, its number
// form.
func Reformat(dst, js []byte, d Dialect) []byte {
	for i := 0; i < len(js); {
		c := js[i]
		switch {
		case c == '"':
			end := stringEnd(js, i)
			var buf [128]byte
			s := appendUnquotedRaw(buf[:0], js[i:end])
			if d == Python {
				dst = AppendPythonString(dst, s)
			} else {
				dst = AppendCJSONString(dst, s)
			}
			i = end
		case c == ',' && d == Python:
			dst = append(dst, ", "...)
			i++
		case c == ':' && d == Python:
			dst = append(dst, ": "...)
			i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(js) && strings.IndexByte("0123456789+-.eE", js[j]) >= 0 {
				j++
			}
			if d == CJSON {
				dst = AppendCJSONNumber(dst, js[i:j])
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

// CountElements returns the number of elements of a compact JSON array
// without parsing it (0, 1 or 2 meaning "two or more"); -1 if b is not an
// array.
func CountElements(b []byte) int {
	if len(b) < 2 || b[0] != '[' {
		return -1
	}
	depth, n, inStr, seen := 0, 0, false, false
	for i := 1; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr, seen = true, true
		case '[', '{':
			depth++
			seen = true
		case ']', '}':
			if depth == 0 {
				if seen {
					n++
				}
				return min(n, 2)
			}
			depth--
		case ',':
			if depth == 0 {
				n++
				if n >= 2 {
					return 2
				}
			}
		case ' ', '\t', '\n', '\r':
		default:
			seen = true
		}
	}
	return -1
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
