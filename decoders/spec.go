package decoders

import "gopkg.in/yaml.v3"

// This file holds the YAML shape of a decoder file: plain data with yaml
// tags and the node each part was read from, and no behaviour. compile.go
// turns a DecoderSpec into a Decoder.

// DecoderSpec is one decoder file as written.
type DecoderSpec struct {
	// Name identifies the decoder (Stream.Decoder); unique in a Set.
	Name string `yaml:"name"`
	// Description is free text for humans.
	Description string `yaml:"description"`
	// Inputs say which streams the decoder takes and how their records are
	// framed; the first input whose condition holds is used.
	Inputs []InputSpec `yaml:"inputs"`
	// Steps build one event from one record, in order.
	Steps []StepSpec `yaml:"steps"`
	// Produces declares the fields the record step (parse_json) reads out
	// of a record: full dotted names ("aws.eventName"), "path.*" for a
	// subtree whose members are free-form ("aws.requestParameters.*"), or
	// "*" for anything. The other steps' fields (set, copy, wrap, rename,
	// columns) are known from the steps themselves. Rules are checked
	// against the union over all decoders (Set.Schema). Absent on a
	// parse_json decoder: everything below its into path is accepted.
	Produces []string `yaml:"produces"`

	Node *yaml.Node `yaml:"-"`
}

// InputSpec is one kind of stream a decoder takes.
type InputSpec struct {
	// When is an expr condition over the origin and the content sniff
	// (README.md, "inputs"); evaluated once per stream.
	When string `yaml:"when"`
	// Framing is how records are cut: lines, json_lines or json_array.
	Framing string `yaml:"framing"`
	// Array names the member of the top-level JSON object that holds the
	// records (json_array only), e.g. Records.
	Array string `yaml:"array"`
	// BareArray also accepts a top-level JSON array of records (json_array
	// only).
	BareArray bool `yaml:"bare_array"`
	// StripPrefix is removed from the start of each line when present
	// (lines and json_lines), e.g. the wodle datagram header "1:Wazuh-AWS:".
	StripPrefix string `yaml:"strip_prefix"`

	Node *yaml.Node `yaml:"-"`
}

// StepSpec is one step: a mapping with exactly one key, the step kind, whose
// value holds the kind's options (one of the *Spec types below).
type StepSpec struct {
	Kind string
	Args any

	Node *yaml.Node
}

// SetSpec sets a field to a constant or to a value of the origin.
type SetSpec struct {
	Field  string  `yaml:"field"`
	Value  *string `yaml:"value"`
	Origin string  `yaml:"origin"`

	Node *yaml.Node `yaml:"-"`
}

// RenameSpec renames a field (or a whole object) in place.
type RenameSpec struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`

	Node *yaml.Node `yaml:"-"`
}

// RemoveSpec removes a field or a whole object.
type RemoveSpec struct {
	Field string `yaml:"field"`

	Node *yaml.Node `yaml:"-"`
}

// CopySpec copies a scalar field to a new field, optionally only when its
// text matches a regular expression.
type CopySpec struct {
	From  string   `yaml:"from"`
	To    string   `yaml:"to"`
	Regex string   `yaml:"regex"`
	Kinds []string `yaml:"kinds"`

	Node *yaml.Node `yaml:"-"`
}

// WrapSpec replaces a non-object value v by the object {key: v}.
type WrapSpec struct {
	Field     string   `yaml:"field"`
	Key       string   `yaml:"key"`
	Kinds     []string `yaml:"kinds"`
	PythonStr bool     `yaml:"python_str"`

	Node *yaml.Node `yaml:"-"`
}

// EpochToUTCSpec rewrites Unix-seconds fields as YYYY-MM-DDTHH:MM:SSZ.
type EpochToUTCSpec struct {
	Fields []string `yaml:"fields"`

	Node *yaml.Node `yaml:"-"`
}

// EventTimeSpec sets the event's own time from the first usable field.
type EventTimeSpec struct {
	Fields []string `yaml:"fields"`
	Format string   `yaml:"format"`

	Node *yaml.Node `yaml:"-"`
}

// DropNullsSpec removes null values from objects.
type DropNullsSpec struct {
	Under string `yaml:"under"`

	Node *yaml.Node `yaml:"-"`
}

// UnwrapListsSpec replaces every single-element list by its element.
type UnwrapListsSpec struct {
	Under string `yaml:"under"`

	Node *yaml.Node `yaml:"-"`
}

// ColumnsSpec splits a text line into whitespace-separated columns.
type ColumnsSpec struct {
	Into          string `yaml:"into"`
	Header        bool   `yaml:"header"`
	OriginFormat  bool   `yaml:"origin_format"`
	DefaultFormat string `yaml:"default_format"`
	Underscores   bool   `yaml:"underscores"`
	// NullValue is the text of a null (or empty) value of a table
	// (parquet framing): "-", as flow-log text writes a missing value.
	NullValue string     `yaml:"null_value"`
	Fields    FieldTable `yaml:"fields"`

	Node *yaml.Node `yaml:"-"`
}

// FieldTable lists the known column names with the type their values must
// have, in file order.
type FieldTable []FieldSpec

// FieldSpec is one row of a FieldTable.
type FieldSpec struct {
	Name string
	Type string

	Node *yaml.Node
}

// ParseJSONSpec parses the record as a JSON object and adds its members.
type ParseJSONSpec struct {
	Into string `yaml:"into"`

	Node *yaml.Node `yaml:"-"`
}
