package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"
	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// ErrUnknownField is wrapped by every reference to a field that no decoder
// produces (Options.Fields) and the rule does not expect (expect_fields).
// A condition on such a field is never true, so Load reports it; the
// caller decides whether it is fatal (Set.FieldErrors).
var ErrUnknownField = errors.New("unknown field")

// fieldChecker checks the fields one rule reads against the decoders'
// schema and the names the rule and its file expect.
type fieldChecker struct {
	schemas []*event.Schema
	rs      *RuleSpec
	data    []byte // the file, for positions inside scalars
	errs    []error
}

// checkFields reports every field of the rule that no schema knows: in
// the condition (at the field, with expr's caret), in $(…) templates, in
// same_field/different_field and in the aggregate block.
func (ld *loader) checkFields(r *Rule, rs *RuleSpec, fspec *FileSpec, data []byte) []error {
	if ld.set.opts.Fields == nil {
		return nil
	}
	fc := &fieldChecker{schemas: []*event.Schema{ld.set.opts.Fields}, rs: rs, data: data}
	if len(rs.ExpectFields)+len(fspec.ExpectFields) > 0 {
		own := event.NewSchema()
		for _, n := range append(append([]string{}, fspec.ExpectFields...), rs.ExpectFields...) {
			own.Declare(n)
		}
		fc.schemas = append(fc.schemas, own)
	}
	if c := r.cond; c != nil {
		for _, ref := range c.refs {
			if !fc.known(ref.name) {
				msg := fc.message(ref.name)
				xe := locError(c.src, ref.loc, msg)
				pe := conditionError(rs, data, xe).(*specfile.Error)
				pe.Err = fmt.Errorf("%w%s", msg, xe.snippet)
				fc.errs = append(fc.errs, pe)
			}
		}
	}
	if n := specfile.Value(rs.Node, "description"); n != nil {
		for _, seg := range r.tmpl {
			if seg.field && !fc.known(seg.text) {
				xl, xc := textPosition(rs.Description, seg.off)
				e := &specfile.Error{Subject: ruleSubject(rs.ID), Key: "description", Err: fc.message(seg.text)}
				e.Line, e.Column = specfile.ValuePos(data, n, xl, xc)
				fc.errs = append(fc.errs, e)
			}
		}
	}
	fc.list("same_field", rs.Node, rs.SameField)
	fc.list("different_field", rs.Node, rs.DifferentField)
	if a := rs.Aggregate; a != nil {
		an := specfile.Value(rs.Node, "aggregate")
		if a.Field != "" && !fc.known(a.Field) {
			fc.errs = append(fc.errs, rs.atIn("aggregate", "field", fc.message(a.Field)))
		}
		fc.list("aggregate.same_field", an, a.SameField)
	}
	return fc.errs
}

// list checks a list of field names written under key of mapping n.
func (fc *fieldChecker) list(key string, n *yaml.Node, names []string) {
	seq := specfile.Value(n, key[strings.LastIndexByte(key, '.')+1:])
	for i, name := range names {
		if fc.known(name) {
			continue
		}
		at := seq
		if seq != nil && seq.Kind == yaml.SequenceNode && i < len(seq.Content) {
			at = seq.Content[i]
		}
		e := &specfile.Error{Subject: ruleSubject(fc.rs.ID), Key: key, Err: fc.message(name)}
		if at != nil {
			e.Line, e.Column = at.Line, at.Column
		}
		fc.errs = append(fc.errs, e)
	}
}

func (fc *fieldChecker) known(name string) bool {
	for _, s := range fc.schemas {
		if s.Known(name) {
			return true
		}
	}
	return false
}

// message says what is wrong and what to do: the nearest known name, or
// how to declare a field a decoder outside the ruleset produces.
func (fc *fieldChecker) message(name string) error {
	for _, s := range fc.schemas {
		if near := s.Nearest(name); near != "" {
			return fmt.Errorf("%w %s, did you mean %s?", ErrUnknownField, name, near)
		}
	}
	return fmt.Errorf("%w %s: no decoder produces it (if yours does, declare it in the decoder's produces, "+
		"or in the rule's expect_fields)", ErrUnknownField, name)
}

// locError builds an exprError at a location of src, with expr's caret
// snippet.
func locError(src string, loc file.Location, msg error) *exprError {
	fe := &file.Error{Location: loc, Message: msg.Error()}
	fe.Bind(file.NewSource(src))
	return &exprError{line: fe.Line, col: fe.Column, msg: fe.Message, snippet: fe.Snippet}
}

// textPosition returns the 1-based line and 0-based rune column of byte
// offset off in s.
func textPosition(s string, off int) (line, col int) {
	line = 1 + strings.Count(s[:off], "\n")
	start := strings.LastIndexByte(s[:off], '\n') + 1
	return line, utf8.RuneCountInString(s[start:off])
}
