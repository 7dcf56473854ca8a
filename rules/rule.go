package rules

import (
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/expr-lang/expr/vm"

	"github.com/vpcalertd/vpcalertd/event"
)

// Options configure a Set. Zero values get Wazuh's ossec.conf defaults.
type Options struct {
	LogAlertLevel   int // alerts below this level are not written; default 3
	EmailAlertLevel int // Match.Mail from this level on; default 12
	// DisabledPacks names the packs (a rule file's `pack:` key) whose rules
	// are not loaded; PackAll ("all") switches every pack off. An unknown
	// name is a load error.
	DisabledPacks []string
	// OnRuntimeError, when set, is called with the first error of each
	// rule's condition at run time (a type mismatch, a helper given a
	// value it cannot read). Every error is counted (Rule.RuntimeErrors)
	// and the evaluation goes on as if the condition were false. It may
	// be called from any goroutine that evaluates.
	OnRuntimeError func(r *Rule, err error)
	// Fields is what the decoders can produce (decoders.Set.Schema). When
	// set, every field a rule reads is checked against it and the rule's
	// expect_fields; the unknown ones are listed by Set.FieldErrors (they
	// do not fail Load). Nil skips the check.
	Fields *event.Schema
}

// Layer is one ruleset directory tree: rule files (*.yml, *.yaml) under
// RulesDir and lists under ListsDir of FS. Layers load in order (the
// built-in ruleset first, then user layers); a later layer can add rules,
// replace rules with `overwrite: true`, and replace lists of the same name.
// MitreFile names the MITRE ATT&CK table of the layer; empty means
// "mitre.yml" beside RulesDir (path.Dir(RulesDir)), when it exists.
type Layer struct {
	FS        fs.FS
	RulesDir  string
	ListsDir  string
	MitreFile string
	// Name prefixes the layer's file paths in every message and in
	// Rule.File, so that a message says which layer a file is in:
	// "built-in:" gives "built-in:rules/0350-amazon_rules.yml", "my-rules/"
	// gives "my-rules/rules/0950-db.yml". Empty: the paths as in FS.
	Name string
}

// file returns the path of a file of the layer as messages name it.
func (l Layer) file(p string) string { return l.Name + p }

// Compliance is one compliance array of an alert (docs/wazuh-compat.md, "Groups, compliance and MITRE"):
// Name is "pci_dss", "gdpr", …; Values are the group tokens without the
// prefix, in file order.
type Compliance struct {
	Name   string
	Values []string
}

// Mitre is a rule's rule.mitre object: the technique ids and the tactics
// and technique names they resolve to in mitre.yml.
type Mitre struct {
	IDs        []string
	Tactics    []string
	Techniques []string
}

// TimeBase says which clock a correlation window uses.
type TimeBase uint8

// Time bases for correlation windows.
const (
	// TimeProcessing measures windows on the processing clock (the now
	// passed to Eval), as Wazuh does.
	TimeProcessing TimeBase = iota
	// TimeEvent measures windows on the events' own times (event.Event.Time).
	TimeEvent
)

// Rule is a compiled rule. It is immutable after Load; per-rule counters
// live in the Set.
type Rule struct {
	id          string
	level       int
	sortLevel   int // the level the rule was first loaded with (tree order)
	index       int
	file        string
	line        int
	description string
	tmpl        template
	groups      []string // plain groups
	allGroups   []string
	compliance  []Compliance
	mitre       *Mitre
	opts        ruleOptions
	cond        *condition
	ifSID       []string
	ifMatched   string
	parents     []*Rule
	kids        *siblings
	corr        *correlation
	ignore      int64
	timeBase    TimeBase
	agg         *aggregate
	pack        string // "" for the stock tree
	spec        *RuleSpec
}

type ruleOptions struct {
	noFullLog, noCounter, alertByEmail, noEmailAlert, noLog, logAlert, noAlert, noAR bool
}

var optionNames = []string{"no_full_log", "no_counter", "alert_by_email", "no_email_alert", "no_log", "log_alert", "noalert", "no_ar"}

func (o *ruleOptions) set(name string) bool {
	switch name {
	case "no_full_log":
		o.noFullLog = true
	case "no_counter":
		o.noCounter = true
	case "alert_by_email":
		o.alertByEmail = true
	case "no_email_alert":
		o.noEmailAlert = true
	case "no_log":
		o.noLog = true
	case "log_alert":
		o.logAlert = true
	case "noalert":
		o.noAlert = true
	case "no_ar":
		o.noAR = true
	default:
		return false
	}
	return true
}

// ID returns the rule id, a string of digits.
func (r *Rule) ID() string { return r.id }

// Level returns the level, 0–16.
func (r *Rule) Level() int { return r.level }

// Description returns the raw description template.
func (r *Rule) Description() string { return r.description }

// Groups returns the plain groups (file group first), compliance tokens
// removed.
func (r *Rule) Groups() []string { return r.groups }

// AllGroups returns every group token, compliance tokens included, in order.
func (r *Rule) AllGroups() []string { return r.allGroups }

// Compliance returns the compliance arrays in order of first appearance.
func (r *Rule) Compliance() []Compliance { return r.compliance }

// Mitre returns the rule's MITRE object, or nil.
func (r *Rule) Mitre() *Mitre { return r.mitre }

// NoFullLog reports the no_full_log option.
func (r *Rule) NoFullLog() bool { return r.opts.noFullLog }

// NoCounter reports the no_counter option (the alert omits firedtimes).
func (r *Rule) NoCounter() bool { return r.opts.noCounter }

// Frequency returns the configured frequency, 0 for non-correlation rules.
func (r *Rule) Frequency() int {
	if r.corr == nil {
		return 0
	}
	return r.corr.frequency
}

// Pack returns the pack the rule belongs to, "" for a stock rule.
func (r *Rule) Pack() string { return r.pack }

// File returns the file the rule was (last) defined in.
func (r *Rule) File() string { return r.file }

// Line returns the line of the rule's definition in File.
func (r *Rule) Line() int { return r.line }

// Index returns a dense index (0 ≤ Index < len(Set.Rules())) for per-rule
// caches.
func (r *Rule) Index() int { return r.index }

// Parents returns the if_sid parents (nil for a root).
func (r *Rule) Parents() []*Rule { return r.parents }

// Children returns the children in evaluation order.
func (r *Rule) Children() []*Rule {
	if r.kids == nil {
		return nil
	}
	return r.kids.rules
}

// Fields returns the field names the rule refers to (condition,
// same_field/different_field, description), lower case, sorted.
func (r *Rule) Fields() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		n = strings.ToLower(n)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if r.cond != nil {
		for _, f := range r.cond.fieldNames {
			add(f)
		}
	}
	if r.corr != nil {
		for _, f := range r.corr.same {
			add(f.name)
		}
		for _, f := range r.corr.diff {
			add(f.name)
		}
	}
	for _, s := range r.tmpl {
		if s.field {
			add(s.text)
		}
	}
	sortStrings(out)
	return out
}

// TestCounts returns the number of inline match and no_match cases.
func (r *Rule) TestCounts() (match, noMatch int) {
	if t := r.spec.Tests; t != nil {
		return len(t.Match), len(t.NoMatch)
	}
	return 0, 0
}

// Fast reports whether the condition runs as compiled Go closures rather
// than on the expr VM.
func (r *Rule) Fast() bool { return r.cond == nil || r.cond.typed }

// RuntimeErrors returns how many times the condition failed at run time
// (each such evaluation counts as "no match").
func (r *Rule) RuntimeErrors() int64 {
	if r.cond == nil {
		return 0
	}
	return r.cond.errors.Load()
}

// RuntimeErrors returns, by rule id, how many times each rule's condition
// failed at run time; rules without an error are left out.
func (s *Set) RuntimeErrors() map[string]int64 {
	out := map[string]int64{}
	for _, r := range s.rules {
		if n := r.RuntimeErrors(); n > 0 {
			out[r.id] = n
		}
	}
	return out
}

// Set is a loaded ruleset. Eval is safe for concurrent use; the per-rule
// counters, ignore times and correlation memory are the only shared mutable
// state.
type Set struct {
	opts  Options
	rules []*Rule
	byID  map[string]*Rule
	root  *siblings
	// packRoots are the top-level rules of the packs, in load order; each
	// is evaluated on its own after the stock tree (EvalAll).
	packRoots *siblings
	groups    int // number of sibling groups
	memoSlots int // number of disc fields over all groups (memo maps)
	syms      *event.Symbols
	lists     map[string]*List
	helpers   *helperEnv
	ce        *compileEnv // compiles the parts of conditions that explanations try alone
	vms       sync.Pool
	evals     sync.Pool
	st        *state
	// fieldErrs are the references to unknown fields found at load.
	fieldErrs []error
}

// FieldErrors returns every reference to a field that neither the
// decoders (Options.Fields) nor the rule's expect_fields declare, each
// "file:line:col: rule ID: key: unknown field NAME, did you mean …?" and
// wrapping ErrUnknownField. Such a condition can never be true: `ruleset
// check` fails on them, the other commands warn.
func (s *Set) FieldErrors() []error { return s.fieldErrs }

// state is the mutable part of a Set: RunTests gives each test case a
// fresh one.
type state struct {
	fired     []atomic.Int64 // per rule index
	ignoredAt []atomic.Int64 // per rule index: unix seconds of the last ignore start, 0 = never
	mem       []*memory      // per rule index: events that alerted as it, if a rule correlates on it
	agg       []*aggState    // per rule index: the windows of an aggregate rule
}

func (s *Set) newState() *state {
	st := &state{
		fired:     make([]atomic.Int64, len(s.rules)),
		ignoredAt: make([]atomic.Int64, len(s.rules)),
		mem:       make([]*memory, len(s.rules)),
		agg:       make([]*aggState, len(s.rules)),
	}
	for _, r := range s.rules {
		if r.agg != nil {
			st.agg[r.index] = newAggState(r.agg)
		}
	}
	for _, r := range s.rules {
		if r.corr != nil {
			t := r.corr.target
			if st.mem[t.index] == nil {
				st.mem[t.index] = newMemory(s.memFields(t))
			}
		}
	}
	return st
}

// Symbols returns the field-name table of the ruleset. Decoders set
// event.Field.Sym from it (Symbols.Lookup of each field name) so that rules
// find fields by integer. An event must either carry the Sym of every field
// (NoSym for names no rule refers to) or no Sym at all: events whose fields
// are all NoSym are resolved by name, case-insensitively, at some cost.
func (s *Set) Symbols() *event.Symbols { return s.syms }

// Rules returns every rule in load order.
func (s *Set) Rules() []*Rule { return s.rules }

// Rule returns the rule with the given id, or nil.
func (s *Set) Rule(id string) *Rule { return s.byID[id] }

// Roots returns the top-level rules in evaluation order.
func (s *Set) Roots() []*Rule { return s.root.rules }

// PackRoots returns the top-level rules of the packs in load order; EvalAll
// evaluates each of them as a tree of its own after the stock tree.
func (s *Set) PackRoots() []*Rule { return s.packRoots.rules }

// Packs returns the names of the loaded packs, sorted.
func (s *Set) Packs() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.rules {
		if r.pack != "" && !seen[r.pack] {
			seen[r.pack] = true
			out = append(out, r.pack)
		}
	}
	sortStrings(out)
	return out
}

// Lists returns the loaded lists, sorted by name.
func (s *Set) Lists() []*List {
	out := make([]*List, 0, len(s.lists))
	for _, name := range sortedNames(s.lists) {
		out = append(out, s.lists[name])
	}
	return out
}

// ListWarnings returns the problems of the loaded lists that do not stop
// loading — lines Wazuh skips, duplicate keys — each a *ListError at its
// file and line, in list name order.
func (s *Set) ListWarnings() []error {
	var out []error
	for _, l := range s.Lists() {
		out = append(out, l.warnings...)
	}
	return out
}

// List returns the list of the given name, or nil.
func (s *Set) List(name string) *List { return s.lists[name] }

// Match is the result of evaluating one event.
type Match struct {
	// Rule is the final rule, nil when nothing matched. A final rule of
	// level 0 means "no alert".
	Rule *Rule
	// Alert says whether Wazuh would write the alert (level ≥
	// log_alert_level, no_log unset).
	Alert bool
	// Mail is rule.mail: level ≥ email_alert_level or alert_by_email.
	Mail bool
	// Firedtimes is the final rule's counter after this match.
	Firedtimes int
	// Frequency is rule.frequency for a correlation rule, else 0.
	Frequency int
	// Description is the expanded description of the final rule.
	Description []byte
	// PreviousOutput is the full_log of the counted previous events, newest
	// first, joined by "\n" (nil unless a correlation rule fired with at
	// least two of them).
	PreviousOutput []byte
}

// TraceStep is one rule tried during an evaluation, for logtest -v.
type TraceStep struct {
	Rule  *Rule
	Depth int // 0 for top-level rules
	// Matched says whether the rule's own tests passed (its children are
	// the following steps with Depth+1).
	Matched bool
	// Failed is the source text of the smallest condition part that was
	// false, or a note such as "frequency: 3 of 6 previous events" for
	// correlation.
	Failed string
	// Values are the fields that part read, with their values.
	Values []FieldValue
	// cond says Failed is a condition part (not a correlation note).
	cond bool
	// Err is a run-time error of the condition.
	Err error
	// Pack is the pack of the pass the step belongs to ("" for the stock
	// tree); a pack pass starts with a step of Depth 0.
	Pack string
}

// Reason says why a step did not match: `aws.dstport in ["22"] is false:
// aws.dstport = "443"`, a correlation note, or the run-time error.
func (s TraceStep) Reason() string {
	switch {
	case s.Err != nil:
		return "error: " + s.Err.Error()
	case s.Matched:
		return ""
	case !s.cond:
		return s.Failed
	}
	var b strings.Builder
	b.WriteString(s.Failed)
	b.WriteString(" is false")
	for i, v := range s.Values {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// Trace collects the steps of one Eval.
type Trace struct {
	Steps []TraceStep
}

// vmPool returns a VM for the fallback path.
func (s *Set) getVM() *vm.VM {
	if v, ok := s.vms.Get().(*vm.VM); ok {
		return v
	}
	return &vm.VM{}
}

// Fields returns every field name the ruleset refers to (conditions,
// same_field/different_field, descriptions), lower case, sorted: what the
// decoders must be able to produce.
func (s *Set) Fields() []string {
	out := make([]string, 0, s.syms.Len())
	for i := 0; i < s.syms.Len(); i++ {
		out = append(out, s.syms.Name(int32(i)))
	}
	sortStrings(out)
	return out
}
