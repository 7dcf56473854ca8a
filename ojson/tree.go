package ojson

import (
	"bytes"
	"errors"
	"fmt"
)

// Kind is the JSON type of a node.
type Kind uint8

// The kinds of JSON values.
const (
	Object Kind = iota
	Array
	String
	Number
	Bool
	Null
	// Raw is a token written as is: a whole value encoded elsewhere and
	// spliced into the tree (NewNode), never a result of Parse.
	Raw
)

// Tree is one JSON document as an ordered tree. Nodes are numbered from 0
// (the root after Parse); -1 is no node. Children form a linked list, so
// that members can be inserted and removed cheaply. Scalars keep their
// token as written (a string with its quotes and escapes, a number's
// literal), so an unchanged document is written back byte for byte. A
// Tree is reused across documents: Parse and Reset keep its memory.
type Tree struct {
	nodes []node
	buf   []byte            // tokens: the document parsed, then tokens added
	text  []byte            // strings unescaped by Str since the last Reset
	names map[string]string // member names seen, interned
	big   map[bigKey]int32  // members of large objects, for repeated names
	bigOK map[int32]bool    // objects indexed in big
	// depth is the deepest nesting of objects of the document parsed.
	depth int
	// MaxDepth bounds the nesting of objects and arrays Parse accepts;
	// 0 means 10000, as encoding/json.
	MaxDepth int
}

type node struct {
	name              string // member name, unescaped; "" outside objects
	keyOff, keyN      int32  // member name token in buf, with its quotes
	off, n            int32  // scalar token in buf
	first, last, next int32  // children and next sibling
	count             int32  // number of children
	kind              Kind
	plain             bool // a string token with no escape: Str is its inside
}

type bigKey struct {
	obj  int32
	name string
}

// linearMembers is the object size up to which repeated names are searched
// linearly.
const linearMembers = 16

// maxInterned bounds the member names a Tree interns.
const maxInterned = 4096

// Reset empties t, keeping its memory.
func (t *Tree) Reset() {
	t.nodes = t.nodes[:0]
	t.buf = t.buf[:0]
	t.text = t.text[:0]
	t.depth = 0
	if t.big != nil {
		clear(t.big)
		clear(t.bigOK)
	}
}

// Len returns the number of nodes.
func (t *Tree) Len() int { return len(t.nodes) }

// Kind returns the kind of node i.
func (t *Tree) Kind(i int32) Kind { return t.nodes[i].kind }

// First returns the first child of object or array i, or -1.
func (t *Tree) First(i int32) int32 { return t.nodes[i].first }

// Last returns the last child of object or array i, or -1.
func (t *Tree) Last(i int32) int32 { return t.nodes[i].last }

// Next returns the sibling after node i, or -1.
func (t *Tree) Next(i int32) int32 { return t.nodes[i].next }

// Count returns the number of children of object or array i.
func (t *Tree) Count(i int32) int { return int(t.nodes[i].count) }

// Name returns the member name of node i (unescaped), "" outside an
// object.
func (t *Tree) Name(i int32) string { return t.nodes[i].name }

// NameToken returns the member name of node i as written, with its quotes.
func (t *Tree) NameToken(i int32) []byte {
	n := &t.nodes[i]
	return t.buf[n.keyOff : n.keyOff+n.keyN : n.keyOff+n.keyN]
}

// Token returns scalar i as written: a string with its quotes and escapes,
// a number's literal, true, false or null. It aliases the tree.
func (t *Tree) Token(i int32) []byte {
	n := &t.nodes[i]
	return t.buf[n.off : n.off+n.n : n.off+n.n]
}

// ObjectDepth returns the deepest nesting of objects in the document
// parsed last (1 for a flat object).
func (t *Tree) ObjectDepth() int { return t.depth }

// Str returns the value of string i, unescaped. It aliases the tree and
// stays valid until Reset.
func (t *Tree) Str(i int32) []byte {
	tok := t.Token(i)
	if t.nodes[i].plain {
		return tok[1 : len(tok)-1 : len(tok)-1]
	}
	start := len(t.text)
	t.text = appendUnquoted(t.text, tok)
	return t.text[start:len(t.text):len(t.text)]
}

// Text returns the value of scalar i as text: a string unescaped, any
// other token as written.
func (t *Tree) Text(i int32) []byte {
	if t.nodes[i].kind == String {
		return t.Str(i)
	}
	return t.Token(i)
}

// Member returns the member of object obj named name and the member before
// it (-1 when it is the first), or -1, -1.
func (t *Tree) Member(obj int32, name string) (c, prev int32) {
	if obj < 0 || t.nodes[obj].kind != Object {
		return -1, -1
	}
	prev = -1
	for c = t.nodes[obj].first; c >= 0; prev, c = c, t.nodes[c].next {
		if t.nodes[c].name == name {
			return c, prev
		}
	}
	return -1, -1
}

// Path follows members from the root; -1 when one is missing.
func (t *Tree) Path(names ...string) int32 {
	n := int32(0)
	if len(t.nodes) == 0 {
		return -1
	}
	for _, name := range names {
		if n, _ = t.Member(n, name); n < 0 {
			return -1
		}
	}
	return n
}

// NewNode adds a detached node of kind k; tok is the token of a scalar
// (a string quoted and escaped, see AppendQuoted), nil for an object or an
// array. Link it with AppendChild or InsertAfter.
func (t *Tree) NewNode(k Kind, tok []byte) int32 {
	i := t.node(k)
	if k != Object && k != Array {
		t.setToken(i, tok)
	}
	return i
}

// SetToken replaces the token of scalar i.
func (t *Tree) SetToken(i int32, tok []byte) {
	t.setToken(i, tok)
}

// SetName makes name (unescaped) the member name of node i.
func (t *Tree) SetName(i int32, name string) {
	n := &t.nodes[i]
	n.name = name
	n.keyOff = int32(len(t.buf))
	t.buf = AppendQuoted(t.buf, name)
	n.keyN = int32(len(t.buf)) - n.keyOff
}

// AppendChild links detached node c as the last child of p.
func (t *Tree) AppendChild(p, c int32) {
	n := &t.nodes[p]
	if n.last < 0 {
		n.first = c
	} else {
		t.nodes[n.last].next = c
	}
	n.last = c
	n.count++
}

// InsertAfter links detached node c right after child s of p.
func (t *Tree) InsertAfter(p, s, c int32) {
	t.nodes[c].next = t.nodes[s].next
	t.nodes[s].next = c
	if t.nodes[p].last == s {
		t.nodes[p].last = c
	}
	t.nodes[p].count++
}

// Unlink removes child c of p; prev is the child before c, or -1.
func (t *Tree) Unlink(p, prev, c int32) {
	if prev < 0 {
		t.nodes[p].first = t.nodes[c].next
	} else {
		t.nodes[prev].next = t.nodes[c].next
	}
	if t.nodes[p].last == c {
		t.nodes[p].last = prev
	}
	t.nodes[c].next = -1
	t.nodes[p].count--
}

// Encode appends node i as compact JSON, tokens as they are.
func (t *Tree) Encode(dst []byte, i int32) []byte {
	n := &t.nodes[i]
	switch n.kind {
	case Object, Array:
		open, closing := byte('{'), byte('}')
		if n.kind == Array {
			open, closing = '[', ']'
		}
		dst = append(dst, open)
		for c := n.first; c >= 0; c = t.nodes[c].next {
			if c != n.first {
				dst = append(dst, ',')
			}
			if n.kind == Object {
				dst = append(dst, t.NameToken(c)...)
				dst = append(dst, ':')
			}
			dst = t.Encode(dst, c)
		}
		return append(dst, closing)
	}
	return append(dst, t.Token(i)...)
}

func (t *Tree) node(k Kind) int32 {
	t.nodes = append(t.nodes, node{kind: k, first: -1, last: -1, next: -1})
	return int32(len(t.nodes) - 1)
}

func (t *Tree) setToken(i int32, tok []byte) {
	n := &t.nodes[i]
	n.off = int32(len(t.buf))
	t.buf = append(t.buf, tok...)
	n.n = int32(len(tok))
	n.plain = n.kind == String && len(tok) >= 2 && bytes.IndexByte(tok[1:len(tok)-1], '\\') < 0
}

// addMember adds child (named by the token at keyOff) to obj; a repeated
// name takes the new value in the old member's place, as a Python dict.
func (t *Tree) addMember(obj int32, name string, keyOff, keyN int32, child int32) {
	c := &t.nodes[child]
	c.name, c.keyOff, c.keyN = name, keyOff, keyN
	if old := t.findMember(obj, name); old >= 0 {
		next := t.nodes[old].next
		t.nodes[old] = t.nodes[child]
		t.nodes[old].next = next
		return
	}
	t.AppendChild(obj, child)
	if t.bigOK[obj] {
		t.big[bigKey{obj, name}] = child
	}
}

func (t *Tree) findMember(obj int32, name string) int32 {
	o := &t.nodes[obj]
	if o.count < linearMembers {
		for c := o.first; c >= 0; c = t.nodes[c].next {
			if t.nodes[c].name == name {
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
			t.big[bigKey{obj, t.nodes[c].name}] = c
		}
		t.bigOK[obj] = true
	}
	if c, ok := t.big[bigKey{obj, name}]; ok {
		return c
	}
	return -1
}

// intern returns name as a string, shared with earlier equal names.
func (t *Tree) intern(name []byte) string {
	if s, ok := t.names[string(name)]; ok {
		return s
	}
	s := string(name)
	if t.names == nil {
		t.names = map[string]string{}
	}
	if len(t.names) < maxInterned {
		t.names[s] = s
	}
	return s
}

// ErrSyntax is wrapped by every error of Parse.
var ErrSyntax = errors.New("invalid JSON")

// SyntaxError is an error of Parse at a byte offset of the document.
type SyntaxError struct {
	Offset int // bytes before the problem
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON: %s at byte %d", e.Msg, e.Offset)
}

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }
