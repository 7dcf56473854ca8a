package rules

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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

	node *yaml.Node // the rule's mapping, for positions
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

	node *yaml.Node
}

// IDList is one rule id or a list of them (if_sid: 80200 or [80200, 80201]).
type IDList []string

// UnmarshalYAML accepts a scalar (also "a, b" or "a b" as Wazuh does) or a
// sequence of scalars.
func (l *IDList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = strings.FieldsFunc(n.Value, func(r rune) bool { return r == ',' || r == ' ' })
		return nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return &posError{line: c.Line, col: c.Column, err: errors.New("expected a rule id")}
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return &posError{line: n.Line, col: n.Column, err: errors.New("expected a rule id or a list of rule ids")}
}

// posError is an error at a line and column of the current file.
type posError struct {
	line, col int
	rule      string // rule id, if known
	field     string // YAML key, if known
	err       error
}

func (e *posError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%d: ", e.line, e.col)
	if e.rule != "" {
		fmt.Fprintf(&b, "rule %s: ", e.rule)
	}
	if e.field != "" {
		fmt.Fprintf(&b, "%s: ", e.field)
	}
	b.WriteString(e.err.Error())
	return b.String()
}

func (e *posError) Unwrap() error { return e.err }

// fileError prefixes a file name: "ruleset/rules/x.yml:12:3: rule 1: …".
type fileError struct {
	file string
	err  error
}

func (e *fileError) Error() string {
	var pe *posError
	if errors.As(e.err, &pe) && pe == e.err {
		return e.file + ":" + pe.Error()
	}
	return e.file + ": " + e.err.Error()
}

func (e *fileError) Unwrap() error { return e.err }

// parseFile decodes one rule file strictly. It returns the specs it could
// decode, the file-level keys (Rules emptied) and every problem found.
func parseFile(data []byte) ([]*RuleSpec, *FileSpec, []error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, nil, nil
		}
		return nil, nil, []error{yamlError(err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	root := doc.Content[0]
	var errs []error
	if err := checkKnown(root, reflect.TypeOf(FileSpec{}), ""); err != nil {
		errs = append(errs, err...)
	}
	var fs FileSpec
	if err := root.Decode(&fs); err != nil {
		return nil, nil, append(errs, yamlError(err))
	}
	if fs.Pack != "" && !validPackName(fs.Pack) {
		n := valueNode(root, "pack")
		errs = append(errs, &posError{line: n.Line, col: n.Column, field: "pack",
			err: fmt.Errorf("pack name %q must be lower-case letters, digits and '-'", fs.Pack)})
	}
	var specs []*RuleSpec
	for i := range fs.Rules {
		n := &fs.Rules[i]
		id := scalarOf(n, "id")
		if kerrs := checkKnown(n, reflect.TypeOf(RuleSpec{}), id); kerrs != nil {
			errs = append(errs, kerrs...)
			continue
		}
		rs := &RuleSpec{}
		if err := n.Decode(rs); err != nil {
			errs = append(errs, withRule(yamlError(err), id))
			continue
		}
		rs.node = n
		if rs.Tests != nil {
			tn := valueNode(n, "tests")
			for k, list := range [][]TestCaseSpec{rs.Tests.Match, rs.Tests.NoMatch} {
				ln := valueNode(tn, []string{"match", "no_match"}[k])
				for j := range list {
					if ln != nil && j < len(ln.Content) {
						list[j].node = ln.Content[j]
					}
				}
			}
		}
		specs = append(specs, rs)
	}
	fs.Rules = nil
	return specs, &fs, errs
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

func withRule(err error, id string) error {
	var pe *posError
	if errors.As(err, &pe) && pe.rule == "" {
		pe.rule = id
	}
	return err
}

// yamlError turns a yaml.v3 error ("yaml: line 3: …") into a posError.
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		line := 0
		msg := te.Errors[0]
		if strings.HasPrefix(msg, "line ") {
			rest := msg[5:]
			if i := strings.IndexByte(rest, ':'); i > 0 {
				line, _ = strconv.Atoi(rest[:i])
				msg = strings.TrimSpace(rest[i+1:])
			}
		}
		return &posError{line: line, col: 1, err: errors.New(msg)}
	}
	var pe *posError
	if errors.As(err, &pe) {
		return pe
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[5:]
		if i := strings.IndexByte(rest, ':'); i > 0 {
			line, _ = strconv.Atoi(rest[:i])
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	return &posError{line: line, col: 1, err: errors.New(msg)}
}

// checkKnown reports mapping keys that t has no yaml field for, and
// duplicate keys, recursing into struct, pointer and slice fields. yaml.v3
// only checks known fields on a Decoder, not on Node.Decode.
func checkKnown(n *yaml.Node, t reflect.Type, rule string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || t == reflect.TypeOf(yaml.Node{}) {
		return nil
	}
	var errs []error
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return []error{&posError{line: n.Line, col: n.Column, rule: rule, err: errors.New("expected a mapping")}}
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				errs = append(errs, &posError{line: k.Line, col: k.Column, rule: rule,
					err: fmt.Errorf("unknown field %q, expected one of %v", k.Value, names)})
				continue
			}
			if seen[k.Value] {
				errs = append(errs, &posError{line: k.Line, col: k.Column, rule: rule,
					err: fmt.Errorf("field %q given twice", k.Value)})
			}
			seen[k.Value] = true
			if ft == reflect.TypeOf(IDList{}) {
				continue
			}
			errs = append(errs, checkKnown(v, ft, rule)...)
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode && t.Elem().Kind() == reflect.Struct {
			for _, c := range n.Content {
				errs = append(errs, checkKnown(c, t.Elem(), rule)...)
			}
		}
	}
	return errs
}

// valueNode returns the value of key in mapping n, or nil.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// keyNode returns the key node of key in mapping n, or nil.
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i]
		}
	}
	return nil
}

func scalarOf(n *yaml.Node, key string) string {
	if v := valueNode(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// at returns a posError at the value of key in the rule (or at the rule).
func (rs *RuleSpec) at(key string, err error) error {
	n := valueNode(rs.node, key)
	if n == nil {
		n = keyNode(rs.node, key)
	}
	if n == nil {
		n = rs.node
	}
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	return &posError{line: line, col: col, rule: rs.ID, field: key, err: err}
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
			dst = appendJSONString(dst, n.Content[i].Value)
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
		return appendJSONString(dst, n.Value), nil
	}
	return dst, fmt.Errorf("%d:%d: unsupported YAML node", n.Line, n.Column)
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, fmt.Sprintf(`\u%04x`, c)...)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
