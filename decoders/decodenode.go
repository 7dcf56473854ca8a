package decoders

import (
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// The spec types that decode themselves (specfile.NodeDecoder): a step is a
// mapping whose one key is its kind, and a field table keeps its order.

// valueNode returns the value node of key in mapping n, or n itself when
// there is none, so that a problem with a missing key is placed at its
// mapping.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if v := specfile.Value(n, key); v != nil {
		return v
	}
	return specfile.Resolve(n)
}

// DecodeNode reads a step: its one key names the kind, whose spec type
// decodes the value.
func (s *StepSpec) DecodeNode(d *specfile.Decoder, n *yaml.Node, path string) {
	s.Node = n
	if n == nil || n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.Errorf(n, path, "a step is a mapping with exactly one key, the step kind (one of [%s])",
			strings.Join(specfile.SortedKeys(stepKinds), " "))
		return
	}
	k := n.Content[0]
	s.Kind = k.Value
	kind, ok := stepKinds[s.Kind]
	if !ok {
		d.Errorf(k, path, "unknown step kind %q (expected one of [%s])", s.Kind, strings.Join(specfile.SortedKeys(stepKinds), " "))
		return
	}
	args := kind.newSpec()
	d.Decode(n.Content[1], specfile.JoinKey(path, s.Kind), args)
	s.Args = args
}

// DecodeNode reads a field table, a mapping of field name to type name,
// in its order.
func (t *FieldTable) DecodeNode(d *specfile.Decoder, n *yaml.Node, path string) {
	d.Pairs(n, path, "a mapping of field name to type", func(k, val *yaml.Node) {
		if val == nil || val.Kind != yaml.ScalarNode {
			d.Errorf(val, specfile.JoinKey(path, k.Value), "expected a type name")
			return
		}
		typ := val.Value
		if specfile.IsNull(val) {
			typ = ""
		}
		*t = append(*t, FieldSpec{Name: k.Value, Type: typ, Node: k})
	})
}
