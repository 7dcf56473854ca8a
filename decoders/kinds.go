package decoders

import (
	"fmt"
	"regexp"
	"strings"
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
}

func kindOf[S any](validate func(*checker, *S), compile func(*checker, *S) step) stepKind {
	return stepKind{
		newSpec:  func() any { return new(S) },
		validate: func(c *checker, s any) { validate(c, s.(*S)) },
		compile:  func(c *checker, s any) step { return compile(c, s.(*S)) },
	}
}

func recordKindOf[S any](fr []framing, validate func(*checker, *S), compile func(*checker, *S) step) stepKind {
	k := kindOf(validate, compile)
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
	"parse_json":   recordKindOf([]framing{framingLines, framingJSONLines, framingJSONArray}, validateParseJSON, compileParseJSON),
	"set":          kindOf(validateSet, compileSet),
	"rename":       kindOf(validateRename, compileRename),
	"remove":       kindOf(validateRemove, compileRemove),
	"copy":         kindOf(validateCopy, compileCopy),
	"wrap":         kindOf(validateWrap, compileWrap),
	"epoch_to_utc": kindOf(validateEpochToUTC, compileEpochToUTC),
	"event_time":   kindOf(validateEventTime, compileEventTime),
	"drop_nulls":   kindOf(validateDropNulls, compileDropNulls),
	"unwrap_lists": kindOf(validateUnwrapLists, compileUnwrapLists),
}

var columnsKind = func() stepKind {
	k := recordKindOf([]framing{framingLines}, validateColumns, compileColumns)
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
				strings.Join(sortedKeys(originFields), " "))
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
			c.errorf(key, "unknown kind %q (expected one of [%s])", n, strings.Join(sortedKeys(kindNames), " "))
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
		c.errorf("format", "unknown time format %q (expected one of [%s])", s.Format, strings.Join(sortedKeys(timeFormats), " "))
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
