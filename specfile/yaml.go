package specfile

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Parse parses data, the YAML file file, and returns its root node: nil
// for an empty file. A syntax error is an *Error at the line yaml.v3 names.
func Parse(file string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := syntaxError(file, err)
		e.Line = problemLine(data, e.Line)
		if indentHint(e.Err.Error()) {
			e.Err = fmt.Errorf("%w (check the indentation of this line against the lines above it)", e.Err)
		}
		return nil, e
	}
	if doc.Kind == 0 {
		return nil, nil
	}
	return Resolve(&doc), nil
}

// DecodeFile decodes data, the YAML file file, strictly into v (a
// pointer) and returns every problem at once (Join). An empty file leaves v
// as it is.
func DecodeFile(file string, data []byte, v any) error {
	root, err := Parse(file, data)
	if err != nil || root == nil {
		return err
	}
	d := NewDecoder(file, data)
	d.Decode(root, "", v)
	return d.Err()
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// syntaxError turns yaml.v3's "yaml: line N: msg" into an *Error at line
// N. yaml.v3 gives its syntax errors as text only.
func syntaxError(file string, err error) *Error {
	msg := err.Error()
	e := &Error{Pos: Pos{File: file}}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e.Err = errors.New(msg)
	return e
}

// problemLine returns the line a syntax error is on. yaml.v3 names the
// line where the enclosing block began (a mapping whose key is indented
// one space too few is reported at the mapping's first line), so the file
// is parsed again cut after each line from there on: the first cut that
// fails, other than by ending inside something left open, ends on the
// line that is wrong. Only a failed load pays for this.
func problemLine(data []byte, reported int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var buf []byte
	for k := max(reported, 1); k <= len(lines); k++ {
		buf = buf[:0]
		for _, l := range lines[:k] {
			buf = append(buf, l...)
		}
		var doc yaml.Node
		err := yaml.Unmarshal(buf, &doc)
		if err == nil || cutShort(err) {
			continue
		}
		return k
	}
	return reported
}

// indentHint reports the yaml.v3 messages an indentation mistake causes.
func indentHint(msg string) bool {
	for _, s := range []string{"did not find expected key", "did not find expected '-' indicator", "mapping values are not allowed in this context"} {
		if msg == s {
			return true
		}
	}
	return false
}

// cutShort reports an error of a cut file that only says something was
// left open at its end (a flow collection, a quoted scalar).
func cutShort(err error) bool {
	msg := err.Error()
	for _, s := range []string{"end of stream", "did not find expected node content", "found unexpected end"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// NodeDecoder is implemented by spec types that decode themselves from a
// node (a step whose one key is its kind, a table of field types). n is
// nil or resolved (no alias, no document node); key is the key path for
// messages.
type NodeDecoder interface {
	DecodeNode(d *Decoder, n *yaml.Node, key string)
}

// Decoder decodes the YAML of one file into spec types and collects every
// problem, each an *Error at its node. Struct fields are read from the
// keys of their yaml tag ("name" or "name,omitempty"); a field tagged
// `yaml:"-"` of type *yaml.Node receives the struct's own node, and fields
// of type yaml.Node or *yaml.Node receive their value's node. Types that
// implement NodeDecoder or yaml.Unmarshaler decode themselves. Scalars
// follow yaml.v3's rules (yes/no are booleans, "10s" is a time.Duration).
type Decoder struct {
	file string
	data []byte
	// Subject names the definition being decoded, e.g. "decoder vpcflow";
	// errors added carry it. Callers set it as they go.
	Subject string
	errs    []error
}

// NewDecoder returns a Decoder for the file file whose text is data (used
// to place positions inside block scalars).
func NewDecoder(file string, data []byte) *Decoder {
	return &Decoder{file: file, data: data}
}

// File returns the file's name.
func (d *Decoder) File() string { return d.file }

// Errors returns the problems found so far, in the order found.
func (d *Decoder) Errors() []error { return d.errs }

// Err returns the problems found so far as one error (Join), or nil.
func (d *Decoder) Err() error { return Join(d.errs...) }

// At returns the position of n in the file.
func (d *Decoder) At(n *yaml.Node) Pos {
	p := Pos{File: d.file}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	return p
}

// Errorf adds a problem at n (the file when nil) under key.
func (d *Decoder) Errorf(n *yaml.Node, key, format string, args ...any) {
	d.Add(n, key, fmt.Errorf(format, args...))
}

// Add adds err as a problem at n (the file when nil) under key. When err is
// an *Error, its own position, subject and key are kept where they are set.
func (d *Decoder) Add(n *yaml.Node, key string, err error) {
	if e, ok := err.(*Error); ok {
		if e.File == "" {
			e.File = d.file
			if e.Line == 0 {
				p := d.At(n)
				e.Line, e.Column = p.Line, p.Column
			}
		}
		if e.Subject == "" {
			e.Subject = d.Subject
		}
		if e.Key == "" {
			e.Key = key
		}
		d.errs = append(d.errs, err)
		return
	}
	d.errs = append(d.errs, &Error{Pos: d.At(n), Subject: d.Subject, Key: key, Err: err})
}

// AddAt adds err as a problem at a position inside the value of scalar n:
// line and col are 1-based line and 0-based column in runes inside the
// value (as expr reports them), mapped back to the file by ValuePos.
func (d *Decoder) AddAt(n *yaml.Node, line, col int, key string, err error) {
	p := d.At(n)
	p.Line, p.Column = ValuePos(d.data, n, line, col)
	d.errs = append(d.errs, &Error{Pos: p, Subject: d.Subject, Key: key, Err: err})
}

// Decode fills v, a pointer, from n under key, adding a problem for each
// key v has no field for and each value of the wrong type.
func (d *Decoder) Decode(n *yaml.Node, key string, v any) {
	d.value(Resolve(n), key, reflect.ValueOf(v).Elem())
}

var (
	nodeDecoderType = reflect.TypeFor[NodeDecoder]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	nodeType        = reflect.TypeFor[yaml.Node]()
	nodePtrType     = reflect.TypeFor[*yaml.Node]()
	durationType    = reflect.TypeFor[time.Duration]()
)

func (d *Decoder) value(n *yaml.Node, key string, v reflect.Value) {
	switch {
	case v.Type() == nodeType:
		if n != nil {
			v.Set(reflect.ValueOf(*n))
		}
		return
	case v.Type() == nodePtrType:
		v.Set(reflect.ValueOf(n))
		return
	case v.Addr().Type().Implements(nodeDecoderType):
		v.Addr().Interface().(NodeDecoder).DecodeNode(d, n, key)
		return
	case v.Addr().Type().Implements(unmarshalerType):
		if IsNull(n) {
			return
		}
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.Add(n, key, err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if IsNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.value(n, key, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.structValue(n, key, v)
	case reflect.Slice:
		d.sliceValue(n, key, v)
	case reflect.Map:
		d.mapValue(n, key, v)
	default:
		d.scalarValue(n, key, v)
	}
}

func (d *Decoder) sliceValue(n *yaml.Node, key string, v reflect.Value) {
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, key, "expected a list")
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.value(Resolve(c), key+"["+strconv.Itoa(i)+"]", s.Index(i))
	}
	v.Set(s)
}

func (d *Decoder) mapValue(n *yaml.Node, key string, v reflect.Value) {
	if v.Type().Key().Kind() != reflect.String {
		panic("specfile: map keys must be strings, not " + v.Type().Key().String())
	}
	if IsNull(n) {
		return
	}
	m := reflect.MakeMap(v.Type())
	d.Pairs(n, key, "a mapping", func(k, val *yaml.Node) {
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(val, JoinKey(key, k.Value), e)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	})
	v.Set(m)
}

// Pairs calls f with each key node and (resolved) value node of mapping n,
// in order. It reports n when it is not a mapping (want says what it
// should be, e.g. "a mapping") and each key given twice, which f does not
// see. A null n has no pairs.
func (d *Decoder) Pairs(n *yaml.Node, key, want string, f func(k, v *yaml.Node)) {
	if IsNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, key, "expected %s", want)
		return
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if seen[k.Value] {
			d.Errorf(k, key, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		f(k, Resolve(n.Content[i+1]))
	}
}

// scalarValue decodes a leaf with yaml.v3's own rules.
func (d *Decoder) scalarValue(n *yaml.Node, key string, v reflect.Value) {
	want := describe(v.Type())
	if n == nil || n.Kind != yaml.ScalarNode {
		if v.Kind() == reflect.Interface && n != nil {
			if err := n.Decode(v.Addr().Interface()); err != nil {
				d.Add(n, key, err)
			}
			return
		}
		d.Errorf(n, key, "expected %s", want)
		return
	}
	if IsNull(n) {
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.Errorf(n, key, "expected %s, got %q", want, n.Value)
	}
}

// describe says what a value of type t is written as.
func describe(t reflect.Type) string {
	if t == durationType {
		return "a duration (like 10s or 5m)"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a single value"
}

// structFields returns the key of each yaml-tagged field of t, and the
// index of its `yaml:"-"` *yaml.Node field (-1: none).
func structFields(t reflect.Type) (map[string]int, int) {
	fields := map[string]int{}
	nodeField := -1
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported():
		case tag == "-" && f.Type == nodePtrType:
			nodeField = i
		case tag != "" && tag != "-":
			fields[tag] = i
		}
	}
	return fields, nodeField
}

func (d *Decoder) structValue(n *yaml.Node, key string, v reflect.Value) {
	fields, nodeField := structFields(v.Type())
	if nodeField >= 0 {
		v.Field(nodeField).Set(reflect.ValueOf(n))
	}
	d.Pairs(n, key, "a mapping", func(k, val *yaml.Node) {
		idx, ok := fields[k.Value]
		if !ok {
			keys := SortedKeys(fields)
			d.Errorf(k, key, "unknown key %q%s (expected one of [%s])", k.Value, DidYouMean(k.Value, keys), strings.Join(keys, " "))
			return
		}
		d.value(val, JoinKey(key, k.Value), v.Field(idx))
	})
}

// JoinKey returns the key path of key under path.
func JoinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// SortedKeys returns the keys of m in order, for "expected one of" lists.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Resolve follows aliases and document nodes to the node they stand for;
// nil for an empty document.
func Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// IsNull reports whether n is absent or a null scalar.
func IsNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// Value returns the (resolved) value node of key in mapping n, or nil.
func Value(n *yaml.Node, key string) *yaml.Node {
	if i := keyIndex(n, key); i >= 0 {
		return Resolve(Resolve(n).Content[i+1])
	}
	return nil
}

// KeyNode returns the key node of key in mapping n, or nil.
func KeyNode(n *yaml.Node, key string) *yaml.Node {
	if i := keyIndex(n, key); i >= 0 {
		return Resolve(n).Content[i]
	}
	return nil
}

func keyIndex(n *yaml.Node, key string) int {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// ValuePos maps a position inside the value of scalar n (1-based line,
// 0-based column in runes, as expr reports it) to the file whose text is
// data. A literal block (|) keeps its lines, less the block's indentation;
// a folded block (>) and a plain or quoted scalar written over several
// lines joined them with spaces, which ValuePos walks back.
func ValuePos(data []byte, n *yaml.Node, line, col int) (int, int) {
	src := strings.Split(string(data), "\n")
	// off is the position as an offset into the value.
	off := col
	for i, l := range strings.Split(n.Value, "\n") {
		if i >= line-1 {
			break
		}
		off += utf8.RuneCountInString(l) + 1
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		indent := blockIndent(src, n.Line)
		if indent < 0 {
			return n.Line + 1, 1
		}
		if n.Style == yaml.LiteralStyle {
			return n.Line + line, indent + col + 1
		}
		if l, c := walkFolded(src, n.Line, -1, indent, off); l > 0 {
			return l, c
		}
		return n.Line + 1, indent + 1
	}
	first := n.Column - 1 // in runes
	if n.Style == yaml.DoubleQuotedStyle || n.Style == yaml.SingleQuotedStyle {
		first++
	}
	if n.Line-1 < len(src) {
		if l, c := walkFolded(src, n.Line-1, runeOffset(src[n.Line-1], first), -1, off); l > 0 {
			return l, c
		}
	}
	return n.Line, first + col + 1
}

// blockIndent returns the indentation of the first non-blank line of the
// block scalar whose indicator is on file line key, or -1.
func blockIndent(src []string, key int) int {
	for l := key; l < len(src); l++ {
		if body := strings.TrimLeft(src[l], " "); strings.TrimSpace(body) != "" {
			return len(src[l]) - len(body)
		}
	}
	return -1
}

// walkFolded finds the file line and column of offset off in text folded
// from src[l:]: each line contributes its text and one separator (a space,
// or a line break before a blank line), and a run of blank lines one line
// break less than it has lines. The first line's text starts at byte
// start (when >= 0); the others at indent bytes (a folded block: a line
// indented less ends it), or after their own indentation (indent < 0). It
// returns 0, 0 when off is past the text.
func walkFolded(src []string, l, start, indent, off int) (int, int) {
	blank := false
	for ; l < len(src); l++ {
		text := strings.TrimRight(src[l], "\r")
		if start < 0 && strings.TrimSpace(text) == "" {
			if blank {
				off--
			}
			blank = true
			continue
		}
		blank = false
		from := start
		switch {
		case from >= 0:
		case indent >= 0:
			if len(text) < indent || strings.TrimSpace(text[:indent]) != "" {
				return 0, 0 // the block ended
			}
			from = indent
		default:
			from = len(text) - len(strings.TrimLeft(text, " \t"))
		}
		start = -1
		w := utf8.RuneCountInString(strings.TrimRight(text[from:], " \t"))
		if off <= w {
			return l + 1, utf8.RuneCountInString(text[:from]) + off + 1
		}
		off -= w + 1
	}
	return 0, 0
}

// runeOffset returns the byte offset of the runes-th rune of s (len(s)
// when s is shorter).
func runeOffset(s string, runes int) int {
	for i := range s {
		if runes == 0 {
			return i
		}
		runes--
	}
	return len(s)
}
