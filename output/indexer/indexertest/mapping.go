package indexertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Template is a legacy index template (the `_template` format Wazuh ships
// as wazuh-template.json): the mappings apply to every index whose name
// matches one of IndexPatterns when the index is created.
type Template struct {
	IndexPatterns []string `json:"index_patterns"`
	Settings      struct {
		TotalFieldsLimit json.Number `json:"index.mapping.total_fields.limit"`
	} `json:"settings"`
	Mappings struct {
		DynamicTemplates []map[string]struct {
			Mapping          map[string]any `json:"mapping"`
			MatchMappingType string         `json:"match_mapping_type"`
		} `json:"dynamic_templates"`
		DateDetection *bool                      `json:"date_detection"`
		Properties    map[string]json.RawMessage `json:"properties"`
	} `json:"mappings"`
}

// ParseTemplate reads a legacy index template.
func ParseTemplate(data []byte) (*Template, error) {
	var t Template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("index template: %w", err)
	}
	if len(t.IndexPatterns) == 0 {
		return nil, fmt.Errorf("index template: no index_patterns")
	}
	return &t, nil
}

func (t *Template) matches(index string) bool {
	for _, p := range t.IndexPatterns {
		if ok, _ := path.Match(p, index); ok {
			return true
		}
	}
	return false
}

// field is one mapped field. Objects have props.
type field struct {
	typ    string // object, nested, keyword, text, long, integer, short, byte, double, float, boolean, date, ip, geo_point
	format string // for dates
	props  map[string]*field
}

func (f *field) isObject() bool { return f.typ == "object" || f.typ == "nested" }

func parseProperties(props map[string]json.RawMessage) (map[string]*field, error) {
	out := make(map[string]*field, len(props))
	for name, raw := range props {
		var m struct {
			Type       string                     `json:"type"`
			Format     string                     `json:"format"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		f := &field{typ: m.Type, format: m.Format}
		if f.typ == "" {
			f.typ = "object"
		}
		if m.Properties != nil {
			kids, err := parseProperties(m.Properties)
			if err != nil {
				return nil, fmt.Errorf("%s.%w", name, err)
			}
			f.props = kids
		}
		if f.isObject() && f.props == nil {
			f.props = map[string]*field{}
		}
		// A dotted name in a mapping is a path of objects, as in a document.
		segs := strings.Split(name, ".")
		dst := out
		for _, seg := range segs[:len(segs)-1] {
			o, ok := dst[seg]
			if !ok {
				o = &field{typ: "object", props: map[string]*field{}}
				dst[seg] = o
			}
			dst = o.props
		}
		dst[segs[len(segs)-1]] = f
	}
	return out, nil
}

// mapping is the live mapping of one index.
type mapping struct {
	root        *field
	limit       int  // total fields limit
	count       int  // mapped fields (objects included)
	stringMatch bool // dynamic template: strings become keyword (else text+keyword)
}

const defaultTotalFieldsLimit = 1000

func newMapping(tpls []*Template, index string) (*mapping, error) {
	m := &mapping{root: &field{typ: "object", props: map[string]*field{}}, limit: defaultTotalFieldsLimit}
	for _, t := range tpls {
		if !t.matches(index) {
			continue
		}
		props, err := parseProperties(t.Mappings.Properties)
		if err != nil {
			return nil, err
		}
		for k, v := range props {
			m.root.props[k] = v
		}
		if n, err := t.Settings.TotalFieldsLimit.Int64(); err == nil && n > 0 {
			m.limit = int(n)
		}
		for _, dt := range t.Mappings.DynamicTemplates {
			for _, d := range dt {
				if d.MatchMappingType == "string" && d.Mapping["type"] == "keyword" {
					m.stringMatch = true
				}
			}
		}
	}
	m.count = countFields(m.root) - 1
	return m, nil
}

func countFields(f *field) int {
	n := 1
	for _, k := range f.props {
		n += countFields(k)
	}
	return n
}

// docError is a rejected document, as OpenSearch reports it per item.
type docError struct {
	Status   int
	Type     string
	Reason   string
	CausedBy *docError
	// Shard names the index and shard of an error the shard's engine
	// raised (a version conflict): OpenSearch then adds index_uuid, shard
	// and index after the reason.
	Shard *shardID
}

// shardID is where an engine error happened.
type shardID struct {
	index, uuid string
}

func (e *docError) Error() string {
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.Error() + ")"
	}
	return s
}

// appendJSON writes the error object in OpenSearch's member order
// (OpenSearchException.innerToXContent): type, reason, the metadata
// (index_uuid, shard, index), caused_by.
func (e *docError) appendJSON(b *bytes.Buffer) {
	b.WriteString(`{"type":`)
	writeString(b, e.Type)
	b.WriteString(`,"reason":`)
	writeString(b, e.Reason)
	if e.Shard != nil {
		b.WriteString(`,"index_uuid":`)
		writeString(b, e.Shard.uuid)
		b.WriteString(`,"shard":"0","index":`)
		writeString(b, e.Shard.index)
	}
	if e.CausedBy != nil {
		b.WriteString(`,"caused_by":`)
		e.CausedBy.appendJSON(b)
	}
	b.WriteByte('}')
}

// parseDoc checks doc against the mapping and returns the mapping with the
// document's dynamic fields added (the index's mapping is only replaced
// when the whole document is accepted).
type parseCtx struct {
	m     *mapping
	id    string
	added int
}

// index checks one document and, when it is accepted, adds its dynamic
// fields to the mapping.
func (m *mapping) index(id string, doc value) *docError {
	root, ok := doc.(*object)
	if !ok {
		return &docError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse", CausedBy: &docError{Type: "not_x_content_exception", Reason: "Compressor detection can only be called on some xcontent bytes or compressed xcontent bytes"}}
	}
	work := cloneField(m.root)
	c := &parseCtx{m: m, id: id}
	if err := c.object(work, "", root); err != nil {
		return err
	}
	if c.added > 0 && m.count+c.added > m.limit {
		return &docError{Status: 400, Type: "illegal_argument_exception",
			Reason: fmt.Sprintf("Limit of total fields [%d] has been exceeded", m.limit)}
	}
	m.root = work
	m.count += c.added
	return nil
}

func cloneField(f *field) *field {
	c := &field{typ: f.typ, format: f.format}
	if f.props != nil {
		c.props = make(map[string]*field, len(f.props))
		for k, v := range f.props {
			c.props[k] = cloneField(v)
		}
	}
	return c
}

func (c *parseCtx) object(f *field, prefix string, o *object) *docError {
	for _, mb := range o.Members {
		if err := c.member(f, prefix, mb.Key, mb.Value); err != nil {
			return err
		}
	}
	return nil
}

// member handles key: v inside object field f; dotted keys expand into
// objects as in OpenSearch.
func (c *parseCtx) member(f *field, prefix, key string, v value) *docError {
	if strings.TrimSpace(key) == "" {
		return &docError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse",
			CausedBy: &docError{Type: "illegal_argument_exception", Reason: "field name cannot be an empty string"}}
	}
	if strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, "..") {
		return &docError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse",
			CausedBy: &docError{Type: "illegal_argument_exception", Reason: fmt.Sprintf("object field starting or ending with a [.] makes object resolution ambiguous: [%s]", key)}}
	}
	if i := strings.IndexByte(key, '.'); i >= 0 {
		head, rest := key[:i], key[i+1:]
		sub := c.child(f, prefix, head, "object")
		if !sub.isObject() {
			return c.typeError(joinPath(prefix, head), sub, v)
		}
		return c.member(sub, joinPath(prefix, head), rest, v)
	}
	p := joinPath(prefix, key)
	return c.value(f, p, key, v)
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// child returns the mapping of name under f, mapping it dynamically as
// dynType when absent.
func (c *parseCtx) child(f *field, prefix, name, dynType string) *field {
	if k, ok := f.props[name]; ok {
		return k
	}
	k := &field{typ: dynType}
	if k.isObject() {
		k.props = map[string]*field{}
	}
	f.props[name] = k
	c.added++
	return k
}

// dynamicType is the type OpenSearch's dynamic mapping gives value v, or
// "" for null.
func (c *parseCtx) dynamicType(v value) string {
	switch t := v.(type) {
	case string:
		if c.m.stringMatch {
			return "keyword"
		}
		return "text"
	case json.Number:
		if strings.ContainsAny(string(t), ".eE") {
			return "float"
		}
		return "long"
	case bool:
		return "boolean"
	case *object:
		return "object"
	case []value:
		for _, e := range t {
			if dt := c.dynamicType(e); dt != "" {
				return dt
			}
		}
	}
	return ""
}

func (c *parseCtx) value(parent *field, p, name string, v value) *docError {
	f, ok := parent.props[name]
	if !ok {
		dt := c.dynamicType(v)
		if dt == "" {
			return nil // null or empty array: no mapping, nothing indexed
		}
		f = c.child(parent, p, name, dt)
	}
	switch t := v.(type) {
	case nil:
		return nil
	case []value:
		if f.typ == "geo_point" && isGeoArray(t) {
			return nil
		}
		for _, e := range t {
			if err := c.value(parent, p, name, e); err != nil {
				return err
			}
		}
		return nil
	case *object:
		if f.isObject() {
			return c.object(f, p, t)
		}
		if f.typ == "geo_point" && geoObject(t) {
			return nil
		}
		return c.typeError(p, f, v)
	default:
		if f.isObject() {
			return &docError{Status: 400, Type: "mapper_parsing_exception",
				Reason: fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", p, name)}
		}
		if !scalarFits(f, t) {
			return c.typeError(p, f, v)
		}
		if f.typ == "keyword" {
			if s := scalarText(t); len(s) > maxTermBytes {
				return &docError{Status: 400, Type: "illegal_argument_exception",
					Reason: fmt.Sprintf("Document contains at least one immense term in field=\"%s\" (whose UTF8 encoding is longer than the max length %d), all of which were skipped.", p, maxTermBytes)}
			}
		}
		return nil
	}
}

const maxTermBytes = 32766

func (c *parseCtx) typeError(p string, f *field, v value) *docError {
	preview := previewValue(v)
	cause := &docError{Type: "illegal_argument_exception", Reason: fmt.Sprintf("failed to parse value [%s] as [%s]", preview, f.typ)}
	switch v.(type) {
	case *object:
		cause = &docError{Type: "illegal_state_exception", Reason: "Can't get text on a START_OBJECT"}
	case []value:
		cause = &docError{Type: "illegal_state_exception", Reason: "Can't get text on a START_ARRAY"}
	}
	if f.typ == "ip" {
		if _, ok := v.(string); ok {
			cause = &docError{Type: "illegal_argument_exception", Reason: fmt.Sprintf("'%s' is not an IP string literal.", preview)}
		}
	}
	if f.isObject() {
		return &docError{Status: 400, Type: "mapper_parsing_exception",
			Reason: fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", p, p)}
	}
	return &docError{Status: 400, Type: "mapper_parsing_exception",
		Reason:   fmt.Sprintf("failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", p, f.typ, c.id, preview),
		CausedBy: cause}
}

func previewValue(v value) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return string(t)
	case bool:
		return strconv.FormatBool(t)
	default:
		var b strings.Builder
		b.WriteString("{")
		if o, ok := v.(*object); ok {
			for i, m := range o.Members {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s=%v", m.Key, m.Value)
			}
		}
		b.WriteString("}")
		return b.String()
	}
}

func scalarText(v value) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return string(t)
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

var numberRE = regexp.MustCompile(`^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$`)

// scalarFits reports whether OpenSearch's field mapper for f accepts v
// (coerce on, ignore_malformed off).
func scalarFits(f *field, v value) bool {
	_, isBool := v.(bool)
	s := scalarText(v)
	switch f.typ {
	case "keyword", "text":
		return true
	case "boolean":
		return s == "true" || s == "false"
	case "long":
		return !isBool && integerIn(s, math.MinInt64, math.MaxInt64)
	case "integer":
		return !isBool && integerIn(s, math.MinInt32, math.MaxInt32)
	case "short":
		return !isBool && integerIn(s, math.MinInt16, math.MaxInt16)
	case "byte":
		return !isBool && integerIn(s, math.MinInt8, math.MaxInt8)
	case "double", "float", "half_float", "scaled_float":
		if isBool || !numberRE.MatchString(s) {
			return false
		}
		x, err := strconv.ParseFloat(s, 64)
		max := math.MaxFloat64
		if f.typ == "float" {
			max = math.MaxFloat32
		}
		return err == nil && math.Abs(x) <= max
	case "date":
		return !isBool && dateFits(f.format, s)
	case "ip":
		str, ok := v.(string)
		return ok && !strings.Contains(str, "%") && net.ParseIP(str) != nil
	case "geo_point":
		str, ok := v.(string)
		return ok && geoString(str)
	}
	return false
}

func integerIn(s string, lo, hi int64) bool {
	if !numberRE.MatchString(s) {
		return false
	}
	x, _, err := big.ParseFloat(s, 10, 200, big.ToZero)
	if err != nil {
		return false
	}
	i, _ := x.Int(nil) // truncation, as coercion does
	return i.Cmp(big.NewInt(lo)) >= 0 && i.Cmp(big.NewInt(hi)) <= 0
}

var (
	strictDateRE  = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(?:(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?$`)
	lenientDateRE = regexp.MustCompile(`^(\d{1,9})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:T(?:(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?$`)
	epochMillisRE = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
)

// dateFits checks s against a date format list such as
// "strict_date_optional_time||epoch_millis" (the default).
func dateFits(format, s string) bool {
	if format == "" {
		format = "strict_date_optional_time||epoch_millis"
	}
	for _, f := range strings.Split(format, "||") {
		switch f {
		case "epoch_millis":
			if epochMillisRE.MatchString(s) {
				return true
			}
		case "strict_date_optional_time":
			if isoDate(strictDateRE, s) {
				return true
			}
		case "date_optional_time":
			if isoDate(lenientDateRE, s) {
				return true
			}
		}
	}
	return false
}

func isoDate(re *regexp.Regexp, s string) bool {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	num := func(i, def int) int {
		if m[i] == "" {
			return def
		}
		n, _ := strconv.Atoi(m[i])
		return n
	}
	y, mo, d := num(1, 0), num(2, 1), num(3, 1)
	h, mi, sec := num(4, 0), num(5, 0), num(6, 0)
	if mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59 {
		return false
	}
	if zone := m[8]; len(zone) > 1 {
		hh, _ := strconv.Atoi(zone[1:3])
		if hh > 18 {
			return false
		}
		if rest := strings.TrimPrefix(zone[3:], ":"); rest != "" {
			if mm, _ := strconv.Atoi(rest); mm > 59 {
				return false
			}
		}
	}
	return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).Day() == d
}

func geoObject(o *object) bool {
	if len(o.Members) != 2 {
		return false
	}
	lat, ok1 := o.get("lat")
	lon, ok2 := o.get("lon")
	return ok1 && ok2 && coord(lat, 90) && coord(lon, 180)
}

func isGeoArray(a []value) bool {
	if len(a) != 2 {
		return false
	}
	_, n1 := a[0].(json.Number)
	_, n2 := a[1].(json.Number)
	return n1 && n2 && coord(a[0], 180) && coord(a[1], 90)
}

func coord(v value, max float64) bool {
	s := scalarText(v)
	if _, isBool := v.(bool); isBool || !numberRE.MatchString(s) {
		return false
	}
	x, err := strconv.ParseFloat(s, 64)
	return err == nil && math.Abs(x) <= max
}

func geoString(s string) bool {
	if i := strings.IndexByte(s, ','); i >= 0 {
		return coord(strings.TrimSpace(s[:i]), 90) && coord(strings.TrimSpace(s[i+1:]), 180)
	}
	if s == "" || len(s) > 12 || !utf8.ValidString(s) {
		return false
	}
	return strings.Trim(s, "0123456789bcdefghjkmnpqrstuvwxyz") == ""
}

// fieldType returns the mapped type of a dotted path, or "".
func (m *mapping) fieldType(p string) string {
	f := m.root
	for _, seg := range strings.Split(p, ".") {
		k, ok := f.props[seg]
		if !ok {
			return ""
		}
		f = k
	}
	return f.typ
}
