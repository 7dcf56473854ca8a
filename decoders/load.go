package decoders

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// Set is a loaded set of decoders. It is read-only and safe for concurrent
// use; each Open returns an independent Stream.
type Set struct {
	decoders []*Decoder
	prefixes []string      // the strip_prefix values of all inputs, longest first
	schema   *event.Schema // the union of the decoders' schemas
}

// Decoder is one compiled decoder file.
type Decoder struct {
	name   string
	file   string
	inputs []*input
	steps  []step
	// checksUTF8 is set when the record step checks the encoding itself.
	checksUTF8 bool
	// schema is what the decoder's events can hold (Set.Schema).
	schema *event.Schema
	// batch is how its streams are cut into batches (batch.go).
	batch batchPlan
}

// framing is how a stream is cut into records.
type framing uint8

const (
	framingLines     framing = iota + 1 // one record per text line
	framingJSONLines                    // one JSON value per line
	framingJSONArray                    // the elements of an array in one JSON document
	framingParquet                      // the rows of a Parquet file (table.go)
)

var framings = map[string]framing{
	"lines":      framingLines,
	"json_lines": framingJSONLines,
	"json_array": framingJSONArray,
	"parquet":    framingParquet,
}

// input is a compiled InputSpec.
type input struct {
	when        *vm.Program
	framing     framing
	array       string
	bareArray   bool
	stripPrefix []byte
}

// Load reads every *.yml file directly under dir in fsys, in name order, and
// compiles each into a decoder. It returns every problem found, each a
// *specfile.Error naming the file, the position and the decoder, joined
// with specfile.Join.
func Load(fsys fs.FS, dir string) (*Set, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.yml"))
	if err != nil {
		return nil, fmt.Errorf("list decoders in %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no decoder files (*.yml)", dir)
	}
	sort.Strings(names)
	set := &Set{}
	var errs []error
	byName := map[string]string{}
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			errs = append(errs, &specfile.Error{Pos: specfile.Pos{File: name}, Err: err})
			continue
		}
		dec, spec, ferrs := parseDecoder(name, data)
		errs = append(errs, ferrs...)
		if spec == nil || spec.Name == "" {
			continue
		}
		if prev, ok := byName[spec.Name]; ok {
			n := valueNode(spec.Node, "name")
			errs = append(errs, &specfile.Error{Pos: specfile.Pos{File: name, Line: n.Line, Column: n.Column},
				Subject: "decoder " + spec.Name, Key: "name", Err: fmt.Errorf("duplicate decoder name, first declared in %s", prev)})
			continue
		}
		byName[spec.Name] = name
		if dec != nil && len(ferrs) == 0 {
			set.decoders = append(set.decoders, dec)
		}
	}
	if err := specfile.Join(errs...); err != nil {
		return nil, err
	}
	for _, d := range set.decoders {
		for _, in := range d.inputs {
			if p := string(in.stripPrefix); p != "" && !slices.Contains(set.prefixes, p) {
				set.prefixes = append(set.prefixes, p)
			}
		}
	}
	sort.Slice(set.prefixes, func(i, j int) bool { return len(set.prefixes[i]) > len(set.prefixes[j]) })
	set.schema = event.NewSchema()
	for _, d := range set.decoders {
		set.schema.Merge(d.schema)
	}
	return set, nil
}

// Schema returns every field name the decoders' events can hold: the
// fields their steps set, the columns of their field tables, and what
// they declare under produces (open subtrees included). Rules are checked
// against it at load.
func (s *Set) Schema() *event.Schema { return s.schema }

// DecoderSchema returns the schema of one decoder's events, or nil for an
// unknown name.
func (s *Set) DecoderSchema(name string) *event.Schema {
	for _, d := range s.decoders {
		if d.name == name {
			return d.schema
		}
	}
	return nil
}

// Names returns the decoder names in the order Open tries them.
func (s *Set) Names() []string {
	names := make([]string, len(s.decoders))
	for i, d := range s.decoders {
		names[i] = d.name
	}
	return names
}

// parseDecoder decodes, validates and compiles one file.
func parseDecoder(file string, data []byte) (*Decoder, *DecoderSpec, []error) {
	root, err := specfile.Parse(file, data)
	if err != nil {
		return nil, nil, []error{err}
	}
	if root == nil {
		return nil, nil, []error{&specfile.Error{Pos: specfile.Pos{File: file}, Err: errors.New("empty file")}}
	}
	d := specfile.NewDecoder(file, data)
	spec := &DecoderSpec{}
	// Learn the name first so that every message can carry it.
	if n := specfile.Value(root, "name"); n != nil && n.Kind == yaml.ScalarNode {
		d.Subject = "decoder " + n.Value
	}
	d.Decode(root, "", spec)
	if root.Kind != yaml.MappingNode {
		return nil, spec, d.Errors()
	}
	// Validate what could be decoded, so that one run shows every problem.
	dec := compileDecoder(d, file, spec)
	if len(d.Errors()) > 0 {
		return nil, spec, d.Errors()
	}
	return dec, spec, nil
}

// checker reports problems of one part of a spec with its position.
type checker struct {
	d    *specfile.Decoder
	path string
	node *yaml.Node
}

// errorf reports a problem at the value of key (or at the part itself when
// key is empty or absent).
func (c *checker) errorf(key, format string, args ...any) {
	n := c.node
	p := c.path
	if key != "" {
		n = valueNode(c.node, key)
		p = specfile.JoinKey(p, key)
	}
	c.d.Errorf(n, p, format, args...)
}

// fieldName checks a dotted event field name.
func (c *checker) fieldName(key, name string) {
	if name == "" {
		c.errorf(key, "missing field name")
		return
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" {
			c.errorf(key, "invalid field name %q: empty segment", name)
			return
		}
	}
}

// optionalPrefix checks an object path that may be empty (the event root).
func (c *checker) optionalPrefix(key, name string) {
	if name != "" {
		c.fieldName(key, name)
	}
}

func compileDecoder(d *specfile.Decoder, file string, spec *DecoderSpec) *Decoder {
	top := &checker{d: d, node: spec.Node}
	if spec.Name == "" {
		top.errorf("", "missing name")
	} else if !decoderNameRE.MatchString(spec.Name) {
		top.errorf("name", "invalid name %q (letters, digits, '-' and '_')", spec.Name)
	}
	dec := &Decoder{name: spec.Name, file: file}
	if len(spec.Inputs) == 0 {
		top.errorf("inputs", "at least one input is required")
	}
	frames := map[framing]bool{}
	for i := range spec.Inputs {
		in := &spec.Inputs[i]
		c := &checker{d: d, path: fmt.Sprintf("inputs[%d]", i), node: in.Node}
		if ci := compileInput(c, in); ci != nil {
			dec.inputs = append(dec.inputs, ci)
			frames[ci.framing] = true
		}
	}
	if len(spec.Steps) == 0 {
		top.errorf("steps", "at least one step is required")
	}
	records := 0
	for i := range spec.Steps {
		st := &spec.Steps[i]
		kind, ok := stepKinds[st.Kind]
		if !ok || st.Args == nil {
			continue // already reported while decoding
		}
		if kind.record {
			records++
		}
		c := &checker{d: d, path: fmt.Sprintf("steps[%d].%s", i, st.Kind), node: valueNode(st.Node, st.Kind)}
		if kind.record {
			dec.checksUTF8 = kind.checksUTF8
			if records > 1 {
				c.errorf("", "a decoder has exactly one record step (columns or parse_json); this is the second")
			}
			for f := range frames {
				if f != 0 && !kind.framings[f] {
					c.errorf("", "%s cannot read records framed as %s", st.Kind, framingName(f))
				}
			}
		}
		before := len(d.Errors())
		kind.validate(c, st.Args)
		// Compile even an invalid step, for the problems only compiling
		// finds (regular expressions); keep it only when all is well.
		if s := kind.compile(c, st.Args); s != nil && len(d.Errors()) == before {
			dec.steps = append(dec.steps, s)
		}
	}
	if records == 0 && len(spec.Steps) > 0 {
		top.errorf("steps", "no record step: one columns or parse_json step must read the record")
	}
	for i, n := range spec.Produces {
		c := &checker{d: d, path: fmt.Sprintf("produces[%d]", i), node: seqItem(valueNode(spec.Node, "produces"), i)}
		if n != "*" {
			c.fieldName("", strings.TrimSuffix(n, event.OpenSuffix))
		}
	}
	dec.schema = event.NewSchema()
	for i := range spec.Steps {
		st := &spec.Steps[i]
		if kind, ok := stepKinds[st.Kind]; ok && st.Args != nil {
			kind.fields(dec.schema, st.Args, spec)
		}
	}
	dec.batch = planBatches(dec)
	return dec
}

// seqItem returns the i-th item of a sequence node, or n itself.
func seqItem(n *yaml.Node, i int) *yaml.Node {
	if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i]
	}
	return n
}

var decoderNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

func framingName(f framing) string {
	for name, v := range framings {
		if v == f {
			return name
		}
	}
	return "?"
}

// matchEnv is what an input's when condition sees (README.md, "inputs").
type matchEnv struct {
	Type         string `expr:"type"`
	Bucket       string `expr:"bucket"`
	Key          string `expr:"key"`
	Path         string `expr:"path"`
	AccountID    string `expr:"account_id"`
	AccountAlias string `expr:"account_alias"`
	Region       string `expr:"region"`
	LogFormat    string `expr:"log_format"`
	// Format is "parquet" for a stream that starts with Parquet's magic
	// (after decompression), else "".
	Format  string  `expr:"format"`
	Content content `expr:"content"`
}

func compileInput(c *checker, in *InputSpec) *input {
	ci := &input{array: in.Array, bareArray: in.BareArray, stripPrefix: []byte(in.StripPrefix)}
	f, ok := framings[in.Framing]
	if !ok {
		if in.Framing == "" {
			c.errorf("", "missing framing (one of [%s])", strings.Join(specfile.SortedKeys(framings), " "))
		} else {
			c.errorf("framing", "unknown framing %q (expected one of [%s])", in.Framing, strings.Join(specfile.SortedKeys(framings), " "))
		}
	}
	ci.framing = f
	switch {
	case f == framingJSONArray && in.Array == "" && !in.BareArray:
		c.errorf("", "json_array needs array (the member holding the records) or bare_array: true")
	case f != framingJSONArray && (in.Array != "" || in.BareArray):
		c.errorf("framing", "array and bare_array apply to json_array framing only")
	case (f == framingJSONArray || f == framingParquet) && in.StripPrefix != "":
		c.errorf("strip_prefix", "strip_prefix applies to line framings only")
	}
	if in.When == "" {
		c.errorf("", "missing when")
		return nil
	}
	prog, err := expr.Compile(in.When, expr.Env(matchEnv{}), expr.AsBool())
	if err != nil {
		exprError(c, valueNode(in.Node, "when"), "when", err)
		return nil
	}
	ci.when = prog
	return ci
}

// exprError reports an expr compile error at its position in the YAML
// file: the expression's own line and column are added to the node's, and
// expr's caret snippet is kept.
func exprError(c *checker, n *yaml.Node, key string, err error) {
	var fe *file.Error
	if !errors.As(err, &fe) || n == nil {
		c.errorf(key, "%v", err)
		return
	}
	c.d.AddAt(n, fe.Line, fe.Column, specfile.JoinKey(c.path, key), errors.New(fe.Message+fe.Snippet))
}
