package rules

import (
	"errors"
	"strings"

	"github.com/vpcalertd/vpcalertd/event"
)

// commentMax is OS_COMMENT_MAX: an expanded description of this many bytes
// or more is replaced by the raw template (docs/wazuh-compat.md, "Descriptions and counters").
const commentMax = 1024

// template is a parsed description: literal text and $(field) references.
type template []tmplSeg

type tmplSeg struct {
	text  string // literal text, or the field name as written
	field bool
	sym   int32
	off   int // byte offset of a field name in the description
}

// parseTemplate splits a description as Wazuh's ParseRuleComment reads it.
// A "$(" without ")" or an empty "$()" is an error at load; at run time
// Wazuh would keep the former literally.
func parseTemplate(s string, syms *event.Symbols) (template, error) {
	var t template
	base := 0 // offset of s in the description
	for {
		i := strings.Index(s, "$(")
		if i < 0 {
			break
		}
		if i > 0 {
			t = append(t, tmplSeg{text: s[:i]})
		}
		rest := s[i+2:]
		j := strings.IndexByte(rest, ')')
		if j < 0 {
			return nil, errors.New(`"$(" without ")"`)
		}
		name := rest[:j]
		if strings.TrimSpace(name) == "" {
			return nil, errors.New(`empty field name in "$()"`)
		}
		t = append(t, tmplSeg{text: name, field: true, sym: syms.Intern(name), off: base + i + 2})
		base += i + 2 + j + 1
		s = rest[j+1:]
	}
	if s != "" {
		t = append(t, tmplSeg{text: s})
	}
	return t, nil
}

// expand appends the description for the event to dst; raw is used when
// the result would reach commentMax bytes.
func (t template) expand(dst []byte, c *evalCtx, raw string) []byte {
	start := len(dst)
	for i := range t {
		s := &t[i]
		if !s.field {
			dst = append(dst, s.text...)
			continue
		}
		if v, ok := c.field(s.sym); ok {
			dst = append(dst, v...)
		}
	}
	if len(dst)-start >= commentMax {
		return append(dst[:start], raw...)
	}
	return dst
}
