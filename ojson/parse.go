package ojson

import (
	"unicode/utf8"
)

// Parse parses src, which must hold exactly one JSON value, into t (after
// Reset): the root is node 0. Errors are *SyntaxError. Strings with
// invalid UTF-8 are kept with U+FFFD in place of each bad byte, as
// encoding/json reads them.
func (t *Tree) Parse(src []byte) error {
	t.Reset()
	_, err := t.Add(src)
	return err
}

// Add parses src, which must hold exactly one JSON value, into t beside
// what t holds, and returns the node of that value. Nodes and texts
// returned before stay valid.
func (t *Tree) Add(src []byte) (int32, error) {
	base := len(t.buf)
	t.buf = append(t.buf, src...)
	limit := t.MaxDepth
	if limit <= 0 {
		limit = 10000
	}
	p := parser{t: t, s: t.buf[base:], base: int32(base), limit: limit}
	p.space()
	root, err := p.value()
	if err != nil {
		return -1, err
	}
	p.space()
	if p.i != len(p.s) {
		return -1, p.fail("data after the value")
	}
	return root, nil
}

type parser struct {
	t      *Tree
	s      []byte // the document, at buf[base:]
	base   int32
	i      int
	depth  int // objects and arrays open
	objs   int // objects open
	limit  int
	keyBuf []byte
}

func (p *parser) fail(what string) error {
	return &SyntaxError{Offset: p.i, Msg: what}
}

func (p *parser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// value parses the value at p.i (spaces skipped) and returns its node.
func (p *parser) value() (int32, error) {
	if p.i >= len(p.s) {
		return -1, p.fail("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		start := p.i
		plain, err := p.string()
		if err != nil {
			return -1, err
		}
		return p.scalar(String, start, plain), nil
	case c == 't':
		return p.literal("true", Bool)
	case c == 'f':
		return p.literal("false", Bool)
	case c == 'n':
		return p.literal("null", Null)
	case c == '-' || '0' <= c && c <= '9':
		start := p.i
		if err := p.number(); err != nil {
			return -1, err
		}
		return p.scalar(Number, start, false), nil
	}
	return -1, p.fail("unexpected " + quoteByte(p.s[p.i]))
}

// scalar adds the scalar token s[start:i]; plain is set for strings with
// no escape. A string with invalid UTF-8 is re-quoted with U+FFFD.
func (p *parser) scalar(k Kind, start int, plain bool) int32 {
	t := p.t
	i := t.node(k)
	n := &t.nodes[i]
	n.off, n.n = p.base+int32(start), int32(p.i-start)
	n.plain = plain
	if k == String && !plain && badUTF8(p.s[start:p.i]) {
		t.setToken(i, AppendQuoted(nil, appendUnquoted(nil, p.s[start:p.i])))
	}
	return i
}

func (p *parser) literal(word string, k Kind) (int32, error) {
	if len(p.s)-p.i < len(word) || string(p.s[p.i:p.i+len(word)]) != word {
		return -1, p.fail("invalid literal")
	}
	start := p.i
	p.i += len(word)
	return p.scalar(k, start, false), nil
}

// open starts the object or array at p.i and returns its node; empty is
// set when it closes at once.
func (p *parser) open(k Kind, closing byte) (n int32, empty bool, err error) {
	p.depth++
	if p.depth > p.limit {
		return -1, false, p.fail("nesting too deep")
	}
	n = p.t.node(k)
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == closing {
		p.i++
		p.depth--
		return n, true, nil
	}
	return n, false, nil
}

func (p *parser) object() (int32, error) {
	t := p.t
	p.objs++
	t.depth = max(t.depth, p.objs)
	obj, empty, err := p.open(Object, '}')
	if empty || err != nil {
		p.objs--
		return obj, err
	}
	for {
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return -1, p.fail("expected a member name")
		}
		keyStart := p.i
		plain, err := p.string()
		if err != nil {
			return -1, err
		}
		tok := p.s[keyStart:p.i]
		keyOff, keyN := p.base+int32(keyStart), int32(len(tok))
		var name string
		if plain {
			name = t.intern(tok[1 : len(tok)-1])
		} else {
			p.keyBuf = appendUnquoted(p.keyBuf[:0], tok)
			name = t.intern(p.keyBuf)
			if badUTF8(tok) {
				keyOff = int32(len(t.buf))
				t.buf = AppendQuoted(t.buf, name)
				keyN = int32(len(t.buf)) - keyOff
			}
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return -1, p.fail("expected ':'")
		}
		p.i++
		p.space()
		c, err := p.value()
		if err != nil {
			return -1, err
		}
		t.addMember(obj, name, keyOff, keyN, c)
		if end, err := p.next('}', "object"); end || err != nil {
			p.objs--
			return obj, err
		}
	}
}

func (p *parser) array() (int32, error) {
	t := p.t
	arr, empty, err := p.open(Array, ']')
	if empty || err != nil {
		return arr, err
	}
	for {
		p.space()
		c, err := p.value()
		if err != nil {
			return -1, err
		}
		t.AppendChild(arr, c)
		if end, err := p.next(']', "array"); end || err != nil {
			return arr, err
		}
	}
}

// next reads what follows a value in an object or array: a comma (false)
// or the closing byte (true, the container ends).
func (p *parser) next(closing byte, what string) (bool, error) {
	p.space()
	switch {
	case p.i >= len(p.s):
		return true, p.fail("unexpected end in " + what)
	case p.s[p.i] == ',':
		p.i++
		return false, nil
	case p.s[p.i] == closing:
		p.i++
		p.depth--
		return true, nil
	}
	return true, p.fail("expected ',' or '" + string(closing) + "'")
}

// string scans the string token at p.i; plain is set when it holds no
// escape and no invalid UTF-8.
func (p *parser) string() (plain bool, err error) {
	p.i++
	plain = true
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			p.i++
			continue
		}
		switch {
		case c == '"':
			p.i++
			return plain, nil
		case c == '\\':
			plain = false
			if p.i+1 >= len(p.s) {
				return false, p.fail("unterminated escape")
			}
			switch p.s[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.s) || hex4(p.s[p.i+2:p.i+6]) < 0 {
					return false, p.fail(`invalid \u escape`)
				}
				p.i += 6
			default:
				return false, p.fail("invalid escape")
			}
		case c < 0x20:
			return false, p.fail("control character in string")
		default:
			r, size := utf8.DecodeRune(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			p.i += size
		}
	}
	return false, p.fail("unterminated string")
}

// number scans a number as JSON writes it: an optional minus, an integer
// without leading zeros, an optional fraction and exponent, each with at
// least one digit.
func (p *parser) number() error {
	s, i := p.s, p.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		i = digits(s, i)
	default:
		return p.fail("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		if d := digits(s, i+1); d > i+1 {
			i = d
		} else {
			return p.fail("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if d := digits(s, i); d > i {
			i = d
		} else {
			return p.fail("invalid number")
		}
	}
	p.i = i
	return nil
}

// digits returns the index after the run of digits at s[i:].
func digits(s []byte, i int) int {
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(c) + "'"
	}
	const hex = "0123456789abcdef"
	return `\x` + string(hex[c>>4]) + string(hex[c&0xf])
}
