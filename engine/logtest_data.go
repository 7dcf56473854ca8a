package engine

import (
	"fmt"
	"io"
	"sort"

	"github.com/vpcalertd/vpcalertd/event"
)

// decodedFields lists the event's fields as logtest's phase 2 does: the
// alert's data flattened with dots, sorted by name. A field the data drops
// is not listed; one it places under another spelling is listed there
// (docs/wazuh-compat.md).
func decodedFields(ev *event.Event) [][2]string {
	skip := make(map[int]bool)
	path := make(map[int]string)
	for _, n := range ev.DataNotes() {
		switch n.Kind {
		case event.DataDropped, event.DataDroppedUnderValue:
			skip[n.Field] = true
		case event.DataMerged:
			path[n.Field] = n.Path
		}
	}
	var out [][2]string
	for i := range ev.Fields {
		f := &ev.Fields[i]
		if f.Kind == event.EmptyObject || (f.Kind == event.String && len(f.Value) == 0) || skip[i] {
			continue
		}
		key := f.Key
		if p, ok := path[i]; ok {
			key = p
		}
		out = append(out, [2]string{key, f.Text()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// dataNoteLines explains, for logtest -v, each field that the alert's data
// drops, places under another spelling, or writes as JSON (or not) though
// it is a string starting with '[': rules still see the decoded fields.
func dataNoteLines(ev *event.Event) []string {
	var out []string
	for _, n := range ev.DataNotes() {
		out = append(out, n.Message(ev))
	}
	return out
}

// writeDataNotes prints dataNoteLines as a logtest -v block, nothing when
// there are none.
func writeDataNotes(w io.Writer, ev *event.Event) {
	lines := dataNoteLines(ev)
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "**Alert data (rules see the decoded fields above; the alert's data differs):")
	for _, l := range lines {
		fmt.Fprintf(w, "\t%s\n", l)
	}
	fmt.Fprintln(w)
}
