package decoders

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/vpcalertd/vpcalertd/event"
)

// jtree is one JSON value as an ordered tree in reusable arenas. It keeps
// key order and number literals, which map[string]any would lose, and
// applies Python's dict semantics to repeated keys (the last value wins, at
// the first key's position), because the wodle json.load()s every record.
type jtree struct {
	depth    int // objects open while parsing
	maxDepth int // deepest object nesting seen since reset
	nodes    []jnode
	buf      []byte           // scalar bytes: unescaped strings, literals
	big      map[bigKey]int32 // members of large objects, for repeated keys
	bigOK    map[int32]bool   // objects indexed in big
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
	t.depth, t.maxDepth = 0, 0
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

// parseValue reads one complete JSON value from dec (which must have
// UseNumber set) into the tree and returns its node.
func (t *jtree) parseValue(dec *json.Decoder) (int32, error) {
	tok, err := dec.Token()
	if err != nil {
		return -1, err
	}
	return t.value(dec, tok)
}

func (t *jtree) value(dec *json.Decoder, tok json.Token) (int32, error) {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			obj := t.node(jObject)
			t.depth++
			t.maxDepth = max(t.maxDepth, t.depth)
			defer func() { t.depth-- }()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return -1, err
				}
				key, ok := kt.(string)
				if !ok {
					return -1, fmt.Errorf("object key is %v", kt)
				}
				child, err := t.parseValue(dec)
				if err != nil {
					return -1, err
				}
				t.addMember(obj, key, child)
			}
			if _, err := dec.Token(); err != nil {
				return -1, err
			}
			return obj, nil
		case '[':
			arr := t.node(jArray)
			for dec.More() {
				child, err := t.parseValue(dec)
				if err != nil {
					return -1, err
				}
				t.appendChild(arr, child)
			}
			if _, err := dec.Token(); err != nil {
				return -1, err
			}
			return arr, nil
		}
		return -1, fmt.Errorf("unexpected %q", rune(v))
	case string:
		return t.scalar(jString, v), nil
	case json.Number:
		return t.scalar(jNumber, string(v)), nil
	case bool:
		if v {
			return t.scalar(jBool, "true"), nil
		}
		return t.scalar(jBool, "false"), nil
	case nil:
		return t.scalar(jNull, "null"), nil
	}
	return -1, fmt.Errorf("unexpected token %v", tok)
}

// maxObjectDepth bounds the nesting of objects that are flattened: each
// level lengthens every key below it, so a deep record would cost memory
// quadratic in its size. Real records nest a dozen levels.
const maxObjectDepth = 100

var errTooDeep = fmt.Errorf("record nests objects more than %d levels deep", maxObjectDepth)

// errTrailingData reports bytes after a complete JSON value on a line.
var errTrailingData = errors.New("unexpected data after the JSON value")

// parseBytes parses b, which must hold exactly one JSON value.
func (t *jtree) parseBytes(b []byte) (int32, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	root, err := t.parseValue(dec)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return -1, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return -1, errTrailingData
	}
	return root, nil
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
			dst = appendJSONString(dst, t.nodes[c].key)
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
		return appendJSONString(dst, t.bytesOf(i))
	}
	return append(dst, t.bytesOf(i)...)
}

func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20:
			dst = append(dst, c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
	}
	return append(dst, '"')
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
