package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// ErrLint is wrapped by every Lint finding.
var ErrLint = errors.New("lint")

// TestInput is the input of one inline test case, for the decode function
// RunTests is given (the CLI wires the real decoders).
type TestInput struct {
	File   string // rule file
	Line   int    // line of the test case
	RuleID string // the rule the test sits under
	Name   string
	// Event is the JSON text of an `event:` mapping (a decoded Wazuh event
	// body, keys in file order), nil when Log is set.
	Event []byte
	// Log is a raw record line (`log:`), with its log type if given.
	Log  string
	Type event.LogType
}

// TestResult is the outcome of one inline test case.
type TestResult struct {
	File, RuleID, Name string
	Line               int
	NoMatch            bool // a no_match case
	Pass               bool
	Err                error // the input could not be decoded
	// Expected (match cases) and got: the final rule id, its level and the
	// expanded description ("" id = nothing matched).
	ExpID, GotID                   string
	ExpLevel, GotLevel             int
	ExpDescription, GotDescription string
	// Trace is the last evaluation of the case, in the tree the rule is in
	// (the stock tree, or its pack's passes): every rule tried, in order,
	// and why each one that did not match did not.
	Trace []TraceStep
	// Pack is the pack of the rule, "" for a stock rule.
	Pack string
}

// Head names the case: `rules/x.yml:12: rule 110101: match "name"`.
func (r TestResult) Head() string {
	kind := "match"
	if r.NoMatch {
		kind = "no_match"
	}
	return fmt.Sprintf("%s:%d: rule %s: %s %q", r.File, r.Line, r.RuleID, kind, r.Name)
}

func (r TestResult) String() string {
	head := r.Head()
	switch {
	case r.Err != nil:
		return head + ": " + r.Err.Error()
	case r.Pass:
		return head + ": ok"
	case r.NoMatch:
		return fmt.Sprintf("%s: got rule %s (level %d), want any other%s", head, r.GotID, r.GotLevel, r.traceText())
	}
	exp := fmt.Sprintf("rule %s level %d", r.ExpID, r.ExpLevel)
	got := fmt.Sprintf("rule %s level %d", orNone(r.GotID), r.GotLevel)
	if r.ExpDescription != "" {
		exp += fmt.Sprintf(" %q", r.ExpDescription)
		got += fmt.Sprintf(" %q", r.GotDescription)
	}
	return fmt.Sprintf("%s:\n  exp: %s\n  got: %s%s", head, exp, got, r.traceText())
}

// traceText lists the rules tried, indented by depth, each with its
// outcome: "    80402 not matched: osregex(aws.action, "REJECT") is false:
// aws.action = "ACCEPT"".
func (r TestResult) traceText() string {
	if len(r.Trace) == 0 {
		return ""
	}
	var b strings.Builder
	if r.Pack == "" {
		b.WriteString("\n  rules tried (stock rules):")
	} else {
		fmt.Fprintf(&b, "\n  rules tried (pack %s, each top-level rule a tree of its own):", r.Pack)
	}
	for _, s := range r.Trace {
		b.WriteString("\n    ")
		b.WriteString(strings.Repeat("  ", s.Depth))
		b.WriteString(s.Rule.id)
		if s.Matched {
			b.WriteString(" matched")
		} else {
			b.WriteString(" not matched: ")
			b.WriteString(s.Reason())
		}
	}
	return b.String()
}

func orNone(id string) string {
	if id == "" {
		return "(none)"
	}
	return id
}

// RunTests runs every rule's inline tests, each case on fresh counters and
// correlation memory, at processing time now (repeats one second apart).
func (s *Set) RunTests(decode func(TestInput) (*event.Event, error), now time.Time) []TestResult {
	var out []TestResult
	for _, r := range s.rules {
		ts := r.spec.Tests
		if ts == nil {
			continue
		}
		for k, cases := range [][]TestCaseSpec{ts.Match, ts.NoMatch} {
			for i := range cases {
				out = append(out, s.runCase(r, &cases[i], k == 1, decode, now))
			}
		}
	}
	return out
}

func (s *Set) runCase(r *Rule, tc *TestCaseSpec, noMatch bool, decode func(TestInput) (*event.Event, error), now time.Time) TestResult {
	res := TestResult{File: r.file, RuleID: r.id, Name: tc.Name, NoMatch: noMatch}
	if tc.Node != nil {
		res.Line = tc.Node.Line
	}
	events, err := s.caseEvents(r, tc, res.Line, decode)
	if err != nil {
		res.Err = err
		return res
	}
	e := s.NewEvaluator()
	e.c.st = s.newState()
	n := max(tc.Repeat, 1)
	if len(events) > 1 && n > 1 {
		res.Err = errors.New("repeat applies to a single event or log, not to a sequence")
		return res
	}
	var ms []Match
	var tr Trace
	step := 0
	for i := 0; i < n; i++ {
		for j, ev := range events {
			var t *Trace
			if i == n-1 && j == len(events)-1 {
				t = &tr // the evaluation the case checks
			}
			ms = e.EvalAll(ev, now.Add(time.Duration(step)*time.Second), t)
			step++
		}
	}
	res.Pack = r.pack
	for _, st := range tr.Steps {
		if st.Pack == r.pack {
			res.Trace = append(res.Trace, st)
		}
	}
	exp := r.id
	if tc.ID != "" {
		exp = tc.ID
	}
	got, found := Match{}, false
	for _, m := range ms {
		if m.Rule != nil && m.Rule.id == exp {
			got, found = m, true
			break
		}
	}
	if !found {
		got = treeResult(ms, r.pack)
	}
	if got.Rule != nil {
		res.GotID, res.GotLevel, res.GotDescription = got.Rule.id, got.Rule.level, string(got.Description)
	}
	if noMatch {
		res.Pass = !found
		if found {
			res.GotID, res.GotLevel = got.Rule.id, got.Rule.level
		}
		return res
	}
	res.ExpID, res.ExpLevel, res.ExpDescription = r.id, r.level, tc.Description
	if tc.ID != "" {
		res.ExpID = tc.ID
	}
	if tc.Level != nil {
		res.ExpLevel = *tc.Level
	}
	res.Pass = res.GotID == res.ExpID && res.GotLevel == res.ExpLevel &&
		(tc.Description == "" || tc.Description == res.GotDescription)
	return res
}

// treeResult returns the result of the tree a rule of pack is in: the
// stock result, or the first result of a root of that pack.
func treeResult(ms []Match, pack string) Match {
	if pack == "" {
		return ms[0]
	}
	for _, m := range ms[1:] {
		if m.Rule != nil && m.Rule.pack == pack {
			return m
		}
	}
	return Match{}
}

// caseEvents decodes the input(s) of a test case, in order.
func (s *Set) caseEvents(r *Rule, tc *TestCaseSpec, line int, decode func(TestInput) (*event.Event, error)) ([]*event.Event, error) {
	base := TestInput{File: r.file, Line: line, RuleID: r.id, Name: tc.Name, Type: event.LogType(tc.Type)}
	var ins []TestInput
	if tc.Event.Kind != 0 {
		js, err := nodeJSON(nil, &tc.Event)
		if err != nil {
			return nil, err
		}
		in := base
		in.Event = js
		ins = append(ins, in)
	}
	if tc.Log != "" {
		in := base
		in.Log = tc.Log
		ins = append(ins, in)
	}
	for i := range tc.Events {
		js, err := nodeJSON(nil, &tc.Events[i])
		if err != nil {
			return nil, err
		}
		in := base
		in.Line = tc.Events[i].Line
		in.Event = js
		ins = append(ins, in)
	}
	for _, l := range tc.Logs {
		in := base
		in.Log = l
		ins = append(ins, in)
	}
	switch {
	case len(ins) == 0:
		return nil, errors.New("a test case needs event, log, events or logs")
	case len(ins) > 1 && (tc.Event.Kind != 0 || tc.Log != ""):
		return nil, errors.New("give one of event, log, events or logs")
	}
	out := make([]*event.Event, 0, len(ins))
	for i, in := range ins {
		ev, err := decode(in)
		if err != nil {
			if len(ins) > 1 {
				return nil, fmt.Errorf("input %d: %w", i+1, err)
			}
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// Lint returns whole-ruleset findings that do not stop loading: rules
// without inline tests and conditions that run on the (slower) expr VM.
// Load already rejects duplicate ids, unknown parents, cycles, unknown
// lists, bad templates and bad patterns.
func (s *Set) Lint() []error {
	var out []error
	for _, r := range s.rules {
		where := fmt.Sprintf("%s:%d: rule %s", r.file, r.line, r.id)
		if r.spec.Tests == nil || len(r.spec.Tests.Match)+len(r.spec.Tests.NoMatch) == 0 {
			out = append(out, fmt.Errorf("%s: %w: no inline tests", where, ErrLint))
		}
		if r.cond != nil && !r.cond.typed {
			out = append(out, fmt.Errorf("%s: %w: condition runs on the expr VM (slower): %s", where, ErrLint, oneLine(r.cond.src)))
		}
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
