package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// Sentinel errors callers can test with errors.Is.
var (
	ErrDuplicateID   = errors.New("duplicate rule id")
	ErrUnknownParent = errors.New("unknown parent rule")
	ErrCycle         = errors.New("rule parents form a cycle")
	ErrTemplate      = errors.New("bad description template")
	ErrUnknownPack   = errors.New("unknown pack")
	// ErrPackParent is wrapped when a rule's parent or correlation target
	// is not in the rule's own pack (or a stock rule's is in a pack).
	ErrPackParent = errors.New("parent in another pack")
)

// PackAll in Options.DisabledPacks switches every pack off, leaving the
// stock (Wazuh) rules alone.
const PackAll = "all"

// compliancePrefixes are the group prefixes Wazuh moves into their own
// alert arrays (docs/wazuh-compat.md, "Groups, compliance and MITRE"), in Wazuh's check order.
var compliancePrefixes = []struct{ prefix, name string }{
	{"pci_dss_", "pci_dss"}, {"cis_", "cis"}, {"gdpr_", "gdpr"}, {"gpg13_", "gpg13"},
	{"hipaa_", "hipaa"}, {"nist_800_53_", "nist_800_53"}, {"tsc_", "tsc"},
}

// MitreSpec is one technique of mitre.yml.
type MitreSpec struct {
	Technique string   `yaml:"technique"`
	Tactics   []string `yaml:"tactics"`
}

// Load reads, validates and compiles the layers. Every problem is
// returned at once (specfile.Join), each a *specfile.Error that reads
// "file:line:col: rule ID: field: …".
func Load(layers []Layer, opts Options) (*Set, error) {
	if opts.LogAlertLevel == 0 {
		opts.LogAlertLevel = 3
	}
	if opts.EmailAlertLevel == 0 {
		opts.EmailAlertLevel = 12
	}
	s := &Set{
		opts:  opts,
		byID:  map[string]*Rule{},
		syms:  event.NewSymbols(),
		lists: map[string]*List{},
	}
	var errs []error
	mitre := map[string]MitreSpec{}
	for _, l := range layers {
		if err := loadLists(l, s.lists); err != nil {
			errs = append(errs, err)
		}
		if err := loadMitre(l, mitre); err != nil {
			errs = append(errs, err)
		}
	}
	h := newHelperEnv(s.lists)
	h.loading = true
	s.helpers = h
	defer func() { h.loading = false }()
	ld := &loader{set: s, ce: newCompileEnv(s.syms, h), mitre: mitre, packs: map[string]bool{}, dropped: map[string]string{}}
	s.ce = ld.ce
	for _, l := range layers {
		errs = append(errs, ld.loadLayer(l)...)
	}
	if err := ld.checkPacks(); err != nil {
		errs = append(errs, err)
	}
	for _, name := range sortedNames(h.listErrs) {
		errs = append(errs, h.listErrs[name])
	}
	if len(errs) == 0 {
		errs = append(errs, ld.link()...)
	}
	if len(errs) > 0 {
		return nil, specfile.Join(append(errs, s.fieldErrs...)...)
	}
	s.buildGroups()
	s.st = s.newState()
	return s, nil
}

type loader struct {
	set   *Set
	ce    *compileEnv
	mitre map[string]MitreSpec
	where map[*Rule]string // "file:line" of the first definition
	// packs holds every pack name seen in a file, enabled or not.
	packs map[string]bool
	// dropped maps the ids of the rules of disabled packs to their pack.
	dropped map[string]string
}

// disabled reports whether Options.DisabledPacks switches pack off.
func (ld *loader) disabled(pack string) bool {
	for _, p := range ld.set.opts.DisabledPacks {
		if p == pack || p == PackAll {
			return true
		}
	}
	return false
}

// checkPacks rejects DisabledPacks names that no file declares.
func (ld *loader) checkPacks() error {
	var known []string
	for p := range ld.packs {
		known = append(known, p)
	}
	sortStrings(known)
	for _, p := range ld.set.opts.DisabledPacks {
		if p != PackAll && !ld.packs[p] {
			return fmt.Errorf("%w %q, expected one of %v or %q", ErrUnknownPack, p, known, PackAll)
		}
	}
	return nil
}

func loadMitre(l Layer, into map[string]MitreSpec) error {
	name := l.MitreFile
	if name == "" {
		name = path.Join(path.Dir(path.Clean(l.RulesDir)), "mitre.yml")
		if _, err := fs.Stat(l.FS, name); err != nil {
			return nil //nolint:nilerr // the default file is optional
		}
	}
	data, err := fs.ReadFile(l.FS, name)
	if err != nil {
		return inFile(l.file(name), err)
	}
	m := map[string]MitreSpec{}
	if err := specfile.DecodeFile(l.file(name), data, &m); err != nil {
		return err
	}
	for k, v := range m {
		into[k] = v
	}
	return nil
}

func (ld *loader) loadLayer(l Layer) []error {
	entries, err := fs.ReadDir(l.FS, l.RulesDir)
	if err != nil {
		return []error{inFile(l.file(l.RulesDir), err)}
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !(strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml")) {
			continue
		}
		p := path.Join(l.RulesDir, n)
		f := l.file(p)
		data, err := fs.ReadFile(l.FS, p)
		if err != nil {
			errs = append(errs, inFile(f, err))
			continue
		}
		for _, err := range ld.loadFile(f, data) {
			errs = append(errs, inFile(f, err))
		}
	}
	return errs
}

func (ld *loader) loadFile(file string, data []byte) []error {
	specs, fspec, errs := parseFile(file, data)
	if fspec == nil {
		return errs
	}
	if fspec.Pack != "" {
		ld.packs[fspec.Pack] = true
	}
	for _, rs := range specs {
		errs = append(errs, ld.addRule(file, data, fspec, rs)...)
	}
	return errs
}

// addRule validates and compiles one spec, adding a rule or overwriting
// an earlier one in place. A rule of a disabled pack (and an overwrite of
// one) is dropped without being compiled.
func (ld *loader) addRule(file string, data []byte, fspec *FileSpec, rs *RuleSpec) []error {
	old, keep, err := ld.admit(fspec, rs)
	if err != nil {
		return []error{err}
	}
	if !keep {
		return nil
	}
	r, errs := ld.compile(file, data, fspec, rs, old)
	if len(errs) > 0 {
		return errs
	}
	if err := ld.place(file, rs, r, old); err != nil {
		return []error{err}
	}
	return nil
}

// admit decides what a spec's id and overwrite flag make of it: a new
// rule (old nil), an overwrite of old, a rule dropped with its disabled
// pack (keep false), or an error.
func (ld *loader) admit(fspec *FileSpec, rs *RuleSpec) (old *Rule, keep bool, err error) {
	if rs.ID == "" || strings.TrimLeft(rs.ID, "0123456789") != "" {
		return nil, false, rs.at("id", fmt.Errorf("rule id %q is not a string of digits", rs.ID))
	}
	if p, dropped := ld.dropped[rs.ID]; dropped {
		if rs.Overwrite && (fspec.Pack == "" || fspec.Pack == p) {
			return nil, false, nil
		}
		return nil, false, rs.at("id", fmt.Errorf("%w (a rule of the disabled pack %s)", ErrDuplicateID, p))
	}
	if fspec.Pack != "" && ld.disabled(fspec.Pack) && !rs.Overwrite {
		ld.dropped[rs.ID] = fspec.Pack
		return nil, false, nil
	}
	old = ld.set.byID[rs.ID]
	switch {
	case old != nil && !rs.Overwrite:
		return nil, false, rs.at("id", fmt.Errorf("%w (first defined at %s); use overwrite: true to replace it", ErrDuplicateID, ld.where[old]))
	case old == nil && rs.Overwrite:
		return nil, false, rs.at("overwrite", errors.New("no earlier rule with this id to overwrite"))
	case old != nil && fspec.Pack != "" && fspec.Pack != old.pack:
		return nil, false, rs.at("overwrite", fmt.Errorf("overwrite cannot move rule %s from pack %q to pack %q", rs.ID, old.pack, fspec.Pack))
	}
	return old, true, nil
}

// compile checks and compiles every key of a spec, returning every
// problem at once. Field problems (checkFields) are kept apart on the
// set: they do not stop the rule from loading.
func (ld *loader) compile(file string, data []byte, fspec *FileSpec, rs *RuleSpec, old *Rule) (*Rule, []error) {
	s := ld.set
	var errs []error
	fail := func(key string, err error) { errs = append(errs, rs.at(key, err)) }
	r := &Rule{id: rs.ID, file: file, line: rs.Node.Line, description: rs.Description, spec: rs, pack: fspec.Pack}
	if old != nil {
		r.pack = old.pack
	}
	ld.header(r, rs, fail)
	r.allGroups, r.groups, r.compliance = splitGroups(fspec.Group, rs.Groups)
	if len(rs.Mitre) > 0 {
		m, err := ld.resolveMitre(rs.Mitre)
		if err != nil {
			fail("mitre", err)
		}
		r.mitre = m
	}
	if strings.TrimSpace(rs.Condition) != "" {
		cond, xerrs := ld.ce.compileCondition(rs.Condition)
		for _, xe := range xerrs {
			errs = append(errs, conditionError(rs, data, xe))
		}
		r.cond = cond
	}
	for _, id := range rs.IfSID {
		if strings.TrimLeft(id, "0123456789") != "" || id == "" {
			fail("if_sid", fmt.Errorf("%q is not a rule id", id))
		}
	}
	r.ifSID = rs.IfSID
	r.ifMatched = rs.IfMatchedSID
	errs = append(errs, ld.correlation(r, rs)...)
	errs = append(errs, ld.aggregate(r, rs)...)
	for _, n := range rs.ExpectFields {
		if strings.Trim(n, ".*") == "" || strings.Contains(n, "..") {
			fail("expect_fields", fmt.Errorf("%q is not a field name", n))
		}
	}
	for _, fe := range ld.checkFields(r, rs, fspec, data) {
		s.fieldErrs = append(s.fieldErrs, inFile(file, fe))
	}
	return r, errs
}

// header checks a rule's level, options and description.
func (ld *loader) header(r *Rule, rs *RuleSpec, fail func(key string, err error)) {
	if rs.Level == nil {
		fail("level", errors.New("missing level"))
	} else {
		r.level = *rs.Level
		if r.level < 0 || r.level > 16 {
			fail("level", fmt.Errorf("level %d is outside 0–16", r.level))
		}
	}
	for _, o := range rs.Options {
		if !r.opts.set(o) {
			fail("options", fmt.Errorf("unknown option %q, expected one of %v", o, optionNames))
		}
	}
	if rs.Description == "" {
		fail("description", errors.New("missing description"))
	} else if t, err := parseTemplate(rs.Description, ld.set.syms); err != nil {
		fail("description", fmt.Errorf("%w: %w", ErrTemplate, err))
	} else {
		r.tmpl = t
	}
}

// place puts a compiled rule in the set: an overwrite takes the old
// rule's place in the tree (and may not change its if_sid), a new rule
// goes last.
func (ld *loader) place(file string, rs *RuleSpec, r, old *Rule) error {
	s := ld.set
	if old != nil {
		if len(rs.IfSID) > 0 && !reflect.DeepEqual([]string(rs.IfSID), old.ifSID) {
			return rs.at("if_sid", errors.New("overwrite cannot change if_sid (the rule keeps its place in the tree)"))
		}
		r.index, r.sortLevel, r.ifSID = old.index, old.sortLevel, old.ifSID
		if r.ifMatched == "" && old.ifMatched != "" && r.corr == nil {
			r.ifMatched = old.ifMatched
		}
		*old = *r
		return nil
	}
	r.index = len(s.rules)
	r.sortLevel = r.level
	s.rules = append(s.rules, r)
	s.byID[r.id] = r
	if ld.where == nil {
		ld.where = map[*Rule]string{}
	}
	ld.where[r] = fmt.Sprintf("%s:%d", file, rs.Node.Line)
	return nil
}

// correlation validates the frequency keys (docs/wazuh-compat.md, "Rule loading and the tree").
func (ld *loader) correlation(r *Rule, rs *RuleSpec) []error {
	var errs []error
	fail := func(key string, err error) { errs = append(errs, rs.at(key, err)) }
	corrKeys := rs.Frequency != 0 || rs.Timeframe != 0 || len(rs.SameField) > 0 || len(rs.DifferentField) > 0 || rs.Time != ""
	if rs.IfMatchedSID == "" {
		if corrKeys {
			fail("if_matched_sid", errors.New("frequency, timeframe, same_field, different_field and time need if_matched_sid"))
		}
		if rs.Ignore < 0 {
			fail("ignore", errors.New("ignore must be ≥ 0 seconds"))
		}
		r.ignore = int64(rs.Ignore)
		return errs
	}
	if strings.TrimLeft(rs.IfMatchedSID, "0123456789") != "" {
		fail("if_matched_sid", fmt.Errorf("%q is not a rule id", rs.IfMatchedSID))
	}
	k := &correlation{frequency: rs.Frequency, timeframe: int64(rs.Timeframe)}
	if k.frequency == 0 {
		fail("frequency", errors.New("if_matched_sid needs a frequency"))
	} else if k.frequency < 2 || k.frequency > 9999 {
		fail("frequency", fmt.Errorf("frequency %d is outside 2–9999", k.frequency))
	}
	k.count = k.frequency - 2
	if k.timeframe == 0 {
		k.timeframe = 360 // analysisd.default_timeframe
	} else if k.timeframe < 0 {
		fail("timeframe", errors.New("timeframe must be > 0 seconds"))
	}
	switch rs.Time {
	case "", "processing":
		k.base = TimeProcessing
	case "event":
		k.base = TimeEvent
	default:
		fail("time", fmt.Errorf("unknown time %q, expected one of [processing event]", rs.Time))
	}
	for _, f := range rs.SameField {
		k.same = append(k.same, corrField{name: f, sym: ld.set.syms.Intern(f)})
	}
	for _, f := range rs.DifferentField {
		k.diff = append(k.diff, corrField{name: f, sym: ld.set.syms.Intern(f)})
	}
	if rs.Ignore < 0 {
		fail("ignore", errors.New("ignore must be ≥ 0 seconds"))
	}
	r.ignore = int64(rs.Ignore)
	r.timeBase = k.base
	r.corr = k
	return errs
}

func (ld *loader) resolveMitre(ids []string) (*Mitre, error) {
	m := &Mitre{}
	seen := map[string]bool{}
	for _, id := range ids {
		t, ok := ld.mitre[id]
		if !ok {
			return nil, fmt.Errorf("unknown MITRE technique %q (add it to mitre.yml)", id)
		}
		m.IDs = append(m.IDs, id)
		m.Techniques = append(m.Techniques, t.Technique)
		for _, tac := range t.Tactics {
			if !seen[tac] {
				seen[tac] = true
				m.Tactics = append(m.Tactics, tac)
			}
		}
	}
	return m, nil
}

// splitGroups joins the file group and the rule's groups and moves
// compliance tokens into their arrays in order of first appearance.
func splitGroups(fileGroup, groups []string) (all, plain []string, comp []Compliance) {
	for _, g := range append(append([]string{}, fileGroup...), groups...) {
		for _, tok := range strings.Split(g, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			all = append(all, tok)
			name, val := "", ""
			for _, p := range compliancePrefixes {
				if strings.HasPrefix(tok, p.prefix) {
					name, val = p.name, tok[len(p.prefix):]
					break
				}
			}
			if name == "" {
				plain = append(plain, tok)
				continue
			}
			i := 0
			for i < len(comp) && comp[i].Name != name {
				i++
			}
			if i == len(comp) {
				comp = append(comp, Compliance{Name: name})
			}
			comp[i].Values = append(comp[i].Values, val)
		}
	}
	return all, plain, comp
}

// conditionError places an expr error in the .yml file: a block scalar's
// text starts on the line after its key, a flow scalar on the key's line.
func conditionError(rs *RuleSpec, data []byte, xe *exprError) error {
	e := &specfile.Error{Subject: ruleSubject(rs.ID), Key: "condition", Err: errors.New(xe.String())}
	e.Line, e.Column = rs.Node.Line, rs.Node.Column
	if n := specfile.Value(rs.Node, "condition"); n != nil {
		e.Line, e.Column = specfile.ValuePos(data, n, xe.line, xe.col)
	}
	return e
}

// link resolves parents, rejects cycles and orders siblings.
func (ld *loader) link() []error {
	s := ld.set
	var errs []error
	for _, r := range s.rules {
		parents := r.ifSID
		if len(parents) == 0 && r.ifMatched != "" {
			parents = []string{r.ifMatched}
		}
		r.parents = nil
		for _, id := range parents {
			p, ok := s.byID[id]
			if !ok {
				key := "if_sid"
				if len(r.ifSID) == 0 {
					key = "if_matched_sid"
				}
				errs = append(errs, inFile(r.file, r.spec.at(key, fmt.Errorf("%w %s", ErrUnknownParent, id))))
				continue
			}
			if p.pack != r.pack {
				key := "if_sid"
				if len(r.ifSID) == 0 {
					key = "if_matched_sid"
				}
				errs = append(errs, inFile(r.file, r.spec.at(key, fmt.Errorf("%w: rule %s is in %s, rule %s in %s",
					ErrPackParent, r.id, packLabel(r.pack), p.id, packLabel(p.pack)))))
				continue
			}
			r.parents = append(r.parents, p)
		}
		if r.corr != nil {
			t, ok := s.byID[r.ifMatched]
			if !ok {
				if len(r.ifSID) > 0 {
					errs = append(errs, inFile(r.file, r.spec.at("if_matched_sid", fmt.Errorf("%w %s", ErrUnknownParent, r.ifMatched))))
				}
				continue
			}
			if t.pack != r.pack {
				errs = append(errs, inFile(r.file, r.spec.at("if_matched_sid", fmt.Errorf("%w: rule %s is in %s, rule %s in %s",
					ErrPackParent, r.id, packLabel(r.pack), t.id, packLabel(t.pack)))))
				continue
			}
			r.corr.target = t
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Cycles: depth-first over parents.
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(s.rules))
	var visit func(r *Rule) bool
	visit = func(r *Rule) bool {
		switch color[r.index] {
		case grey:
			return false
		case black:
			return true
		}
		color[r.index] = grey
		for _, p := range r.parents {
			if !visit(p) {
				return false
			}
		}
		color[r.index] = black
		return true
	}
	for _, r := range s.rules {
		if color[r.index] == white && !visit(r) {
			errs = append(errs, inFile(r.file, r.spec.at("if_sid", fmt.Errorf("%w through rule %s", ErrCycle, r.id))))
			return errs
		}
	}
	// Sibling order (rules_list.c): level 0 sorts as the highest; a new
	// child goes before the first sibling with a lower level, so ties keep
	// load order.
	s.root = &siblings{}
	s.packRoots = &siblings{}
	for _, r := range s.rules {
		if len(r.parents) == 0 && r.pack != "" {
			// Pack roots are independent passes, run in load order.
			s.packRoots.rules = append(s.packRoots.rules, r)
			continue
		}
		if len(r.parents) == 0 {
			s.root.insert(r)
			continue
		}
		for _, p := range r.parents {
			if p.kids == nil {
				p.kids = &siblings{}
			}
			p.kids.insert(r)
		}
	}
	return nil
}

// packLabel names a pack in messages.
func packLabel(pack string) string {
	if pack == "" {
		return "the stock rules (no pack)"
	}
	return "pack " + pack
}

func sortStrings(s []string) { sort.Strings(s) }

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// itoa is strconv.Itoa, kept short for messages.
func itoa(i int) string { return strconv.Itoa(i) }
