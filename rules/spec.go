package rules

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/ojson"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// FileSpec is one rule file as written (README.md documents every key).
type FileSpec struct {
	// Group is prepended to every rule's groups, like Wazuh's
	// <group name="amazon,aws,">.
	Group []string `yaml:"group"`
	// Pack names the rule pack the file's rules belong to. A pack is
	// switched off as a whole (Options.DisabledPacks), and each of its
	// top-level rules is evaluated in a pass of its own after the stock
	// tree, so that a pack only ever adds alerts (README.md, "Packs").
	Pack string `yaml:"pack"`
	// ExpectFields are field names (or "path.*" subtrees) every rule of the
	// file may read although no decoder of the ruleset declares them: the
	// fields of a decoder outside it.
	ExpectFields []string    `yaml:"expect_fields"`
	Rules        []yaml.Node `yaml:"rules"`
}

// RuleSpec is one rule as written in YAML. It has no behaviour; Load
// validates and compiles it into a Rule.
type RuleSpec struct {
	ID             string   `yaml:"id"`
	Level          *int     `yaml:"level"`
	IfSID          IDList   `yaml:"if_sid"`
	IfMatchedSID   string   `yaml:"if_matched_sid"`
	Condition      string   `yaml:"condition"`
	Description    string   `yaml:"description"`
	Groups         []string `yaml:"groups"`
	Mitre          []string `yaml:"mitre"`
	Options        []string `yaml:"options"`
	Frequency      int      `yaml:"frequency"`
	Timeframe      int      `yaml:"timeframe"`
	SameField      []string `yaml:"same_field"`
	DifferentField []string `yaml:"different_field"`
	Ignore         int      `yaml:"ignore"`
	Time           string   `yaml:"time"`
	Overwrite      bool     `yaml:"overwrite"`
	// Aggregate is a windowed count, distinct count or sum over the
	// events that reach the rule (aggregate.go).
	Aggregate *AggregateSpec `yaml:"aggregate"`
	Tests     *TestsSpec     `yaml:"tests"`
	// ExpectFields are field names (or "path.*" subtrees) the rule reads
	// although no decoder of the ruleset declares them (FileSpec has the
	// same key for every rule of a file).
	ExpectFields []string `yaml:"expect_fields"`

	// Node is the rule's mapping, for positions.
	Node *yaml.Node `yaml:"-"`
}

// TestsSpec holds a rule's inline tests.
type TestsSpec struct {
	Match   []TestCaseSpec `yaml:"match"`
	NoMatch []TestCaseSpec `yaml:"no_match"`
}

// TestCaseSpec is one inline test: an input given either as a decoded Wazuh
// event body (Event) or as a raw record line (Log), or a sequence of them
// (Events, Logs: evaluated in order, the last one checked), and for match
// cases the expected final rule.
type TestCaseSpec struct {
	Name   string      `yaml:"name"`
	Event  yaml.Node   `yaml:"event"`
	Log    string      `yaml:"log"`
	Events []yaml.Node `yaml:"events"`
	Logs   []string    `yaml:"logs"`
	// Type is the log type of Log for the decoders (vpcflow, cloudtrail);
	// empty lets them sniff.
	Type string `yaml:"type"`
	// ID and Level are the expected final rule; they default to the rule
	// the test sits under. In a no_match case, ID is the rule that must
	// not be a result (default: this rule). Description, when set, must
	// equal the expanded description.
	ID          string `yaml:"id"`
	Level       *int   `yaml:"level"`
	Description string `yaml:"description"`
	// Repeat evaluates the input this many times, one second apart, and
	// checks the last result (for frequency rules). Default 1.
	Repeat int `yaml:"repeat"`

	// Node is the test's mapping, for positions.
	Node *yaml.Node `yaml:"-"`
}

// IDList is one rule id or a list of them (if_sid: 80200 or [80200, 80201]).
type IDList []string

// DecodeNode accepts a scalar (also "a, b" or "a b" as Wazuh does) or a
// sequence of scalars.
func (l *IDList) DecodeNode(d *specfile.Decoder, n *yaml.Node, key string) {
	switch {
	case specfile.IsNull(n):
	case n.Kind == yaml.ScalarNode:
		*l = strings.FieldsFunc(n.Value, func(r rune) bool { return r == ',' || r == ' ' })
	case n.Kind == yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for i, c := range n.Content {
			if c = specfile.Resolve(c); c.Kind != yaml.ScalarNode {
				d.Errorf(c, key+"["+strconv.Itoa(i)+"]", "expected a rule id")
				continue
			}
			out = append(out, c.Value)
		}
		*l = out
	default:
		d.Errorf(n, key, "expected a rule id or a list of rule ids")
	}
}

// inFile places err in file: an *specfile.Error without a file gets it,
// any other error is wrapped in one.
func inFile(file string, err error) error {
	if e, ok := err.(*specfile.Error); ok {
		if e.File == "" {
			e.File = file
		}
		return e
	}
	return &specfile.Error{Pos: specfile.Pos{File: file}, Err: err}
}

// ruleSubject is the Subject of the errors of rule id.
func ruleSubject(id string) string {
	if id == "" {
		return ""
	}
	return "rule " + id
}

// parseFile decodes one rule file strictly. It returns the specs it could
// decode (a rule with a problem is left out), the file-level keys (Rules
// emptied) and every problem found.
func parseFile(file string, data []byte) ([]*RuleSpec, *FileSpec, []error) {
	root, err := specfile.Parse(file, data)
	if err != nil {
		return nil, nil, []error{err}
	}
	if root == nil {
		return nil, nil, nil
	}
	d := specfile.NewDecoder(file, data)
	var fs FileSpec
	d.Decode(root, "", &fs)
	if fs.Pack != "" && !validPackName(fs.Pack) {
		d.Errorf(specfile.Value(root, "pack"), "pack", "pack name %q must be lower-case letters, digits and '-'", fs.Pack)
	}
	var specs []*RuleSpec
	for i := range fs.Rules {
		n := &fs.Rules[i]
		d.Subject = ""
		if id := specfile.Value(n, "id"); id != nil && id.Kind == yaml.ScalarNode {
			d.Subject = ruleSubject(id.Value)
		}
		before := len(d.Errors())
		rs := &RuleSpec{}
		d.Decode(n, "", rs)
		if len(d.Errors()) == before {
			specs = append(specs, rs)
		}
	}
	fs.Rules = nil
	return specs, &fs, d.Errors()
}

// validPackName reports whether name is a pack name: lower-case letters,
// digits and '-', starting with a letter.
func validPackName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return name != "" && name != PackAll
}

// at returns an error at the value of key in the rule (or at the rule).
func (rs *RuleSpec) at(key string, err error) error {
	n := specfile.Value(rs.Node, key)
	if n == nil {
		n = specfile.KeyNode(rs.Node, key)
	}
	if n == nil {
		n = rs.Node
	}
	e := &specfile.Error{Subject: ruleSubject(rs.ID), Key: key, Err: err}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// nodeJSON renders a YAML mapping as JSON text with the keys in document
// order and YAML scalar types kept (!!int/!!float numbers, !!bool, !!null,
// everything else a string), for the decoders of inline test events.
func nodeJSON(dst []byte, n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(dst, "null"...), nil
		}
		return nodeJSON(dst, n.Content[0])
	case yaml.AliasNode:
		return nodeJSON(dst, n.Alias)
	case yaml.MappingNode:
		dst = append(dst, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = ojson.AppendCJSONString(dst, n.Content[i].Value)
			dst = append(dst, ':')
			var err error
			if dst, err = nodeJSON(dst, n.Content[i+1]); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, c := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = nodeJSON(dst, c); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
				return append(dst, n.Value...), nil
			}
		case "!!bool":
			b, err := strconv.ParseBool(n.Value)
			if err == nil {
				return strconv.AppendBool(dst, b), nil
			}
		case "!!null":
			return append(dst, "null"...), nil
		}
		return ojson.AppendCJSONString(dst, n.Value), nil
	}
	return dst, fmt.Errorf("%d:%d: unsupported YAML node", n.Line, n.Column)
}
