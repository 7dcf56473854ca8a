package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/rules"
	"github.com/vpcalertd/vpcalertd/ruleset"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// Engine decodes raw streams, evaluates the rules and writes alerts. It is
// safe for concurrent use: several objects may be processed at once, sharing
// the rules' counters and correlation memory.
type Engine struct {
	opts     Options
	decoders *decoders.Set
	rules    *rules.Set
	frags    []ruleFrag // per rule, by rules.Rule.Index
	// alerts counts the alerts written per rule, by rules.Rule.Index.
	alerts  []atomic.Int64
	agent   []byte // "agent":{…},"manager":{…},
	cluster []byte // "cluster":{…}, or nothing
	offset  atomic.Int64
	workers sync.Pool // *worker
	batches sync.Pool // *batch
}

// New loads the ruleset and returns an Engine.
func New(opts Options) (*Engine, error) {
	if opts.Ruleset == nil {
		opts.Ruleset = ruleset.FS
	}
	if opts.ManagerName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		opts.ManagerName = h
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.LogAlertLevel == 0 {
		opts.LogAlertLevel = 3
	}
	if opts.EmailAlertLevel == 0 {
		opts.EmailAlertLevel = 12
	}
	if opts.OnError == nil {
		opts.OnError = func(error) {}
	}
	if opts.OnWarning == nil {
		onError := opts.OnError
		opts.OnWarning = func(err error) { onError(&Warning{Err: err}) }
	}
	// The decoders first: the rules are checked against what they produce.
	rsFS, rsName := rulesetFS(opts)
	dec, derr := decoders.Load(rsFS, "decoders")
	if derr != nil {
		derr = qualify(derr, rsName)
	}
	var schema *event.Schema
	if dec != nil {
		schema = dec.Schema()
	}
	rs, rerr := LoadRules(opts, schema)
	if derr != nil || rerr != nil {
		return nil, specfile.Join(derr, rerr)
	}
	for _, w := range rs.FieldErrors() {
		opts.OnWarning(w)
	}
	for _, w := range rs.ListWarnings() {
		opts.OnWarning(w)
	}
	e := &Engine{opts: opts, decoders: dec, rules: rs}
	e.agent, e.cluster = agentJSON(opts)
	e.offset.Store(opts.IDOffset)
	for _, r := range rs.Rules() {
		for len(e.frags) <= r.Index() {
			e.frags = append(e.frags, ruleFrag{})
		}
		e.frags[r.Index()] = newRuleFrag(r)
	}
	e.alerts = make([]atomic.Int64, len(e.frags))
	e.workers.New = func() any { return &worker{} }
	return e, nil
}

// LoadRules loads the rules of the ruleset and user layers in opts. When
// fields is not nil, the fields the rules read are checked against it
// (rules.Set.FieldErrors).
func LoadRules(opts Options, fields *event.Schema) (*rules.Set, error) {
	fsys, name := rulesetFS(opts)
	layers := []rules.Layer{{FS: fsys, RulesDir: "rules", ListsDir: "lists", Name: name}}
	for _, u := range opts.UserRulesets {
		layers = append(layers, userLayer(u))
	}
	ro := rules.Options{LogAlertLevel: opts.LogAlertLevel, EmailAlertLevel: opts.EmailAlertLevel,
		DisabledPacks: opts.DisabledPacks, Fields: fields}
	if warn := opts.OnWarning; warn != nil {
		ro.OnRuntimeError = func(r *rules.Rule, err error) {
			warn(&RuleError{Rule: r, Err: err})
		}
	}
	rs, err := rules.Load(layers, ro)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// rulesetFS returns the ruleset of opts and how messages name its files.
func rulesetFS(opts Options) (fs.FS, string) {
	if opts.Ruleset == nil || opts.Ruleset == fs.FS(ruleset.FS) {
		return ruleset.FS, builtinLayer
	}
	return opts.Ruleset, layerPrefix(opts.Ruleset)
}

// qualify prefixes the file of every positioned error in err (a decoders
// or rules load error) with the layer's name.
func qualify(err error, prefix string) error {
	if err == nil || prefix == "" {
		return err
	}
	errs := specfile.Flatten(err)
	for _, e := range errs {
		var se *specfile.Error
		if errors.As(e, &se) && se.File != "" {
			se.File = prefix + se.File
		}
	}
	return specfile.Join(errs...)
}

// userLayer reads a user directory laid out like the ruleset (rules/,
// lists/), or holding rule files at its top.
func userLayer(fsys fs.FS) rules.Layer {
	l := rules.Layer{FS: fsys, RulesDir: ".", ListsDir: "", Name: layerPrefix(fsys)}
	if st, err := fs.Stat(fsys, "rules"); err == nil && st.IsDir() {
		l.RulesDir = "rules"
	}
	if st, err := fs.Stat(fsys, "lists"); err == nil && st.IsDir() {
		l.ListsDir = "lists"
	}
	return l
}

// Warning is what Options.OnError receives for a warning when
// Options.OnWarning is not set: a problem of the ruleset that did not stop
// it from loading, or a rule's first run-time error. Callers tell it from a
// bad record with errors.As.
type Warning struct{ Err error }

func (w *Warning) Error() string { return "warning: " + w.Err.Error() }

// Unwrap returns the warning's error.
func (w *Warning) Unwrap() error { return w.Err }

// RuleError is a rule's condition failing at run time, reported once per
// rule (the later ones are counted: Engine.RuleErrors).
type RuleError struct {
	Rule *rules.Rule
	Err  error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("%s:%d: rule %s: condition failed at run time, counted as not matching "+
		"(later errors of this rule are only counted): %v", e.Rule.File(), e.Rule.Line(), e.Rule.ID(), e.Err)
}

// Unwrap returns the condition's error.
func (e *RuleError) Unwrap() error { return e.Err }

// RuleErrors returns, by rule id, how many evaluations of each rule's
// condition failed at run time (rules without errors are left out): the
// vpcalertd_rule_errors_total metric and replay's summary.
func (e *Engine) RuleErrors() map[string]int64 { return e.rules.RuntimeErrors() }

// Rules returns the loaded rules.
func (e *Engine) Rules() *rules.Set { return e.rules }

// Decoders returns the loaded decoders.
func (e *Engine) Decoders() *decoders.Set { return e.decoders }

// worker holds the per-goroutine state of Process's stages.
type worker struct {
	eval *rules.Evaluator
	// shared are the sequence stage's batches for a shared store: [0]
	// for a round, [1] for the round runInlineShared plans while [0]'s
	// call is in flight.
	shared    [2]*rules.SharedBatch
	data      event.DataWriter
	head      []byte
	tail      []byte
	line      []byte
	tsMilli   int64
	timestamp []byte
	idPre     idPrefix
}

// SinkError is returned by Process when the sink refused an alert: the
// alerts of the object are not all written, so it must not be marked read.
type SinkError struct{ Err error }

func (e *SinkError) Error() string { return "write alert: " + e.Err.Error() }

// Unwrap returns the sink's error.
func (e *SinkError) Unwrap() error { return e.Err }

// ProcessOptions are the options of one ProcessWith call.
type ProcessOptions struct {
	// Turn, when set, orders the object's records after those of the
	// objects with earlier turns of the same Order, for the rules that
	// keep state (Order). Process waits for it before its first record
	// reaches them and ends it when it returns.
	Turn *Turn
}

// Process reads one file or object from r, decodes it, evaluates the rules on
// every record and writes the alerts to sink in record order. Bad records are
// reported through Options.OnError, counted, and skipped. A stream that ends
// early (a truncated gzip stream, broken JSON) is reported too and returned
// as a *decoders.StreamError, after the alerts of everything read before it
// were written; a stream no decoder accepts is returned before anything is
// read; a sink error stops processing and is returned as a *SinkError.
//
// A Watch in ctx (WithWatch) sees the call's progress and bad records; an
// Object in ctx (WithObject) fixes the call's processing time and ids, and
// its Turn orders the call's records after those of earlier objects for
// the rules that keep state.
//
// The work is spread over min(GOMAXPROCS, 32) goroutines (pipeline.go;
// a call waiting for its Turn runs 2 until the turn comes); what is
// written, and in which order, does not depend on their number.
func (e *Engine) Process(ctx context.Context, origin event.Origin, r io.Reader, sink alert.Sink) (stats Stats, err error) {
	watch, _ := ctx.Value(watchKey{}).(*Watch)
	obj := objectOf(ctx)
	defer obj.Turn.Done()
	onError := e.opts.OnError
	if watch != nil && watch.OnError != nil {
		onError = watch.OnError
	}
	st, err := e.decoders.Open(origin, r, decoders.OpenOptions{Symbols: e.rules.Symbols(), OnWarning: onError, OpenTable: e.opts.OpenTable,
		Limits: e.opts.RecordLimits})
	if err != nil {
		return stats, err
	}
	p := &pipeline{e: e, ctx: ctx, st: st, sink: sink, obj: obj, watch: watch, onError: onError, stats: &stats, stop: make(chan struct{})}
	err = p.run()
	stats.Bytes = st.BytesRead()
	stats.Records = st.Records()
	watch.report(stats)
	if err == nil {
		err = p.streamErr
	}
	if err != nil && p.undo != nil && obj.Undo(err) {
		// Before the deferred Turn.Done: no other object's record has
		// reached the rules since the snapshot.
		if _, rerr := e.rules.Restore(p.undo); rerr != nil {
			err = errors.Join(err, fmt.Errorf("correlation state of the records read before the error not taken back: %w", rerr))
		}
	}
	return stats, err
}

// Watch is what one Process call reports while it runs, for a caller that
// logs the progress of long objects or handles bad records per object. Put
// it in Process's context with WithWatch.
type Watch struct {
	// Records, Bytes and Alerts are the call's Stats so far, updated after
	// each batch of records written and at the end.
	Records, Bytes, Alerts atomic.Int64
	// OnError, when set, receives the call's bad records instead of
	// Options.OnError.
	OnError func(err error)
}

func (w *Watch) report(s Stats) {
	if w == nil {
		return
	}
	w.Records.Store(s.Records)
	w.Bytes.Store(s.Bytes)
	w.Alerts.Store(s.Alerts)
}

type watchKey struct{}

// WithWatch returns ctx carrying w for Process.
func WithWatch(ctx context.Context, w *Watch) context.Context {
	return context.WithValue(ctx, watchKey{}, w)
}

// appendAlert renders an alert with its id into w.line and returns it
// (logtest). The offset comes from ids when set, else from the engine's
// counter.
func (e *Engine) appendAlert(w *worker, ev *event.Event, m *rules.Match, now time.Time, ids IDAllocator) []byte {
	w.head = e.appendHead(w.head[:0], w, m, now)
	w.tail = e.appendTail(w.tail[:0], w, ev, m)
	w.line = e.assemble(w.line[:0], w.head, w.tail, now.Unix(), ids, &w.idPre)
	return w.line
}

func digits(v int64) int {
	n := 1
	if v < 0 {
		n++
		v = -v
	}
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}
