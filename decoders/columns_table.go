package decoders

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vpcalertd/vpcalertd/event"
)

// The columns step on the rows of a table (parquet framing): the layout is
// the file's schema, its column names AWS's field names with underscores
// (account_id), looked up in the same field table as a header line; a
// value is the column's text, checked against the field's type as a text
// column is, and a null or empty value is null_value ("-"), as flow-log
// text writes a missing value.

// planTable makes the stream's column plan from the table's columns. A
// column whose type cannot hold its field's values is an error.
func (s *columnsStep) planTable(r *runState, tcols []TableColumn) error {
	names := make([]string, len(tcols))
	seen := make(map[string]bool, len(tcols))
	for i, tc := range tcols {
		canon := strings.ReplaceAll(tc.Name, "_", "-")
		if seen[canon] {
			return fmt.Errorf("column %q appears twice", tc.Name)
		}
		seen[canon] = true
		names[i] = tc.Name
	}
	cols, unknown := s.columns(names)
	for i, tc := range tcols {
		if err := columnFits(tc, cols[i].typ); err != nil {
			return err
		}
		cols[i].ints = tc.Class == ColumnInteger
	}
	r.cols.plan = s.plan(r, cols, unknown, 0)
	return nil
}

// columnFits checks that a table column can hold values of type typ:
// integers come from integer columns or from strings (checked value by
// value, as in text); addresses from strings; strings from either.
func columnFits(tc TableColumn, typ fieldType) error {
	ok := false
	switch tc.Class {
	case ColumnInteger:
		ok = typ != typeIP
	case ColumnText:
		ok = true
	}
	if !ok {
		return fmt.Errorf("column %s is %s, but field %s holds %s", tc.Name, tc.Type, tc.Name, columnWants[typ])
	}
	return nil
}

var columnWants = map[fieldType]string{
	typeInteger: "integers (an INT32, INT64 or string column)",
	typeIP:      "IP addresses (a string column)",
	typeString:  "strings (a string or integer column)",
}

// applyRow stores the current row's values as the plan's fields.
func (s *columnsStep) applyRow(r *runState, ev *event.Event, c *stepState) error {
	plan := r.cols.plan
	if plan == nil {
		return errNoLayout
	}
	c.find(r, ev.Fields, s.probe)
	ins, replace := c.ins, c.insReplace
	cols := plan.cols
	tcols, trow := r.tcols[:len(cols)], r.trow
	base := len(ev.Fields)
	fs := growFields(ev.Fields, len(cols))
	for k := range cols {
		col := &cols[k]
		v := &tcols[k][trow]
		text, safe := v.Text, v.Safe
		if v.Null || len(text) == 0 {
			text, safe = s.null, s.nullSafe
		} else {
			var ok bool
			switch col.typ {
			case typeInteger:
				ok = col.ints && text[0] != '-' || isInteger(text)
			case typeIP:
				ok = isIP(text)
			default:
				ok = true
			}
			if !ok {
				ev.Fields = fs[:base]
				return badValue(col, text)
			}
			if !safe && !utf8.Valid(text) {
				ev.Fields = fs[:base]
				return fmt.Errorf("field %s: %w", col.name, errInvalidUTF8)
			}
		}
		f := &fs[base+k]
		f.Key = col.key
		f.Value = text
		f.Kind = event.String
		f.Sym = col.sym
		f.Safe = safe
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
