package event

import (
	"fmt"

	"github.com/vpcalertd/vpcalertd/ojson"
)

// DataNoteKind says how a field of the alert's data differs from the
// decoded field.
type DataNoteKind uint8

// The ways the alert's data can differ from the decoded fields
// (docs/wazuh-compat.md).
const (
	// DataDropped: a field of the same name, or the same but for ASCII
	// letter case, came first; the data keeps the first.
	DataDropped DataNoteKind = iota + 1
	// DataDroppedUnderValue: a parent name of the field (or one equal to it
	// but for case) came first holding a value, not an object.
	DataDroppedUnderValue
	// DataMerged: a parent name of the field matched an earlier object
	// spelled differently; the field is in that object.
	DataMerged
	// DataArray: a string that cJSON reads as one whole array is written as
	// that JSON array.
	DataArray
	// DataNotArray: a string that starts with '[' stays a string: cJSON
	// cannot read it, or something follows the array.
	DataNotArray
)

// DataNote is one field whose place or form in the alert's data differs
// from the decoded field: what logtest -v explains, since rules still see
// the decoded field.
type DataNote struct {
	Field int // index in Event.Fields
	Kind  DataNoteKind
	// Path is where the field is in the data (DataMerged), or the name in
	// the data it ran into (DataDropped, DataDroppedUnderValue), dotted.
	Path string
	// Stop is the byte of the value where cJSON's parse stopped
	// (DataNotArray), and Parsed says whether it had read an array there.
	Stop   int
	Parsed bool
}

// DataNotes lists, in field order, the fields of e that the alert's data
// drops or places under another spelling, and the strings starting with '['
// that it writes as JSON or leaves as strings.
func (e *Event) DataNotes() []DataNote {
	var t dataTree
	t.build(e, dataStyle)
	var notes []DataNote
	for i, ff := range t.fates {
		f := &e.Fields[i]
		switch ff.fate {
		case fateSkipped:
			continue
		case fateSameName:
			notes = append(notes, DataNote{Field: i, Kind: DataDropped, Path: t.path(ff.node)})
			continue
		case fateNotObject:
			notes = append(notes, DataNote{Field: i, Kind: DataDroppedUnderValue, Path: t.path(ff.node)})
			continue
		case fateMerged:
			notes = append(notes, DataNote{Field: i, Kind: DataMerged, Path: t.path(ff.node)})
		}
		if f.Kind != String || len(f.Value) == 0 || f.Value[0] != '[' {
			continue
		}
		if _, ok, _ := ojson.AppendCJSONArray(nil, f.Value); ok {
			notes = append(notes, DataNote{Field: i, Kind: DataArray})
			continue
		}
		stop, parsed := ojson.CJSONReads(f.Value)
		notes = append(notes, DataNote{Field: i, Kind: DataNotArray, Stop: stop, Parsed: parsed})
	}
	return notes
}

// Message explains the note for a rule author, naming the field.
func (n DataNote) Message(e *Event) string {
	f := &e.Fields[n.Field]
	switch n.Kind {
	case DataDropped:
		if n.Path == f.Key {
			return fmt.Sprintf("%s: not in the alert's data: a field of that name came first (Wazuh keeps the first)", f.Key)
		}
		return fmt.Sprintf("%s: not in the alert's data: %s came first, the same name but for letter case (Wazuh compares names ignoring case and keeps the first)", f.Key, n.Path)
	case DataDroppedUnderValue:
		return fmt.Sprintf("%s: not in the alert's data: %s came first holding a value, not an object (Wazuh compares names ignoring case)", f.Key, n.Path)
	case DataMerged:
		return fmt.Sprintf("%s: in the alert's data as %s (Wazuh compares names ignoring case; the first spelling stays)", f.Key, n.Path)
	case DataArray:
		return fmt.Sprintf("%s: written as a JSON array in the alert's data (the string is one whole JSON array for cJSON)", f.Key)
	case DataNotArray:
		if n.Parsed {
			return fmt.Sprintf("%s: stays a string in the alert's data: its array ends after %d of its %d bytes and Wazuh turns a string into JSON only when nothing follows", f.Key, n.Stop, len(f.Value))
		}
		if n.Stop >= len(f.Value) {
			return fmt.Sprintf("%s: stays a string in the alert's data: cJSON cannot read it as JSON (it ends too early)", f.Key)
		}
		return fmt.Sprintf("%s: stays a string in the alert's data: cJSON cannot read it as JSON (it stops at offset %d, %q)", f.Key, n.Stop, f.Value[n.Stop])
	}
	return ""
}
