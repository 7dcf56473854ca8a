package decoders

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/vpcalertd/vpcalertd/event"
)

// jtree is one JSON value as an ordered tree in reusable arenas. It keeps
// key order and number literals, which map[string]any would lose, and
// applies Python's dict semantics to repeated keys (the last value wins, at
// the first key's position), because the wodle json.load()s every record.
type jtree struct {
	maxDepth int // deepest object nesting seen since reset
	nodes    []jnode
	raw      json.RawMessage   // the record being parsed
	keyBuf   []byte            // a member name being unescaped
	names    map[string]string // member names seen, interned
	buf      []byte            // scalar bytes: unescaped strings, literals
	big      map[bigKey]int32  // members of large objects, for repeated keys
	bigOK    map[int32]bool    // objects indexed in big
}

type jkind uint8

const (
	jObject jkind = iota
	jArray
	jString
	jNumber
	jBool
	jNull
)

type jnode struct {
	key               string // member name, in an object
	off, n            int32  // scalar: bytes in buf; object/array: n = number of children
	first, last, next int32  // children and next sibling, -1 for none
	kind              jkind
}

type bigKey struct {
	obj int32
	key string
}

// linearMembers is the object size up to which repeated keys are searched
// linearly.
const linearMembers = 16

func (t *jtree) reset() {
	t.maxDepth = 0
	t.nodes = t.nodes[:0]
	t.buf = t.buf[:0]
	if t.big != nil {
		clear(t.big)
		clear(t.bigOK)
	}
}

func (t *jtree) node(k jkind) int32 {
	t.nodes = append(t.nodes, jnode{kind: k, first: -1, last: -1, next: -1})
	return int32(len(t.nodes) - 1)
}

func (t *jtree) scalar(k jkind, s string) int32 {
	i := t.node(k)
	t.nodes[i].off = int32(len(t.buf))
	t.buf = append(t.buf, s...)
	t.nodes[i].n = int32(len(s))
	return i
}

func (t *jtree) bytesOf(i int32) []byte {
	n := &t.nodes[i]
	return t.buf[n.off : n.off+n.n : n.off+n.n]
}

func (t *jtree) appendChild(parent, child int32) {
	p := &t.nodes[parent]
	if p.last < 0 {
		p.first = child
	} else {
		t.nodes[p.last].next = child
	}
	p.last = child
	p.n++
}

// addMember adds key: child to obj; a repeated key takes the new value in
// the old member's place.
func (t *jtree) addMember(obj int32, key string, child int32) {
	t.nodes[child].key = key
	if old := t.findMember(obj, key); old >= 0 {
		next := t.nodes[old].next
		t.nodes[old] = t.nodes[child]
		t.nodes[old].next = next
		return
	}
	t.appendChild(obj, child)
	if t.bigOK[obj] {
		t.big[bigKey{obj, key}] = child
	}
}

func (t *jtree) findMember(obj int32, key string) int32 {
	o := &t.nodes[obj]
	if o.n < linearMembers {
		for c := o.first; c >= 0; c = t.nodes[c].next {
			if t.nodes[c].key == key {
				return c
			}
		}
		return -1
	}
	if t.big == nil {
		t.big, t.bigOK = map[bigKey]int32{}, map[int32]bool{}
	}
	if !t.bigOK[obj] {
		for c := o.first; c >= 0; c = t.nodes[c].next {
			t.big[bigKey{obj, t.nodes[c].key}] = c
		}
		t.bigOK[obj] = true
	}
	if c, ok := t.big[bigKey{obj, key}]; ok {
		return c
	}
	return -1
}

// parseNext reads the next JSON value from dec (encoding/json checks it)
// and parses it into the tree.
func (t *jtree) parseNext(dec *json.Decoder) (int32, error) {
	if err := dec.Decode(&t.raw); err != nil {
		return -1, err
	}
	return t.parseRaw(t.raw), nil
}

// parseBytes parses b, which must hold exactly one JSON value.
func (t *jtree) parseBytes(b []byte) (int32, error) {
	if !json.Valid(b) {
		var m json.RawMessage
		err := json.Unmarshal(b, &m) // for encoding/json's message
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return -1, err
	}
	return t.parseRaw(b), nil
}

// parseRaw parses one JSON value that encoding/json has already checked
// (or that appendCompact wrote): a plain recursive descent, strings
// unescaped as encoding/json does (invalid UTF-8 and lone surrogates become
// U+FFFD), numbers kept as written, member names interned.
func (t *jtree) parseRaw(b []byte) int32 {
	p := rawParser{t: t, b: b}
	return p.value()
}

type rawParser struct {
	t     *jtree
	b     []byte
	i     int
	depth int
}

func (p *rawParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *rawParser) value() int32 {
	t := p.t
	p.ws()
	switch p.b[p.i] {
	case '{':
		p.i++
		obj := t.node(jObject)
		p.depth++
		t.maxDepth = max(t.maxDepth, p.depth)
		p.ws()
		if p.b[p.i] == '}' {
			p.i++
		} else {
			for {
				p.ws()
				key := p.key()
				p.ws()
				p.i++ // :
				child := p.value()
				t.addMember(obj, key, child)
				p.ws()
				p.i++ // , or }
				if p.b[p.i-1] == '}' {
					break
				}
			}
		}
		p.depth--
		return obj
	case '[':
		p.i++
		arr := t.node(jArray)
		p.ws()
		if p.b[p.i] == ']' {
			p.i++
			return arr
		}
		for {
			t.appendChild(arr, p.value())
			p.ws()
			p.i++ // , or ]
			if p.b[p.i-1] == ']' {
				return arr
			}
		}
	case '"':
		i := t.node(jString)
		off := len(t.buf)
		t.buf = p.str(t.buf)
		t.nodes[i].off, t.nodes[i].n = int32(off), int32(len(t.buf)-off)
		return i
	case 't':
		p.i += 4
		return t.scalar(jBool, "true")
	case 'f':
		p.i += 5
		return t.scalar(jBool, "false")
	case 'n':
		p.i += 4
		return t.scalar(jNull, "null")
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	i := t.node(jNumber)
	t.nodes[i].off = int32(len(t.buf))
	t.buf = append(t.buf, p.b[start:p.i]...)
	t.nodes[i].n = int32(p.i - start)
	return i
}

// key reads a member name and returns it interned.
func (p *rawParser) key() string {
	t := p.t
	p.t.keyBuf = p.str(p.t.keyBuf[:0])
	if k, ok := t.names[string(t.keyBuf)]; ok {
		return k
	}
	k := string(t.keyBuf)
	if t.names == nil {
		t.names = map[string]string{}
	}
	if len(t.names) < maxCachedKeys {
		t.names[k] = k
	}
	return k
}

// str appends the string at p.i, unescaped.
func (p *rawParser) str(dst []byte) []byte {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			dst = appendUTF8(dst, p.b[start:p.i])
			p.i++
			return dst
		case '\\':
			dst = appendUTF8(dst, p.b[start:p.i])
			dst = p.escape(dst)
			start = p.i
		default:
			p.i++
		}
	}
	return dst
}

// escape appends the character of the escape at p.i.
func (p *rawParser) escape(dst []byte) []byte {
	c := p.b[p.i+1]
	p.i += 2
	switch c {
	case 'b':
		return append(dst, '\b')
	case 'f':
		return append(dst, '\f')
	case 'n':
		return append(dst, '\n')
	case 'r':
		return append(dst, '\r')
	case 't':
		return append(dst, '\t')
	case 'u':
		r := hex4(p.b[p.i:])
		p.i += 4
		if utf16.IsSurrogate(r) {
			if p.i+6 <= len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
				if d := utf16.DecodeRune(r, hex4(p.b[p.i+2:])); d != utf8.RuneError {
					p.i += 6
					return utf8.AppendRune(dst, d)
				}
			}
			r = utf8.RuneError
		}
		return utf8.AppendRune(dst, r)
	}
	return append(dst, c) // " \ /
}

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
	if isASCII(b) || utf8.Valid(b) {
		return append(dst, b...)
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		dst = utf8.AppendRune(dst, r)
		b = b[n:]
	}
	return dst
}

// appendFlat appends the fields of node i found at path: members of objects
// become dotted keys, {} an EmptyObject field, a list one Array field
// holding its compact JSON, scalars one field of their kind.
func (t *jtree) appendFlat(r *runState, i int32, path []byte, out []event.Field) []event.Field {
	n := &t.nodes[i]
	switch n.kind {
	case jObject:
		if n.n == 0 {
			ki := r.keys.get(r, path)
			return append(out, event.Field{Key: ki.key, Value: emptyObject, Kind: event.EmptyObject, Sym: ki.sym})
		}
		for c := n.first; c >= 0; c = t.nodes[c].next {
			p := path
			if len(p) > 0 {
				p = append(p, '.')
			}
			p = append(p, t.nodes[c].key...)
			out = t.appendFlat(r, c, p, out)
			path = p[:len(path)] // keep any growth of the buffer
		}
		r.pathBuf = path[:0]
		return out
	case jArray:
		ki := r.keys.get(r, path)
		start := len(r.scratch)
		r.scratch = t.appendCompact(r.scratch, i)
		return append(out, event.Field{Key: ki.key, Value: r.scratch[start:len(r.scratch):len(r.scratch)], Kind: event.Array, Sym: ki.sym})
	}
	ki := r.keys.get(r, path)
	return append(out, event.Field{Key: ki.key, Value: t.bytesOf(i), Kind: kindOfJSON[n.kind], Sym: ki.sym})
}

var kindOfJSON = [...]event.Kind{jString: event.String, jNumber: event.Number, jBool: event.Bool, jNull: event.Null}

// appendCompact appends node i as compact JSON (no spaces), strings escaped
// as cJSON prints them: quote, backslash and control characters only.
func (t *jtree) appendCompact(dst []byte, i int32) []byte {
	n := &t.nodes[i]
	switch n.kind {
	case jObject:
		dst = append(dst, '{')
		for c := n.first; c >= 0; c = t.nodes[c].next {
			if c != n.first {
				dst = append(dst, ',')
			}
			dst = event.AppendCJSONString(dst, t.nodes[c].key)
			dst = append(dst, ':')
			dst = t.appendCompact(dst, c)
		}
		return append(dst, '}')
	case jArray:
		dst = append(dst, '[')
		for c := n.first; c >= 0; c = t.nodes[c].next {
			if c != n.first {
				dst = append(dst, ',')
			}
			dst = t.appendCompact(dst, c)
		}
		return append(dst, ']')
	case jString:
		return event.AppendCJSONString(dst, t.bytesOf(i))
	}
	return append(dst, t.bytesOf(i)...)
}

// countElements returns the number of elements of a compact JSON array
// without parsing it (0, 1 or 2 meaning "two or more"); -1 if b is not an
// array.
func countElements(b []byte) int {
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

// maxObjectDepth bounds the nesting of objects that are flattened: each
// level lengthens every key below it, so a deep record would cost memory
// quadratic in its size. Real records nest a dozen levels.
const maxObjectDepth = 100

var errTooDeep = fmt.Errorf("record nests objects more than %d levels deep", maxObjectDepth)
