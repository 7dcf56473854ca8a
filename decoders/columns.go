package decoders

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// The columns step: a flow-log line split on runs of spaces and tabs, each
// column a field named after the file's header line, the flow log's
// LogFormat, or a declared default format, in that order of preference
// (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html). The layout is compiled once per file into
// a column plan; a data line then costs no name lookup and no allocation.

// fieldType is the type a column's values must have.
type fieldType uint8

const (
	typeString  fieldType = iota + 1 // anything
	typeInteger                      // digits, or "-"
	typeIP                           // an IPv4 or IPv6 address (character check), or "-"
)

var fieldTypes = map[string]fieldType{"string": typeString, "integer": typeInteger, "ip": typeIP}

var fieldTypeNames = map[fieldType]string{typeString: "a string", typeInteger: "an integer", typeIP: "an IP address"}

// columnNameRE is a field name in a field table or a format: AWS's
// lower-case, hyphenated names.
var columnNameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

type columnsStep struct {
	into         string
	probe        string // a member path of into, to find where columns go
	header       bool
	originFormat bool
	underscores  bool
	types        map[string]fieldType // by hyphenated name
	defaultCols  []column             // keys and types of default_format; syms per stream
	null         []byte               // the text of a table's null values
	nullSafe     bool
}

// column is one column of a plan.
type column struct {
	name string // as in the header or format
	key  string
	sym  int32
	typ  fieldType
	// ints is set for a table's integer column: its values are decimal
	// numbers, so only a sign can make one a bad integer field.
	ints bool
}

// columnPlan is a compiled column layout.
type columnPlan struct {
	id   int // the event layout after this step (runState.layout)
	cols []column
}

// columnsState is the per-stream state of the columns step.
type columnsState struct {
	header   []string    // the names of the last header line, nil before one
	plan     *columnPlan // the layout in force: from the last header line, else initial
	initial  *columnPlan
	initDone bool
	warned   map[string]bool // unknown column names already reported
}

var errInvalidUTF8 = errors.New("invalid UTF-8")

var errNoLayout = errors.New("no column layout: no header line, no log format and no default format")

func validateColumns(c *checker, s *ColumnsSpec) {
	c.optionalPrefix("into", s.Into)
	if !s.Header && !s.OriginFormat && s.DefaultFormat == "" {
		c.errorf("", "no column layout: set header, origin_format or default_format")
	}
	known := map[string]bool{}
	for i, f := range s.Fields {
		fc := &checker{d: c.d, path: specfile.JoinKey(c.path, "fields"), node: f.Node}
		if !columnNameRE.MatchString(f.Name) {
			fc.errorf("", "invalid field name %q (lower-case letters, digits and single hyphens)", f.Name)
		}
		if _, ok := fieldTypes[f.Type]; !ok {
			c.d.Errorf(valueNode(valueNode(c.node, "fields"), f.Name), specfile.JoinKey(c.path, "fields."+f.Name),
				"unknown type %q (expected one of [%s])", f.Type, strings.Join(specfile.SortedKeys(fieldTypes), " "))
		}
		known[s.Fields[i].Name] = true
	}
	if s.DefaultFormat != "" {
		names, err := parseFormat(s.DefaultFormat)
		if err != nil {
			c.errorf("default_format", "%v", err)
		}
		for _, n := range names {
			if !known[n] {
				c.errorf("default_format", "field %q is not in the field table", n)
			}
		}
	}
}

func compileColumns(_ *checker, s *ColumnsSpec) step {
	st := &columnsStep{into: s.Into, probe: s.Into + ".\x00", header: s.Header, originFormat: s.OriginFormat,
		underscores: s.Underscores, types: map[string]fieldType{}, null: []byte(s.NullValue), nullSafe: event.IsSafe([]byte(s.NullValue))}
	if s.Into == "" {
		st.probe = "\x00"
	}
	for _, f := range s.Fields {
		st.types[f.Name] = fieldTypes[f.Type]
	}
	if s.DefaultFormat != "" {
		names, _ := parseFormat(s.DefaultFormat)
		st.defaultCols, _ = st.columns(names)
	}
	return st
}

// parseFormat reads a LogFormat string: "${version} ${account-id} ...".
func parseFormat(f string) ([]string, error) {
	toks := strings.Fields(f)
	if len(toks) == 0 {
		return nil, errors.New("empty format")
	}
	names := make([]string, len(toks))
	seen := map[string]bool{}
	for i, t := range toks {
		name, ok := strings.CutPrefix(t, "${")
		if ok {
			name, ok = strings.CutSuffix(name, "}")
		}
		if !ok || !columnNameRE.MatchString(name) {
			return nil, fmt.Errorf("bad format token %q (expected ${field-name})", t)
		}
		if seen[name] {
			return nil, fmt.Errorf("field %q appears twice", name)
		}
		seen[name] = true
		names[i] = name
	}
	return names, nil
}

// columns builds the columns for names (as written in a header or
// format), without symbols; unknown lists the names missing from the field
// table, which become string columns.
func (s *columnsStep) columns(names []string) (cols []column, unknown []string) {
	cols = make([]column, len(names))
	for i, name := range names {
		canon := strings.ReplaceAll(name, "_", "-")
		typ, ok := s.types[canon]
		if !ok {
			typ = typeString
			unknown = append(unknown, name)
		}
		key := name
		if s.underscores {
			key = strings.ReplaceAll(canon, "-", "_")
		}
		if s.into != "" {
			key = s.into + "." + key
		}
		cols[i] = column{name: name, key: key, sym: event.NoSym, typ: typ}
	}
	return cols, unknown
}

func (s *columnsStep) prepare(*runState, *stepState) {}

// plan makes a plan for the stream, resolving symbols and reporting unknown
// columns once per stream.
func (s *columnsStep) plan(r *runState, cols []column, unknown []string, line int) *columnPlan {
	p := &columnPlan{id: r.newLayout(), cols: make([]column, len(cols))}
	for i, c := range cols {
		c.sym = r.syms.Lookup(c.key)
		p.cols[i] = c
	}
	var fresh []string
	for _, u := range unknown {
		if !r.cols.warned[u] {
			if r.cols.warned == nil {
				r.cols.warned = map[string]bool{}
			}
			r.cols.warned[u] = true
			fresh = append(fresh, strconv.Quote(u))
		}
	}
	if len(fresh) > 0 && r.warn != nil {
		where := fmt.Sprintf("%s:%d", r.path, line)
		if line == 0 {
			where = r.path
		}
		r.warn(fmt.Errorf("%s: unknown columns %s kept as strings", where, strings.Join(fresh, ", ")))
	}
	return p
}

// initialPlan is the layout before any header line: the origin's LogFormat
// when allowed and valid, else the default format.
func (s *columnsStep) initialPlan(r *runState) *columnPlan {
	st := &r.cols
	if st.initDone {
		return st.initial
	}
	st.initDone = true
	if s.originFormat && r.origin.LogFormat != "" {
		names, err := parseFormat(r.origin.LogFormat)
		if err == nil {
			cols, unknown := s.columns(names)
			st.initial = s.plan(r, cols, unknown, r.lineNo)
			return st.initial
		}
		if r.warn != nil {
			r.warn(fmt.Errorf("%s:%d: log format: %v; using the default format", r.path, r.lineNo, err))
		}
	}
	if s.defaultCols != nil {
		st.initial = s.plan(r, s.defaultCols, nil, r.lineNo)
	}
	return st.initial
}

// headerNames returns the tokens of line if it is a header line: every
// token a field name (lower case, '-' or '_'), at least one of them known.
func (s *columnsStep) headerNames(line []byte) []string {
	toks := strings.Fields(string(line))
	known := false
	for _, t := range toks {
		for i := 0; i < len(t); i++ {
			c := t[i]
			if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_')) {
				return nil
			}
		}
		if _, ok := s.types[strings.ReplaceAll(t, "_", "-")]; ok {
			known = true
		}
	}
	if !known {
		return nil
	}
	return toks
}

// useHeader lays out the columns of a header line; report says whether
// its unknown columns are warned about (not for OpenOptions.Header, whose
// problems the caller met when it read that line).
func (s *columnsStep) useHeader(r *runState, names []string, report bool) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		canon := strings.ReplaceAll(n, "_", "-")
		if seen[canon] {
			return fmt.Errorf("header: column %q appears twice", n)
		}
		seen[canon] = true
	}
	cols, unknown := s.columns(names)
	if !report {
		unknown = nil
	}
	r.cols.plan = s.plan(r, cols, unknown, r.lineNo)
	r.cols.header = names
	return errSkip
}

// headerLine sets the layout from a header line given outside the stream
// (OpenOptions.Header); it fails when line is not a header line.
func (s *columnsStep) headerLine(r *runState, line []byte) error {
	if !s.header {
		return errors.New("this decoder reads no header lines")
	}
	names := s.headerNames(line)
	if names == nil {
		return fmt.Errorf("%q is not a header line (field names, at least one of them known)", line)
	}
	if err := s.useHeader(r, names, false); err != errSkip {
		return err
	}
	return nil
}

func (s *columnsStep) apply(r *runState, ev *event.Event, c *stepState) error {
	r.consumed = true
	if r.tcols != nil {
		return s.applyRow(r, ev, c)
	}
	line := r.line
	if s.header {
		i := 0
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i < len(line) && line[i] >= 'a' && line[i] <= 'z' {
			if names := s.headerNames(line); names != nil {
				return s.useHeader(r, names, true)
			}
		}
	}
	plan := r.cols.plan
	if plan == nil {
		if plan = s.initialPlan(r); plan == nil {
			return errNoLayout
		}
	}
	c.find(r, ev.Fields, s.probe)
	ins, replace := c.ins, c.insReplace
	cols := plan.cols
	base := len(ev.Fields)
	var ascii, safe bool
	r.spans, ascii, safe = splitColumns(r.spans, line)
	switch {
	case !ascii && !utf8.Valid(line):
		return errInvalidUTF8
	case len(r.spans) != len(cols):
		return fmt.Errorf("expected %d fields, got %d", len(cols), len(r.spans))
	}
	fs := growFields(ev.Fields, len(cols))
	if bad := fillColumns(line, r.spans, cols, fs[base:], safe); bad >= 0 {
		ev.Fields = fs[:base]
		return badValue(&cols[bad], fs[base+bad].Value)
	}
	ev.Fields = fs
	if ins < base || replace {
		ev.Fields = moveBlock(ev.Fields, base, ins, replace)
	}
	if r.layout != 0 {
		r.layout = plan.id
	}
	return nil
}

func badValue(col *column, tok []byte) error {
	return fmt.Errorf("field %s: %s is not %s", col.name, quoteTrunc(tok), fieldTypeNames[col.typ])
}

// growFields returns fs extended by n fields (with unspecified content).
func growFields(fs []event.Field, n int) []event.Field {
	if len(fs)+n <= cap(fs) {
		return fs[:len(fs)+n]
	}
	return append(fs, make([]event.Field, n)...)
}

// moveBlock moves fields[base:] to position at; when replace is set the
// field at at (an empty-object placeholder) is dropped.
func moveBlock(fields []event.Field, base, at int, replace bool) []event.Field {
	block := append([]event.Field(nil), fields[base:]...)
	fields = fields[:base]
	if replace {
		fields = append(fields[:at], fields[at+1:]...)
	}
	return insertFields(fields, at, block...)
}

// isInteger reports whether b is digits, or "-".
func isInteger(b []byte) bool {
	for _, c := range b {
		if c-'0' > 9 {
			return len(b) == 1 && c == '-'
		}
	}
	return true
}

// ipClass marks the bytes of IP addresses: 1 for hex digits, 2 for the
// separators.
var ipClass = func() (t [256]uint8) {
	for _, c := range []byte("0123456789abcdefABCDEF") {
		t[c] = 1
	}
	t['.'], t[':'] = 2, 2
	return t
}()

// isIP reports whether b looks like an IPv4 or IPv6 address (only its
// characters are checked), or is "-".
func isIP(b []byte) bool {
	var seen uint8
	for _, c := range b {
		k := ipClass[c]
		if k == 0 {
			return len(b) == 1 && c == '-'
		}
		seen |= k
	}
	return seen&2 != 0 && len(b) <= 45
}

// quoteTrunc quotes a value for a message, cut to 64 bytes.
func quoteTrunc(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "..."
	}
	return strconv.Quote(string(b))
}
