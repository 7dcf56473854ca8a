package decoders

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// A strict, position-keeping YAML decoder for the spec types. yaml.v3's
// KnownFields(true) rejects unknown keys but reports only a line, in its own
// words; walking the node tree ourselves gives file:line:col for every
// problem and lets validation go on after the first one.

// nodeDecoder is implemented by spec types that decode themselves.
type nodeDecoder interface {
	decodeNode(d *specDecoder, n *yaml.Node, path string)
}

// specDecoder collects every problem of one file.
type specDecoder struct {
	file    string
	data    []byte // the file, to place positions inside block scalars
	decoder string // name of the decoder, once known
	errs    []error
}

func (d *specDecoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.add(n, path, fmt.Errorf(format, args...))
}

func (d *specDecoder) add(n *yaml.Node, path string, err error) {
	e := &LoadError{File: d.file, Decoder: d.decoder, Err: err}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	if path != "" {
		e.Err = fmt.Errorf("%s: %w", path, err)
	}
	d.errs = append(d.errs, e)
}

// decode fills v (a pointer) from n.
func (d *specDecoder) decode(n *yaml.Node, path string, v any) {
	d.value(n, path, reflect.ValueOf(v).Elem())
}

var (
	nodeDecoderType = reflect.TypeOf((*nodeDecoder)(nil)).Elem()
	nodePtrType     = reflect.TypeOf((*yaml.Node)(nil))
)

func resolve(n *yaml.Node) *yaml.Node {
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

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (d *specDecoder) value(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.value(n, path, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.structValue(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil || n.Tag != "!!bool" {
			d.errorf(n, path, "expected true or false, got %q", s)
			return
		}
		v.SetBool(b)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	default:
		panic("decoders: unsupported spec field type " + v.Type().String())
	}
}

// scalar returns the text of a scalar node.
func (d *specDecoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s", want)
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (d *specDecoder) structValue(n *yaml.Node, path string, v reflect.Value) {
	t := v.Type()
	fields := map[string]int{}
	nodeField := -1
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		switch {
		case tag == "-" && f.Type == nodePtrType:
			nodeField = i
		case tag != "" && tag != "-":
			fields[tag] = i
		}
	}
	if nodeField >= 0 {
		v.Field(nodeField).Set(reflect.ValueOf(n))
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(k, path, "unknown key %q (expected one of [%s])", k.Value, strings.Join(sortedKeys(fields), " "))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, path, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		d.value(val, joinPath(path, k.Value), v.Field(idx))
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// valueNode returns the value node of key in mapping n, or n itself.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return resolve(n.Content[i+1])
			}
		}
	}
	return n
}

func (s *StepSpec) decodeNode(d *specDecoder, n *yaml.Node, path string) {
	s.Node = n
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, path, "a step is a mapping with exactly one key, the step kind (one of [%s])",
			strings.Join(sortedKeys(stepKinds), " "))
		return
	}
	k := n.Content[0]
	s.Kind = k.Value
	kind, ok := stepKinds[s.Kind]
	if !ok {
		d.errorf(k, path, "unknown step kind %q (expected one of [%s])", s.Kind, strings.Join(sortedKeys(stepKinds), " "))
		return
	}
	args := kind.newSpec()
	d.decode(n.Content[1], joinPath(path, s.Kind), args)
	s.Args = args
}

func (t *FieldTable) decodeNode(d *specDecoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of field name to type")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], resolve(n.Content[i+1])
		if seen[k.Value] {
			d.errorf(k, path, "duplicate field %q", k.Value)
			continue
		}
		seen[k.Value] = true
		typ, ok := d.scalar(val, joinPath(path, k.Value), "a type name")
		if !ok {
			continue
		}
		*t = append(*t, FieldSpec{Name: k.Value, Type: typ, Node: k})
	}
}
