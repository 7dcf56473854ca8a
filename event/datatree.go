package event

import "strings"

// dataTree places fields into nested objects one at a time, as Wazuh's
// W_JSON_AddField (src/shared/string_op.c, v4.14.7) places each decoded
// field into the alert's data: the key is split at its first dot; the part
// before it is looked up among the current object's members with cJSON's
// cJSON_GetObjectItem, which compares case-insensitively (ASCII only: Wazuh
// runs in the C locale) and returns the first match. A found object is
// entered, a found scalar drops the field, a missing name is created with
// this key's spelling; the last part is added only when no member of that
// name exists. In the wodle style (Python dicts) names compare exactly.
// See docs/wazuh-compat.md.
//
// A dataTree is scratch space: reset it and reuse it to avoid allocating.
type dataTree struct {
	nodes []treeNode
	fates []fieldFate // one per field of the event placed last
	fold  bool        // compare names ignoring ASCII letter case
}

// treeNode is one member of an object of the tree; node 0 is the root
// object.
type treeNode struct {
	name   string // the spelling of its first appearance
	parent int32
	field  int32 // the field holding its value, or -1 for an object
	first  int32 // first member of an object, or -1
	last   int32 // last member of an object, or -1
	next   int32 // next member of the parent, or -1
}

// fate says what placing one field did.
type fate uint8

const (
	fatePlaced    fate = iota // a new member under the key's own spelling
	fateSkipped               // never placed: an empty value or an empty object
	fateSameName              // dropped: a member of that name (but for case) exists
	fateNotObject             // dropped: a parent name is a member that is not an object
	fateMerged                // placed inside an object whose name differs from the key's but for case
)

// fieldFate is what happened to one field, with the node it collided with
// (the existing member for fateSameName and fateNotObject) or was placed as.
type fieldFate struct {
	fate fate
	node int32
}

func (t *dataTree) reset(fold bool) {
	t.fold = fold
	t.nodes = append(t.nodes[:0], treeNode{parent: -1, field: -1, first: -1, last: -1, next: -1})
	t.fates = t.fates[:0]
}

// build places every field of e that the style keeps.
func (t *dataTree) build(e *Event, st style) {
	t.reset(st == dataStyle)
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			t.fates = append(t.fates, fieldFate{fateSkipped, -1})
			continue
		}
		t.fates = append(t.fates, t.add(f.Key, int32(i)))
	}
}

// add places the field i under key, following W_JSON_AddField.
func (t *dataTree) add(key string, i int32) fieldFate {
	obj := int32(0)
	merged := false
	for {
		dot := strings.IndexByte(key, '.')
		if dot < 0 {
			break
		}
		name := key[:dot]
		key = key[dot+1:]
		found := t.lookup(obj, name)
		switch {
		case found < 0:
			obj = t.append(obj, name, -1)
		case t.nodes[found].field >= 0:
			return fieldFate{fateNotObject, found}
		default:
			merged = merged || t.nodes[found].name != name
			obj = found
		}
	}
	if found := t.lookup(obj, key); found >= 0 {
		return fieldFate{fateSameName, found}
	}
	n := t.append(obj, key, i)
	if merged {
		return fieldFate{fateMerged, n}
	}
	return fieldFate{fatePlaced, n}
}

// lookup returns the first member of obj named name, or -1.
func (t *dataTree) lookup(obj int32, name string) int32 {
	for c := t.nodes[obj].first; c >= 0; c = t.nodes[c].next {
		if t.same(t.nodes[c].name, name) {
			return c
		}
	}
	return -1
}

func (t *dataTree) same(a, b string) bool {
	if t.fold {
		return asciiEqualFold(a, b)
	}
	return a == b
}

func (t *dataTree) append(obj int32, name string, field int32) int32 {
	n := int32(len(t.nodes))
	t.nodes = append(t.nodes, treeNode{name: name, parent: obj, field: field, first: -1, last: -1, next: -1})
	if p := &t.nodes[obj]; p.last < 0 {
		p.first = n
	} else {
		t.nodes[p.last].next = n
	}
	t.nodes[obj].last = n
	return n
}

// path returns the dotted name of node n as the alert writes it.
func (t *dataTree) path(n int32) string {
	if n <= 0 {
		return ""
	}
	if p := t.path(t.nodes[n].parent); p != "" {
		return p + "." + t.nodes[n].name
	}
	return t.nodes[n].name
}

// appendTo writes object obj of the tree, values in the given style; spans,
// when not nil, receives where each value went.
func (t *dataTree) appendTo(dst []byte, e *Event, obj int32, st style, spans *[]span) []byte {
	dst = append(dst, '{')
	first := true
	for c := t.nodes[obj].first; c >= 0; c = t.nodes[c].next {
		n := &t.nodes[c]
		dst = appendKey(dst, n.name, first, st)
		first = false
		if n.field < 0 {
			dst = t.appendTo(dst, e, c, st, spans)
			continue
		}
		start := len(dst)
		dst = appendValue(dst, &e.Fields[n.field], st)
		if spans != nil {
			*spans = append(*spans, span{field: int(n.field), start: start, end: len(dst)})
		}
	}
	return append(dst, '}')
}

// asciiEqualFold reports whether a and b are equal when ASCII letters are
// compared ignoring case, as C's tolower in the C locale does (bytes from
// 0x80 up compare exactly, unlike strings.EqualFold).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
