package decoders

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// stepKind is one row of the step table: how to make, validate and compile
// a step of that kind. A new kind is one spec type, one step type and one
// row here.
type stepKind struct {
	newSpec func() any
	// record is set for steps that read the raw record (exactly one per
	// decoder); framings lists the framings they can read.
	record   bool
	framings map[framing]bool
	// checksUTF8 is set for record steps that reject invalid UTF-8
	// themselves, so that the framing need not look at each line twice.
	checksUTF8 bool
	validate   func(c *checker, spec any)
	compile    func(c *checker, spec any) step
	// fields applies the step to the schema of the events built so far:
	// the names it adds, moves or removes (Set.Schema).
	fields func(s *event.Schema, spec any, d *DecoderSpec)
}

func kindOf[S any](validate func(*checker, *S), compile func(*checker, *S) step, fields func(*event.Schema, *S, *DecoderSpec)) stepKind {
	return stepKind{
		newSpec:  func() any { return new(S) },
		validate: func(c *checker, s any) { validate(c, s.(*S)) },
		compile:  func(c *checker, s any) step { return compile(c, s.(*S)) },
		fields:   func(sc *event.Schema, s any, d *DecoderSpec) { fields(sc, s.(*S), d) },
	}
}

func recordKindOf[S any](fr []framing, validate func(*checker, *S), compile func(*checker, *S) step, fields func(*event.Schema, *S, *DecoderSpec)) stepKind {
	k := kindOf(validate, compile, fields)
	k.record = true
	k.framings = map[framing]bool{}
	for _, f := range fr {
		k.framings[f] = true
	}
	return k
}

// stepKinds is the table of step kinds, by YAML key.
var stepKinds = map[string]stepKind{
	"columns":      columnsKind,
	"parse_json":   recordKindOf([]framing{framingLines, framingJSONLines, framingJSONArray}, validateParseJSON, compileParseJSON, parseJSONFields),
	"set":          kindOf(validateSet, compileSet, func(sc *event.Schema, s *SetSpec, _ *DecoderSpec) { sc.Add(s.Field) }),
	"rename":       kindOf(validateRename, compileRename, func(sc *event.Schema, s *RenameSpec, _ *DecoderSpec) { sc.Rename(s.From, s.To) }),
	"remove":       kindOf(validateRemove, compileRemove, func(sc *event.Schema, s *RemoveSpec, _ *DecoderSpec) { sc.Remove(s.Field) }),
	"copy":         kindOf(validateCopy, compileCopy, func(sc *event.Schema, s *CopySpec, _ *DecoderSpec) { sc.Add(s.To) }),
	"wrap":         kindOf(validateWrap, compileWrap, func(sc *event.Schema, s *WrapSpec, _ *DecoderSpec) { sc.Add(s.Field + "." + s.Key) }),
	"epoch_to_utc": kindOf(validateEpochToUTC, compileEpochToUTC, noFields[EpochToUTCSpec]),
	"event_time":   kindOf(validateEventTime, compileEventTime, noFields[EventTimeSpec]),
	"drop_nulls":   kindOf(validateDropNulls, compileDropNulls, noFields[DropNullsSpec]),
	"unwrap_lists": kindOf(validateUnwrapLists, compileUnwrapLists, noFields[UnwrapListsSpec]),
}

// noFields is the fields function of steps that change values, not names.
func noFields[S any](*event.Schema, *S, *DecoderSpec) {}

// parseJSONFields adds what the decoder declares under produces, or the
// whole into subtree when it declares nothing.
func parseJSONFields(sc *event.Schema, s *ParseJSONSpec, d *DecoderSpec) {
	switch {
	case d.Produces != nil:
		for _, n := range d.Produces {
			sc.Declare(n)
		}
	case s.Into == "":
		sc.AddAll()
	default:
		sc.AddOpen(s.Into)
	}
}

// columnsFields adds every column of the field table, named as events name
// them.
func columnsFields(sc *event.Schema, s *ColumnsSpec, _ *DecoderSpec) {
	for _, f := range s.Fields {
		name := f.Name
		if s.Underscores {
			name = strings.ReplaceAll(name, "-", "_")
		}
		if s.Into != "" {
			name = s.Into + "." + name
		}
		sc.Add(name)
	}
}

var columnsKind = func() stepKind {
	k := recordKindOf([]framing{framingLines, framingParquet}, validateColumns, compileColumns, columnsFields)
	k.checksUTF8 = true
	return k
}()

func validateSet(c *checker, s *SetSpec) {
	c.fieldName("field", s.Field)
	switch {
	case s.Value != nil && s.Origin != "":
		c.errorf("origin", "value and origin are exclusive")
	case s.Value == nil && s.Origin == "":
		c.errorf("", "one of value or origin is required")
	case s.Origin != "":
		if _, ok := originFields[s.Origin]; !ok {
			c.errorf("origin", "unknown origin value %q (expected one of [%s])", s.Origin,
				strings.Join(specfile.SortedKeys(originFields), " "))
		}
	}
}

func compileSet(_ *checker, s *SetSpec) step {
	st := &setStep{key: s.Field, origin: -1}
	if s.Value != nil {
		st.value = []byte(*s.Value)
	} else {
		st.origin = int(originFields[s.Origin])
	}
	return st
}

func validateRename(c *checker, s *RenameSpec) {
	c.fieldName("from", s.From)
	c.fieldName("to", s.To)
	if s.From != "" && s.From == s.To {
		c.errorf("to", "from and to are the same field")
	}
	if within(s.To, s.From) || within(s.From, s.To) {
		c.errorf("to", "cannot rename %q into its own member or parent %q", s.From, s.To)
	}
}

func compileRename(_ *checker, s *RenameSpec) step { return &renameStep{from: s.From, to: s.To} }

func validateRemove(c *checker, s *RemoveSpec) { c.fieldName("field", s.Field) }

func compileRemove(_ *checker, s *RemoveSpec) step { return &removeStep{key: s.Field} }

// kindNames are the value kinds copy and wrap can select.
var kindNames = map[string]kindMask{
	"string": 1 << kindString,
	"number": 1 << kindNumber,
	"bool":   1 << kindBool,
	"null":   1 << kindNull,
	"array":  1 << kindArray,
}

func (c *checker) kinds(key string, names []string) {
	for _, n := range names {
		if _, ok := kindNames[n]; !ok {
			c.errorf(key, "unknown kind %q (expected one of [%s])", n, strings.Join(specfile.SortedKeys(kindNames), " "))
		}
	}
}

// kindMaskOf returns the kinds named, or def when there are none.
func kindMaskOf(names []string, def kindMask) kindMask {
	if len(names) == 0 {
		return def
	}
	var m kindMask
	for _, n := range names {
		m |= kindNames[n]
	}
	return m
}

func validateCopy(c *checker, s *CopySpec) {
	c.fieldName("from", s.From)
	c.fieldName("to", s.To)
	c.kinds("kinds", s.Kinds)
}

func compileCopy(c *checker, s *CopySpec) step {
	st := &copyStep{from: s.From, to: s.To, kinds: kindMaskOf(s.Kinds, scalarKinds)}
	if s.Regex != "" {
		re, err := regexp.Compile(s.Regex)
		if err != nil {
			c.errorf("regex", "%v", err)
			return nil
		}
		st.re = re
	}
	return st
}

func validateWrap(c *checker, s *WrapSpec) {
	c.fieldName("field", s.Field)
	if s.Key == "" {
		c.errorf("", "missing key")
	} else if strings.Contains(s.Key, ".") {
		c.errorf("key", "key %q must be one name, without dots", s.Key)
	}
	c.kinds("kinds", s.Kinds)
}

func compileWrap(_ *checker, s *WrapSpec) step {
	return &wrapStep{key: s.Field, newKey: s.Field + "." + s.Key, kinds: kindMaskOf(s.Kinds, allValueKinds), python: s.PythonStr}
}

func (c *checker) fieldList(key string, names []string) {
	if len(names) == 0 {
		c.errorf("", "%s: at least one field is required", key)
	}
	for i, n := range names {
		c.fieldName(fmt.Sprintf("%s[%d]", key, i), n)
	}
}

func validateEpochToUTC(c *checker, s *EpochToUTCSpec) { c.fieldList("fields", s.Fields) }

func compileEpochToUTC(_ *checker, s *EpochToUTCSpec) step {
	return &epochStep{keys: s.Fields}
}

var timeFormats = map[string]timeFormat{"unix": timeUnix, "rfc3339": timeRFC3339}

func validateEventTime(c *checker, s *EventTimeSpec) {
	c.fieldList("fields", s.Fields)
	if _, ok := timeFormats[s.Format]; !ok {
		c.errorf("format", "unknown time format %q (expected one of [%s])", s.Format, strings.Join(specfile.SortedKeys(timeFormats), " "))
	}
}

func compileEventTime(_ *checker, s *EventTimeSpec) step {
	return &eventTimeStep{keys: s.Fields, format: timeFormats[s.Format]}
}

func validateDropNulls(c *checker, s *DropNullsSpec) { c.optionalPrefix("under", s.Under) }

func compileDropNulls(_ *checker, s *DropNullsSpec) step { return &dropNullsStep{under: s.Under} }

func validateUnwrapLists(c *checker, s *UnwrapListsSpec) { c.optionalPrefix("under", s.Under) }

func compileUnwrapLists(_ *checker, s *UnwrapListsSpec) step { return &unwrapListsStep{under: s.Under} }

func validateParseJSON(c *checker, s *ParseJSONSpec) { c.optionalPrefix("into", s.Into) }

func compileParseJSON(_ *checker, s *ParseJSONSpec) step {
	st := &parseJSONStep{into: s.Into, probe: "x"}
	if s.Into != "" {
		st.probe = s.Into + ".x"
	}
	return st
}
