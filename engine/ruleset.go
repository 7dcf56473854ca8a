package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/rules"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// CheckOptions configure CheckRuleset.
type CheckOptions struct {
	// LintFatal makes lint findings (rules without tests, …) fail the check
	// with status 3, as promtool's --lint-fatal.
	LintFatal bool
}

// CheckRuleset loads the decoders and rules of opts, printing "Checking
// LABEL" and a summary to stdout and every problem to stderr, one per line.
// A rule reading a field no decoder produces is an error here (the other
// commands only warn). It returns the exit status: 0 clean, 1 errors, 3
// lint findings with LintFatal (and then no SUCCESS line).
func CheckRuleset(opts Options, label string, co CheckOptions, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "Checking %s\n", label)
	opts.OnWarning = func(error) {} // the field errors are printed below, as errors
	e, err := New(withDefaults(opts))
	if err != nil {
		fmt.Fprintf(stdout, "  FAILED: %s\n", plural(len(specfile.Flatten(err)), "error", "errors"))
		for _, line := range splitErrors(err) {
			fmt.Fprintln(stderr, line)
		}
		return 1
	}
	if ferrs := e.rules.FieldErrors(); len(ferrs) > 0 {
		fmt.Fprintf(stdout, "  FAILED: %s\n", plural(len(ferrs), "rule field unknown to the decoders", "rule fields unknown to the decoders"))
		for _, line := range splitErrors(errors.Join(ferrs...)) {
			fmt.Fprintln(stderr, line)
		}
		return 1
	}
	for _, l := range e.rules.Lists() {
		if l.Replaces != "" {
			fmt.Fprintf(stdout, "  list %s: %s replaces %s\n", l.Name, l.File, l.Replaces)
		}
	}
	lint := append(e.rules.ListWarnings(), e.rules.Lint()...)
	counts := fmt.Sprintf("%s, %s, %s", plural(len(e.rules.Rules()), "rule", "rules"),
		plural(len(e.decoders.Names()), "decoder", "decoders"), plural(len(lint), "lint finding", "lint findings"))
	if len(lint) > 0 && co.LintFatal {
		fmt.Fprintf(stdout, "  FAILED: %s (--lint-fatal)\n", counts)
	} else {
		fmt.Fprintf(stdout, "  SUCCESS: %s\n", counts)
	}
	for _, l := range lint {
		fmt.Fprintln(stderr, l)
	}
	if len(lint) > 0 && co.LintFatal {
		return 3
	}
	return 0
}

// TestOptions configure TestRuleset.
type TestOptions struct {
	// Run selects the tests whose "rule-id/name" matches the expression.
	Run *regexp.Regexp
	// Now is the processing time of the tests; default: the engine's clock.
	Now time.Time
	// Verbose prints the passing cases too ("PASS: …").
	Verbose bool
}

// TestRuleset runs the inline tests of every rule, printing each failure
// (expected vs got, and the rules tried with why each did not match) and a
// summary with the rules that have no test. It returns 0 when every
// selected test passed, 1 otherwise.
func TestRuleset(opts Options, label string, to TestOptions, stdout, stderr io.Writer) int {
	e, err := New(withDefaults(opts))
	if err != nil {
		for _, line := range splitErrors(err) {
			fmt.Fprintln(stderr, line)
		}
		return 1
	}
	now := to.Now
	if now.IsZero() {
		now = e.opts.Now()
	}
	// The decoders' warnings about a test's input (a header column no
	// decoder knows) explain many a failure: each is printed, once.
	selected := func(ruleID, name string) bool { return to.Run == nil || to.Run.MatchString(ruleID+"/"+name) }
	warned := map[string]bool{}
	decode := func(in rules.TestInput) (*event.Event, error) {
		return e.decodeTestInput(in, func(err error) {
			if !selected(in.RuleID, in.Name) {
				return
			}
			what := err.Error()
			if line, rest, ok := cutPosition(what, in.File); ok {
				what = inputLines(in) + " " + line + ": " + rest
			}
			msg := fmt.Sprintf("WARNING: %s:%d: rule %s: test %q: %s", in.File, in.Line, in.RuleID, in.Name, what)
			if !warned[msg] {
				warned[msg] = true
				fmt.Fprintln(stderr, msg)
			}
		})
	}
	results := e.rules.RunTests(decode, now)
	passed, failed := 0, 0
	tested := map[string]bool{}
	for _, r := range results {
		tested[r.RuleID] = true
		if !selected(r.RuleID, r.Name) {
			continue
		}
		if r.Pass {
			passed++
			if to.Verbose {
				fmt.Fprintf(stdout, "PASS: %s\n", r.Head())
			}
			continue
		}
		failed++
		fmt.Fprintf(stdout, "FAILED: %s\n", r)
	}
	var untested []string
	for _, r := range e.rules.Rules() {
		if !tested[r.ID()] {
			untested = append(untested, fmt.Sprintf("%s (level %d)", r.ID(), r.Level()))
		}
	}
	fmt.Fprintf(stdout, "%s: %d passed, %d failed\n", label, passed, failed)
	if len(untested) > 0 {
		fmt.Fprintf(stdout, "rules without tests: %s\n", strings.Join(untested, ", "))
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// decodeTestInput turns an inline test case into an event with the real
// decoders: an `event:` mapping through the wazuh-json decoder, a `log:`
// line through the decoder its type (or its content) selects.
// warn, when not nil, receives the decoders' warnings.
func (e *Engine) decodeTestInput(in rules.TestInput, warn func(error)) (*event.Event, error) {
	origin := event.Origin{Path: in.File, Line: in.Line, Type: in.Type}
	data := []byte(in.Log)
	if in.Event != nil {
		origin.Type = event.LogTypeWazuhJSON
		data = in.Event
	}
	st, err := e.decoders.Open(origin, bytes.NewReader(data), decoders.OpenOptions{Symbols: e.rules.Symbols(), OpenTable: e.opts.OpenTable, OnWarning: warn})
	if err != nil {
		return nil, err
	}
	ev := &event.Event{}
	switch err := st.Next(ev); err {
	case nil:
		return ev.Clone(), nil
	case io.EOF:
		return nil, errors.New("the input decodes to no event")
	default:
		return nil, testInputError(in, err)
	}
}

// testInputError names where in a test's input a decoder's error is: the
// decoders number the input's own lines, which are not the rule file's.
func testInputError(in rules.TestInput, err error) error {
	what := inputLines(in)
	var re *decoders.RecordError
	if errors.As(err, &re) && re.Path == in.File {
		return fmt.Errorf("%s %d: %s", what, re.Line, re.Reason)
	}
	var se *decoders.StreamError
	if errors.As(err, &se) && se.Path == in.File && se.Line > 0 && se.RowGroup == 0 {
		return fmt.Errorf("%s %d: %w", what, se.Line, se.Err)
	}
	return err
}

// inputLines names the lines of a test's input in messages.
func inputLines(in rules.TestInput) string {
	if in.Event != nil {
		return "event line"
	}
	return "log line"
}

// cutPosition splits a decoder's message "path:line: rest"; ok is false
// for a message without that prefix.
func cutPosition(msg, path string) (line, rest string, ok bool) {
	if after, found := strings.CutPrefix(msg, path+":"); found {
		if i := strings.Index(after, ": "); i > 0 && strings.Trim(after[:i], "0123456789") == "" {
			return after[:i], after[i+2:], true
		}
	}
	return "", msg, false
}

func withDefaults(o Options) Options {
	if o.ManagerName == "" {
		o.ManagerName = "vpcalertd"
	}
	return o
}

// splitErrors lists the errors joined in err, one line each.
func splitErrors(err error) []string {
	var out []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
