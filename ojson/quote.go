package ojson

import (
	"unicode/utf16"
	"unicode/utf8"
)

// AppendQuoted appends s as a JSON string as encoding/json writes it
// without HTML escaping: ", \, control characters, U+2028 and U+2029
// escaped, invalid UTF-8 as \ufffd, everything else as is.
func AppendQuoted[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	const hexDigits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i += size
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xF])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Unquote appends the value of the JSON string token tok (with its quotes,
// as Parse checked it) to dst, as encoding/json decodes it: escapes
// resolved, each invalid UTF-8 byte and each lone surrogate U+FFFD.
func Unquote(dst, tok []byte) []byte { return appendUnquoted(dst, tok) }

func appendUnquoted(dst, tok []byte) []byte { return unquote(dst, tok, appendUTF8) }

// appendUnquotedRaw is appendUnquoted that keeps invalid UTF-8 as it is.
func appendUnquotedRaw(dst, tok []byte) []byte {
	return unquote(dst, tok, func(dst, b []byte) []byte { return append(dst, b...) })
}

func unquote(dst, tok []byte, text func(dst, b []byte) []byte) []byte {
	s := tok[1 : len(tok)-1]
	start := 0
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			i++
			continue
		}
		dst = text(dst, s[start:i])
		i = appendEscape(&dst, s, i)
		start = i
	}
	return text(dst, s[start:])
}

// appendEscape appends the character of the escape at s[i] and returns
// the index after it.
func appendEscape(dst *[]byte, s []byte, i int) int {
	if i+1 >= len(s) {
		*dst = append(*dst, '\\')
		return len(s)
	}
	c := s[i+1]
	switch c {
	case 'b':
		*dst = append(*dst, '\b')
	case 'f':
		*dst = append(*dst, '\f')
	case 'n':
		*dst = append(*dst, '\n')
	case 'r':
		*dst = append(*dst, '\r')
	case 't':
		*dst = append(*dst, '\t')
	case 'u':
		r := hex4(s[i+2:])
		i += 6
		if utf16.IsSurrogate(r) {
			if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if d := utf16.DecodeRune(r, hex4(s[i+2:])); d != utf8.RuneError {
					*dst = utf8.AppendRune(*dst, d)
					return i + 6
				}
			}
			r = utf8.RuneError
		}
		if r < 0 {
			r = utf8.RuneError
		}
		*dst = utf8.AppendRune(*dst, r)
		return i
	default: // " \ /
		*dst = append(*dst, c)
	}
	return i + 2
}

// hex4 returns the value of four hex digits, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUTF8 appends b with every invalid byte replaced by U+FFFD.
func appendUTF8(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		dst = utf8.AppendRune(dst, r)
		b = b[n:]
	}
	return dst
}

// badUTF8 reports whether b holds invalid UTF-8.
func badUTF8(b []byte) bool { return !utf8.Valid(b) }
