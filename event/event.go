package event

import (
	"github.com/vpcalertd/vpcalertd/ojson"
)

// LogType says which kind of AWS log a raw record is.
type LogType string

// The log types vpcalertd knows. The zero value means "unknown": the
// decoders then look at the content.
const (
	LogTypeUnknown    LogType = ""
	LogTypeVPCFlow    LogType = "vpcflow"
	LogTypeCloudTrail LogType = "cloudtrail"
	// LogTypeWazuhJSON is an event that is already a decoded Wazuh body
	// ({"integration":"aws","aws":{...}}), as typed into logtest.
	LogTypeWazuhJSON LogType = "wazuh-json"
)

// Origin says where a raw record came from. The collector fills it; the
// decoders copy the parts Wazuh puts in the event (log_info, aws_account_id).
type Origin struct {
	Type         LogType // log type from the key layout, the content or a flag
	Bucket       string  // log_info.s3bucket ("local" for local files)
	Key          string  // log_info.log_file: the S3 key, or the path relative to a bucket mirror
	Path         string  // the local path or s3://bucket/key used in error messages
	AccountID    string  // the account folder of the key (aws_account_id), may be empty
	AccountAlias string  // log_info.aws_account_alias, from the configuration
	Region       string  // the region folder of the key, may be empty
	Line         int     // 1-based line number (flow logs) or 1-based record index (CloudTrail)
	Offset       int64   // byte offset of the record in the decompressed stream
	ETag         string  // the S3 object's ETag, empty for local files
	// LogFormat is the flow log's format string from DescribeFlowLogs
	// ("${version} ${account-id} ..."), used when a file has no header line.
	LogFormat string
}

// Kind is the JSON type a field had in the event the Wazuh collector sends.
// Rules and the alert's data see every scalar as a string (Field.Text); the
// kind matters only where Wazuh keeps the original JSON (full_log,
// previous_output) and for arrays.
type Kind uint8

// Field kinds.
const (
	String      Kind = iota // Value is the unescaped string
	Number                  // Value is the JSON number literal, e.g. 12 or 1.5
	Bool                    // Value is true or false
	Null                    // Value is null
	Array                   // Value is the array as compact JSON
	EmptyObject             // Value is {}; it is not a field for rules or data, only for full_log
)

// NoSym is the Sym of a field that no rule or template refers to.
const NoSym int32 = -1

// Field is one decoded field. Key is the dotted path Wazuh uses
// ("aws.log_info.s3bucket"); Value is only valid until the decoder produces
// the next event, so keep a copy (Event.Clone) to hold on to it.
type Field struct {
	Key   string
	Value []byte
	Kind  Kind
	Sym   int32 // the ruleset's symbol id for Key, or NoSym
	// Safe says that Value is printable ASCII without '"' or '\\', so it
	// goes into JSON text as is. A decoder sets it when it knows; false is
	// always correct.
	Safe bool
}

// Event is one decoded record: its fields in document order, as the Wazuh
// collector would have sent them, plus where it came from.
type Event struct {
	Fields []Field
	Origin Origin
	// Time is the record's own time in Unix seconds (a flow's end, a CloudTrail
	// eventTime), or 0 when unknown. Event-time correlation windows use it.
	Time int64
	// Layout, when not 0, is a promise of the decoder: every event with the
	// same Layout has the same keys in the same order (the records of one
	// flow-log file do). Renderers use it to reuse what they learned.
	Layout uint64
}

// Reset empties the event, keeping its storage for reuse.
func (e *Event) Reset() {
	e.Fields = e.Fields[:0]
	e.Origin = Origin{}
	e.Time = 0
	e.Layout = 0
}

// Add appends a field.
func (e *Event) Add(key string, value []byte, kind Kind, sym int32) {
	e.Fields = append(e.Fields, Field{Key: key, Value: value, Kind: kind, Sym: sym})
}

// IsSafe reports whether b is printable ASCII without '"' or '\\' (see
// Field.Safe).
func IsSafe(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Get returns the first field whose key equals name when ASCII letters are
// compared ignoring case, as Wazuh's FindField (src/analysisd/decoders/
// decoder.c, v4.14.7) does with strcasecmp in the C locale, over the
// decoded fields before they are nested into the alert's data
// (docs/wazuh-compat.md). Empty objects are not fields.
func (e *Event) Get(name string) (*Field, bool) {
	for i := range e.Fields {
		f := &e.Fields[i]
		if f.Kind != EmptyObject && asciiEqualFold(f.Key, name) {
			return f, true
		}
	}
	return nil, false
}

// GetSym returns the first field with the given symbol id.
func (e *Event) GetSym(sym int32) (*Field, bool) {
	if sym < 0 {
		return nil, false
	}
	for i := range e.Fields {
		if e.Fields[i].Sym == sym && e.Fields[i].Kind != EmptyObject {
			return &e.Fields[i], true
		}
	}
	return nil, false
}

// Clone returns a deep copy whose values do not alias the decoder's buffers.
func (e *Event) Clone() *Event {
	n := 0
	for _, f := range e.Fields {
		n += len(f.Value)
	}
	buf := make([]byte, 0, n)
	c := &Event{Fields: make([]Field, len(e.Fields)), Origin: e.Origin, Time: e.Time, Layout: e.Layout}
	for i, f := range e.Fields {
		start := len(buf)
		buf = append(buf, f.Value...)
		f.Value = buf[start:len(buf):len(buf)]
		c.Fields[i] = f
	}
	return c
}

// Symbols maps field names to small integer ids so that rules can find a
// field by comparing integers. Names are case-insensitive for ASCII letters
// only, as in Wazuh (see Event.Get). A
// Symbols is built while a ruleset loads and is read-only afterwards; the
// nil *Symbols resolves every name to NoSym. Intern is for load time only:
// it must not run concurrently with lookups.
type Symbols struct {
	ids   map[string]int32
	names []string
}

// NewSymbols returns an empty table.
func NewSymbols() *Symbols { return &Symbols{ids: map[string]int32{}} }

// Intern returns the id of name, adding it if needed.
func (s *Symbols) Intern(name string) int32 {
	low := asciiLower(name)
	if id, ok := s.ids[low]; ok {
		return id
	}
	id := int32(len(s.names))
	s.ids[low] = id
	s.names = append(s.names, low)
	return id
}

// Lookup returns the id of name, or NoSym. It does not allocate for names
// that are already lower case.
func (s *Symbols) Lookup(name string) int32 {
	if s == nil {
		return NoSym
	}
	if id, ok := s.ids[name]; ok {
		return id
	}
	if !hasUpper(name) {
		return NoSym
	}
	if id, ok := s.ids[asciiLower(name)]; ok {
		return id
	}
	return NoSym
}

// LookupBytes is Lookup for a byte slice, without allocating.
func (s *Symbols) LookupBytes(name []byte) int32 {
	if s == nil {
		return NoSym
	}
	if id, ok := s.ids[string(name)]; ok {
		return id
	}
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			return s.Lookup(string(name))
		}
	}
	return NoSym
}

// Name returns the lower-case name of id.
func (s *Symbols) Name(id int32) string {
	if s == nil || id < 0 || int(id) >= len(s.names) {
		return ""
	}
	return s.names[id]
}

// Len returns the number of interned names.
func (s *Symbols) Len() int {
	if s == nil {
		return 0
	}
	return len(s.names)
}

// asciiLower lowers the ASCII letters of s, leaving every other byte.
func asciiLower(s string) string {
	if !hasUpper(s) {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Text returns the value as Wazuh's JSON decoder stores it: strings as they
// are, true/false/null as words, arrays as JSON text, and numbers as C's
// "%i" when they equal their int value, else "%f" (docs/wazuh-compat.md, "Decoded values").
func (f *Field) Text() string {
	if f.Kind == Number {
		return string(ojson.AppendNumberText(nil, f.Value))
	}
	return string(f.Value)
}

// AppendText appends Text to dst; it allocates only for numbers.
func (f *Field) AppendText(dst []byte) []byte {
	if f.Kind == Number {
		return ojson.AppendNumberText(dst, f.Value)
	}
	return append(dst, f.Value...)
}
