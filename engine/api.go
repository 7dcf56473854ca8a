package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// Options configure an Engine. Zero values get defaults in New.
type Options struct {
	// Ruleset is the ruleset tree (decoders/, rules/, lists/, mitre.yml).
	// Nil means the built-in one.
	Ruleset fs.FS
	// UserRulesets are layered over Ruleset in order: their rules/ and
	// lists/ add rules and lists, and a rule with overwrite: true replaces
	// a built-in rule of the same id.
	UserRulesets []fs.FS
	// ManagerName is the manager and agent name in alerts; default: the host
	// name.
	ManagerName string
	// Agent is the agent in alerts; default {"id":"000","name":ManagerName},
	// as for Wazuh's wodle running on the manager. Set it to look like an
	// agent-forwarded event (docs/wazuh-compat.md, "The alerts.json line").
	Agent *Agent
	// Cluster, when set, adds the cluster object Wazuh writes when its
	// cluster is enabled and not hidden.
	Cluster *Cluster
	// Now is the processing clock; default time.Now.
	Now func() time.Time
	// Location is the time zone of alert timestamps; default UTC.
	Location *time.Location
	// IDOffset is where the offset half of alert ids ("<epoch>.<offset>")
	// starts, e.g. the size of the alerts file being appended to; Wazuh uses
	// the byte offset of the alert in its log.
	IDOffset int64
	// LogAlertLevel is the lowest level written (Wazuh's log_alert_level);
	// default 3.
	LogAlertLevel int
	// EmailAlertLevel sets rule.mail (Wazuh's email_alert_level); default 12.
	EmailAlertLevel int
	// DisabledPacks names the rule packs not to load (a rule file's `pack:`
	// key: vpc-cloudtrail, vpc-flow, or a user pack); "all" keeps only the
	// stock (Wazuh) rules. An unknown name is an error.
	DisabledPacks []string
	// RecordLimits bound each JSON record of a file (a CloudTrail
	// record): a larger one, or one with more fields or nested deeper, is
	// skipped without being held and reported through OnError as a
	// *decoders.RecordError wrapping the *ojson.LimitError. Zero fields
	// take ojson's defaults (1 MiB, 10,000 fields, 1000 levels).
	RecordLimits ojson.Limits
	// OnError receives every non-fatal problem, such as a bad line, already
	// formatted as "path:line: reason". Default: discard.
	OnError func(err error)
	// OnWarning receives, once, each problem of the ruleset that does not
	// stop it from loading — a rule reading a field no decoder produces —
	// and the first run-time error of each rule's condition. Default:
	// OnError.
	OnWarning func(err error)
	// Correlation, when set, keeps the rules' correlation state in a store
	// that several processes share (rules/redisstore, docs/sqs.md
	// "Scale-out"); nil keeps it in the process.
	Correlation CorrelationStore
	// Observer, when set, sees every decoded event and every alert the sink
	// accepted (the traffic report aggregates them). Nil costs nothing.
	Observer Observer
	// NoJSON skips rendering alerts.json lines, for a caller that only
	// counts alerts (`vpcalertd report`: rendering is about a quarter of
	// Process's work and its page needs none of it). The sink and the
	// Observer then get alerts whose JSON is nil; RuleID, Level, Time,
	// Origin and Description are set as always, and no alert id is taken.
	NoJSON bool
	// OpenTable reads Parquet flow logs (decoders/parquet.Open; the
	// programs set it). Nil: a Parquet stream is refused with
	// decoders.ErrNoTableReader. It is an option so that the Parquet
	// library, slow to compile, stays out of the packages that do not need
	// it.
	OpenTable decoders.TableOpener
}

// Observer watches what Process does, like a sink that also sees the events
// without alerts. For one Process call the calls come in record order: a
// record's Event first, then one Alert per alert written for it, in the
// order they were written. Calls for different objects may come from
// several goroutines at once, so an Observer used by a concurrent caller
// (the daemon) must be safe for concurrent use. The event and the alert are
// only valid during the call: keep copies, never the pointers.
type Observer interface {
	// Event is called for each record decoded into an event, before the
	// Alert calls of its alerts. (The rules may have run already: Process
	// evaluates records ahead on other goroutines.)
	Event(ev *event.Event)
	// Alert is called after sink.Write accepted a, with the event behind it.
	Alert(ev *event.Event, a *alert.Alert)
}

// Stats counts what one Process call did.
type Stats struct {
	Bytes    int64 // decompressed bytes read
	Records  int64 // records seen (lines, CloudTrail records), header lines included
	Events   int64 // records decoded into events
	Alerts   int64 // alerts written
	BadLines int64 // records rejected with an error
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Bytes += o.Bytes
	s.Records += o.Records
	s.Events += o.Events
	s.Alerts += o.Alerts
	s.BadLines += o.BadLines
}

// Agent names the agent of an alert.
type Agent struct {
	ID   string
	Name string
	IP   string // omitted when empty or "any"
}

// Cluster names the Wazuh cluster and node of an alert.
type Cluster struct {
	Name string
	Node string
}

// Dir returns the ruleset directory dir (decoders/, rules/, lists/, or rule
// files at its top for a user layer) as an fs.FS for Options.Ruleset or
// Options.UserRulesets, whose files messages name as the user knows them:
// "my-rules/rules/0950-db.yml:12:5: …". The built-in ruleset's files are
// "built-in:rules/…"; those of another fs.FS are named by their paths in it.
func Dir(dir string) fs.FS {
	return &dirFS{FS: os.DirFS(dir), name: filepath.ToSlash(filepath.Clean(dir))}
}

// dirFS is a directory that knows the name it was given.
type dirFS struct {
	fs.FS
	name string
}

// builtinLayer prefixes the paths of the built-in ruleset's files.
const builtinLayer = "built-in:"

// layerPrefix returns how the files of fsys are named in messages.
func layerPrefix(fsys fs.FS) string {
	if d, ok := fsys.(*dirFS); ok {
		return d.name + "/"
	}
	return ""
}
