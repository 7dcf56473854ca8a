package engine

import (
	"fmt"
	"io"
	"sort"

	"github.com/vpcalertd/vpcalertd/rules"
)

// summaryTop is the number of rules the replay summary lists.
const summaryTop = 20

// RuleCount is how many alerts one rule raised.
type RuleCount struct {
	Rule   *rules.Rule
	Alerts int64
}

// AlertCounts returns, for every rule that raised an alert since the
// engine was made, how many it raised through Process: most first, ties in
// rule id order.
func (e *Engine) AlertCounts() []RuleCount {
	var out []RuleCount
	for _, r := range e.rules.Rules() {
		if n := e.alerts[r.Index()].Load(); n > 0 {
			out = append(out, RuleCount{Rule: r, Alerts: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Alerts != out[j].Alerts {
			return out[i].Alerts > out[j].Alerts
		}
		return out[i].Rule.ID() < out[j].Rule.ID()
	})
	return out
}

// fileCount is a number of bad records in one file.
type fileCount struct {
	path string
	n    int64
}

// writeSummary prints what a replay raised, per rule (the top
// summaryTop), which files had bad records, and which rules' conditions
// failed at run time, so that a flood or a silent mistake shows at once.
func (e *Engine) writeSummary(w io.Writer, bad []fileCount) {
	counts := e.AlertCounts()
	if len(counts) == 0 {
		fmt.Fprintln(w, "alerts by rule: none")
	} else {
		shown := counts[:min(len(counts), summaryTop)]
		nw, iw := len("alerts"), len("rule")
		for _, c := range shown {
			nw = max(nw, len(fmt.Sprint(c.Alerts)))
			iw = max(iw, len(c.Rule.ID()))
		}
		fmt.Fprintf(w, "alerts by rule (top %d of %s):\n", len(shown), plural(len(counts), "rule", "rules"))
		fmt.Fprintf(w, "  %*s  %-*s  level  description\n", nw, "alerts", iw, "rule")
		for _, c := range shown {
			fmt.Fprintf(w, "  %*d  %-*s  %5d  %s\n", nw, c.Alerts, iw, c.Rule.ID(), c.Rule.Level(), c.Rule.Description())
		}
		fmt.Fprintln(w, "To quiet a rule, overwrite it with level 0 in a --rules layer "+
			`(docs/authoring.md, "Silence the per-flow ACCEPT alerts").`)
	}
	if len(bad) > 0 {
		var n int64
		for _, b := range bad {
			n += b.n
		}
		sort.SliceStable(bad, func(i, j int) bool { return bad[i].n > bad[j].n })
		fmt.Fprintf(w, "bad records: %d in %s (each reported above as path:line: reason):\n", n, plural(len(bad), "file", "files"))
		for _, b := range bad[:min(len(bad), summaryTop)] {
			fmt.Fprintf(w, "  %6d  %s\n", b.n, b.path)
		}
	}
	errs := e.RuleErrors()
	if len(errs) > 0 {
		ids := make([]string, 0, len(errs))
		var n int64
		for id, c := range errs {
			ids = append(ids, id)
			n += c
		}
		sort.Strings(ids)
		fmt.Fprintf(w, "conditions that failed at run time (counted as not matching): %d in %s:\n", n, plural(len(ids), "rule", "rules"))
		for _, id := range ids {
			r := e.rules.Rule(id)
			fmt.Fprintf(w, "  %6d  rule %s (%s:%d)\n", errs[id], id, r.File(), r.Line())
		}
	}
}

// plural returns "1 rule" or "n rules".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
