package report

import "sort"

// IntervalTop is the top-talker list the page keeps for one interval: Rows
// biggest first, and Rest, an upper bound of the ranked metric (bytes, or
// flows for REJECT lists) of any talker not in Rows.
type IntervalTop struct {
	Rows []Row
	Rest int64
}

// WindowRow is a talker of a window of several intervals. Counts are what the
// intervals' lists hold for it; Hi bounds its bytes from above. Approx is set
// when its counts or its place in the list could differ from a full count:
// some interval of the window might have counted it without listing it, one
// of its interval rows is itself approximate, or a talker left out of the
// list could have more bytes than it.
type WindowRow struct {
	Talker
	Counts
	Hi     int64
	Approx bool
}

// MergeTops merges the lists of the intervals of a window and returns its k
// biggest talkers by bytes, biggest first. The page runs the same algorithm
// in JavaScript (mergeTops in page.js) for the windows a user selects.
func MergeTops(tops []IntervalTop, k int) []WindowRow {
	type acc struct {
		WindowRow
		listed int64 // sum of Rest over the intervals that list it
		exact  bool
	}
	var hidden int64 // bound for a talker that no interval lists
	m := map[Talker]*acc{}
	for _, t := range tops {
		hidden += t.Rest
		for _, r := range t.Rows {
			a := m[r.Talker]
			if a == nil {
				a = &acc{WindowRow: WindowRow{Talker: r.Talker}, exact: true}
				m[r.Talker] = a
			}
			a.Counts.add(r.Counts)
			a.Hi += r.Hi
			a.listed += t.Rest
			a.exact = a.exact && r.Exact
		}
	}
	rows := make([]*acc, 0, len(m))
	for _, a := range m {
		// Where it is not listed it may have had up to that interval's Rest.
		a.Hi += hidden - a.listed
		a.Approx = !a.exact || a.Hi > a.Bytes
		rows = append(rows, a)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Bytes != rows[j].Bytes {
			return rows[i].Bytes > rows[j].Bytes
		}
		return talkerLess(rows[i].Talker, rows[j].Talker)
	})
	bound := hidden
	if len(rows) > k {
		for _, a := range rows[k:] {
			bound = max(bound, a.Hi)
		}
		rows = rows[:k]
	}
	out := make([]WindowRow, len(rows))
	for i, a := range rows {
		a.Approx = a.Approx || a.Bytes < bound
		out[i] = a.WindowRow
	}
	return out
}
