package indexer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// jkind is the JSON type of a node.
type jkind uint8

const (
	jString jkind = iota
	jNumber
	jBool
	jNull
	jObject
	jArray
)

// jnode is one JSON value in a tree. Scalars keep their exact token (strings
// with their quotes and escapes), so an unchanged document is re-encoded
// byte for byte. Children form a linked list through indexes into the
// tree's node slice, which makes removal and insertion cheap.
type jnode struct {
	kind  jkind
	raw   []byte // scalar token; nil for objects and arrays
	key   []byte // raw key token (with quotes) when the node is an object member
	first int32  // first child, or -1
	last  int32  // last child, or -1
	next  int32  // next sibling, or -1
}

// jtree is a parsed JSON document. Node 0 is the root. Node storage is
// reused across parses.
type jtree struct {
	nodes []jnode
	buf   []byte // scratch for unescaping
}

var errSyntax = errors.New("invalid JSON")

// parse parses src into t; the tree keeps slices of src.
func (t *jtree) parse(src []byte) error {
	t.nodes = t.nodes[:0]
	p := jparser{src: src, t: t}
	p.skipSpace()
	if _, err := p.value(0); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos != len(src) {
		return fmt.Errorf("%w: data after the value at byte %d", errSyntax, p.pos)
	}
	return nil
}

func (t *jtree) add(n jnode) int32 {
	n.first, n.last, n.next = -1, -1, -1
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1)
}

// appendChild links child c at the end of parent p.
func (t *jtree) appendChild(p, c int32) {
	if t.nodes[p].last < 0 {
		t.nodes[p].first = c
	} else {
		t.nodes[t.nodes[p].last].next = c
	}
	t.nodes[p].last = c
}

// insertAfter links c right after sibling s under parent p.
func (t *jtree) insertAfter(p, s, c int32) {
	t.nodes[c].next = t.nodes[s].next
	t.nodes[s].next = c
	if t.nodes[p].last == s {
		t.nodes[p].last = c
	}
}

// unlink removes child c of p; prev is the sibling before c or -1.
func (t *jtree) unlink(p, prev, c int32) {
	if prev < 0 {
		t.nodes[p].first = t.nodes[c].next
	} else {
		t.nodes[prev].next = t.nodes[c].next
	}
	if t.nodes[p].last == c {
		t.nodes[p].last = prev
	}
	t.nodes[c].next = -1
}

// member returns the child of object p whose key is name, and the sibling
// before it.
func (t *jtree) member(p int32, name string) (c, prev int32) {
	prev = -1
	if p < 0 || t.nodes[p].kind != jObject {
		return -1, -1
	}
	for c = t.nodes[p].first; c >= 0; prev, c = c, t.nodes[c].next {
		if t.keyIs(c, name) {
			return c, prev
		}
	}
	return -1, -1
}

// path follows object members.
func (t *jtree) path(names ...string) int32 {
	n := int32(0)
	for _, name := range names {
		if n, _ = t.member(n, name); n < 0 {
			return -1
		}
	}
	return n
}

func (t *jtree) keyIs(c int32, name string) bool {
	k := t.nodes[c].key
	if len(k) == len(name)+2 && string(k[1:len(k)-1]) == name {
		return true
	}
	if bytes.IndexByte(k, '\\') < 0 {
		return false
	}
	return t.keyString(c) == name
}

// keyString returns the unescaped key of member c.
func (t *jtree) keyString(c int32) string {
	return string(t.unquote(t.nodes[c].key))
}

// str returns the unescaped value of string node n; the result is only
// valid until the next call.
func (t *jtree) str(n int32) []byte {
	return t.unquote(t.nodes[n].raw)
}

// text returns the value of scalar n as OpenSearch reads it for a keyword
// or numeric field: strings unescaped, other tokens as they are.
func (t *jtree) text(n int32) []byte {
	if t.nodes[n].kind == jString {
		return t.str(n)
	}
	return t.nodes[n].raw
}

func (t *jtree) unquote(tok []byte) []byte {
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return inner // unreachable: the parser checked the token
	}
	t.buf = append(t.buf[:0], s...)
	return t.buf
}

// encode appends node n as compact JSON.
func (t *jtree) encode(dst []byte, n int32) []byte {
	nd := &t.nodes[n]
	switch nd.kind {
	case jObject, jArray:
		open, closing := byte('{'), byte('}')
		if nd.kind == jArray {
			open, closing = '[', ']'
		}
		dst = append(dst, open)
		for c := nd.first; c >= 0; c = t.nodes[c].next {
			if c != nd.first {
				dst = append(dst, ',')
			}
			if nd.kind == jObject {
				dst = append(dst, t.nodes[c].key...)
				dst = append(dst, ':')
			}
			dst = t.encode(dst, c)
		}
		return append(dst, closing)
	default:
		return append(dst, nd.raw...)
	}
}

type jparser struct {
	src []byte
	pos int
	t   *jtree
}

const maxDepth = 200

func (p *jparser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jparser) fail(what string) error {
	return fmt.Errorf("%w: %s at byte %d", errSyntax, what, p.pos)
}

// value parses one value at p.pos (spaces skipped) and returns its node.
func (p *jparser) value(depth int) (int32, error) {
	if depth > maxDepth {
		return -1, p.fail("nesting too deep")
	}
	if p.pos >= len(p.src) {
		return -1, p.fail("unexpected end")
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		tok, err := p.string()
		if err != nil {
			return -1, err
		}
		return p.t.add(jnode{kind: jString, raw: tok}), nil
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.src[p.pos:], []byte(lit)) {
				p.pos += len(lit)
				kind := jBool
				if lit == "null" {
					kind = jNull
				}
				return p.t.add(jnode{kind: kind, raw: p.src[p.pos-len(lit) : p.pos]}), nil
			}
		}
		return -1, p.fail("invalid literal")
	case c == '-' || ('0' <= c && c <= '9'):
		start := p.pos
		if err := p.number(); err != nil {
			return -1, err
		}
		return p.t.add(jnode{kind: jNumber, raw: p.src[start:p.pos]}), nil
	default:
		return -1, p.fail(fmt.Sprintf("unexpected %q", c))
	}
}

func (p *jparser) object(depth int) (int32, error) {
	n := p.t.add(jnode{kind: jObject})
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return -1, p.fail("expected a key")
		}
		key, err := p.string()
		if err != nil {
			return -1, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return -1, p.fail("expected ':'")
		}
		p.pos++
		p.skipSpace()
		c, err := p.value(depth + 1)
		if err != nil {
			return -1, err
		}
		p.t.nodes[c].key = key
		p.t.appendChild(n, c)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return -1, p.fail("unexpected end in object")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return n, nil
		default:
			return -1, p.fail("expected ',' or '}'")
		}
	}
}

func (p *jparser) array(depth int) (int32, error) {
	n := p.t.add(jnode{kind: jArray})
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return n, nil
	}
	for {
		p.skipSpace()
		c, err := p.value(depth + 1)
		if err != nil {
			return -1, err
		}
		p.t.appendChild(n, c)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return -1, p.fail("unexpected end in array")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return n, nil
		default:
			return -1, p.fail("expected ',' or ']'")
		}
	}
}

// string scans a string token and returns it with its quotes. Invalid
// UTF-8 is replaced by U+FFFD (OpenSearch would refuse the document).
func (p *jparser) string() ([]byte, error) {
	start := p.pos
	p.pos++
	badUTF8 := false
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			p.pos++
			continue
		}
		switch {
		case c == '"':
			p.pos++
			tok := p.src[start:p.pos]
			if badUTF8 {
				var s string
				if err := json.Unmarshal(tok, &s); err != nil {
					return nil, p.fail("invalid string")
				}
				tok = appendQuoted(nil, []byte(s))
			}
			return tok, nil
		case c == '\\':
			if p.pos+1 >= len(p.src) {
				return nil, p.fail("unterminated escape")
			}
			switch p.src[p.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.pos += 2
			case 'u':
				if p.pos+6 > len(p.src) || !isHex4(p.src[p.pos+2:p.pos+6]) {
					return nil, p.fail("invalid \\u escape")
				}
				p.pos += 6
			default:
				return nil, p.fail("invalid escape")
			}
		case c < 0x20:
			return nil, p.fail("control character in string")
		case c < utf8.RuneSelf:
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.src[p.pos:])
			if r == utf8.RuneError && size == 1 {
				badUTF8 = true
			}
			p.pos += size
		}
	}
	return nil, p.fail("unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (p *jparser) number() error {
	s, i := p.src, p.pos
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return p.fail("invalid number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return p.fail("invalid number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return p.fail("invalid number")
		}
	}
	p.pos = i
	return nil
}

// appendQuoted appends s as a JSON string, escaping as encoding/json does
// without HTML escaping.
func appendQuoted(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	const hexDigits = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
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
