package event

import (
	"github.com/vpcalertd/vpcalertd/ojson"

	"math"
	"regexp"
	"strconv"
	"strings"
)

// refDataJSON is a small model of how Wazuh 4.14.7 builds an alert's data
// from the decoded fields, written plainly and apart from the renderer so
// that tests can compare the two: W_JSON_AddField (src/shared/string_op.c)
// with cJSON_GetObjectItem's case-insensitive lookup, and cJSON 1.7.18's
// parse of a value that starts with '[' (cJSON.c parse_value and friends).
// Only the number printing is shared with the renderer: it is not one of
// the rules modelled here.
func refDataJSON(ev *Event) string {
	root := &refObject{}
	for _, f := range ev.Fields {
		if f.Kind == EmptyObject || (f.Kind == String && len(f.Value) == 0) {
			continue // to_json.c adds only non-empty values
		}
		refAddField(root, f.Key, f)
	}
	var b strings.Builder
	refPrint(&b, root)
	return b.String()
}

type refMember struct {
	name  string
	value any // *refObject, a Field (a leaf of data), or a parsed JSON value
}

type refObject struct{ members []refMember }

// get is cJSON_GetObjectItem: the first member whose name equals name when
// ASCII letters are lowered (tolower in the C locale).
func (o *refObject) get(name string) *refMember {
	for i := range o.members {
		if refLower(o.members[i].name) == refLower(name) {
			return &o.members[i]
		}
	}
	return nil
}

func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// refAddField is W_JSON_AddField.
func refAddField(root *refObject, key string, f Field) {
	if dot := strings.IndexByte(key, '.'); dot >= 0 {
		current := key[:dot]
		if m := root.get(current); m != nil {
			if o, ok := m.value.(*refObject); ok {
				refAddField(o, key[dot+1:], f)
			}
			return
		}
		o := &refObject{}
		root.members = append(root.members, refMember{current, o})
		refAddField(o, key[dot+1:], f)
		return
	}
	if root.get(key) == nil {
		root.members = append(root.members, refMember{key, f})
	}
}

func refPrint(b *strings.Builder, v any) {
	switch v := v.(type) {
	case *refObject:
		b.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				b.WriteByte(',')
			}
			refQuote(b, m.name)
			b.WriteByte(':')
			refPrint(b, m.value)
		}
		b.WriteByte('}')
	case Field:
		switch v.Kind {
		case Number:
			refQuote(b, string(ojson.AppendNumberText(nil, v.Value)))
		case String, Array:
			if js, ok := refParse(string(v.Value)); ok && v.Value[0] == '[' {
				refPrint(b, js)
			} else {
				refQuote(b, string(v.Value))
			}
		default:
			refQuote(b, string(v.Value))
		}
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case float64:
		b.Write(ojson.AppendCJSONFloat(nil, v))
	case string:
		refQuote(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			refPrint(b, e)
		}
		b.WriteByte(']')
	}
}

// refQuote is cJSON's print_string_ptr.
func refQuote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte("0123456789abcdef"[c>>4])
				b.WriteByte("0123456789abcdef"[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// refParse reads s with cJSON_ParseWithOpts(s, &end, 0) and reports whether
// it succeeded with *end == '\0'. A Go string with a NUL byte is no C
// string: the model says no.
func refParse(s string) (any, bool) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, false
	}
	p := &refParser{s: s}
	v, ok := p.value()
	return v, ok && p.i == len(s)
}

type refParser struct {
	s     string
	i     int
	depth int
}

// refNumber is what strtod reads from cJSON's number characters; cJSON's
// value fails later unless strtod read the whole run of them.
var refNumber = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func (p *refParser) ws() {
	for p.i < len(p.s) && p.s[p.i] <= ' ' {
		p.i++
	}
}

func (p *refParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *refParser) value() (any, bool) {
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, "null"):
		p.i += 4
		return nil, true
	case strings.HasPrefix(rest, "false"):
		p.i += 5
		return false, true
	case strings.HasPrefix(rest, "true"):
		p.i += 4
		return true, true
	}
	switch c := p.peek(); {
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i
		for j < len(p.s) && strings.IndexByte("0123456789+-eE.", p.s[j]) >= 0 {
			j++
		}
		tok := p.s[p.i:j]
		if len(tok) > 63 || !refNumber.MatchString(tok) {
			return nil, false
		}
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil && !math.IsInf(v, 0) {
			return nil, false
		}
		p.i = j
		return v, true
	case c == '[' || c == '{':
		if p.depth++; p.depth > 1000 {
			return nil, false
		}
		defer func() { p.depth-- }()
		if c == '[' {
			return p.array()
		}
		return p.object()
	}
	return nil, false
}

func (p *refParser) array() (any, bool) {
	p.i++
	p.ws()
	out := []any{}
	if p.peek() == ']' {
		p.i++
		return out, true
	}
	for {
		p.ws()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return out, true
		default:
			return nil, false
		}
	}
}

func (p *refParser) object() (any, bool) {
	p.i++
	p.ws()
	o := &refObject{}
	if p.peek() == '}' {
		p.i++
		return o, true
	}
	for {
		p.ws()
		if p.peek() != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.ws()
		if p.peek() != ':' {
			return nil, false
		}
		p.i++
		p.ws()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		o.members = append(o.members, refMember{k.(string), v})
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return o, true
		default:
			return nil, false
		}
	}
}

// str reads a string literal; the result ends at its first U+0000, as the
// C string cJSON keeps does.
func (p *refParser) str() (any, bool) {
	j := p.i + 1
	for j < len(p.s) && p.s[j] != '"' {
		if p.s[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(p.s) {
		return nil, false
	}
	lit := p.s[p.i+1 : j]
	// A backslash that is the literal's last byte escapes the closing
	// quote, as cJSON reads it (its converting loop looks one byte past the
	// escape, which is the quote): withQuote is lit and that quote.
	withQuote := p.s[p.i+1 : j+1]
	var b strings.Builder
	for k := 0; k < len(lit); {
		if lit[k] != '\\' {
			b.WriteByte(lit[k])
			k++
			continue
		}
		switch e := withQuote[k+1]; e {
		case 'b', 'f', 'n', 'r', 't':
			b.WriteByte(map[byte]byte{'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}[e])
			k += 2
		case '"', '\\', '/':
			b.WriteByte(e)
			k += 2
		case 'u':
			if len(lit)-k < 6 {
				return nil, false
			}
			cp := refHex(lit[k+2 : k+6])
			k += 6
			switch {
			case cp >= 0xdc00 && cp <= 0xdfff:
				return nil, false
			case cp >= 0xd800 && cp <= 0xdbff:
				if len(lit)-k < 6 || lit[k:k+2] != `\u` {
					return nil, false
				}
				lo := refHex(lit[k+2 : k+6])
				if lo < 0xdc00 || lo > 0xdfff {
					return nil, false
				}
				cp = 0x10000 + (cp-0xd800)<<10 + (lo - 0xdc00)
				k += 6
			}
			b.WriteString(string(rune(cp)))
		default:
			return nil, false
		}
	}
	p.i = j + 1
	s := b.String()
	if nul := strings.IndexByte(s, 0); nul >= 0 {
		s = s[:nul]
	}
	return s, true
}

// refHex is parse_hex4: 0 unless all four are hex digits.
func refHex(s string) int {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || strings.ContainsAny(s, "+-_xX") {
		return 0
	}
	return int(v)
}
