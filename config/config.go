package config

import (
	"regexp"
	"time"

	"github.com/vpcalertd/vpcalertd/collector/sqs"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output/indexer"
)

// Config is the daemon's validated configuration, defaults applied.
type Config struct {
	// Interval is the time between two passes over the buckets (Wazuh's
	// <interval>).
	Interval time.Duration
	// RunOnStart starts a pass at once instead of after one interval.
	RunOnStart bool
	// SkipOnError reports a bad object (truncated gzip, broken JSON) and goes
	// on with the rest of the bucket; otherwise the bucket's pass stops at
	// it and the object is tried again next interval.
	SkipOnError bool
	// LookBack is how far before the previous pass each pass lists again, so
	// that objects delivered late are still read.
	LookBack time.Duration
	// Concurrency is the number of objects fetched and decoded at once.
	Concurrency int
	// StatePath is the file of the embedded state store.
	StatePath string
	// ManagerName is the manager and agent name in alerts; empty means the
	// host name.
	ManagerName string
	// Ruleset is a ruleset directory replacing the built-in one; empty means
	// built in.
	Ruleset string
	// Rules are user rule directories layered over the ruleset (rules/ and
	// lists/ inside, or rule files at the top); a rule with overwrite: true
	// replaces a built-in rule of the same id.
	Rules []string
	// DisabledPacks names rule packs not to load ("all": only the Wazuh
	// port).
	DisabledPacks []string
	// ProgressInterval is how often a pass logs a progress line; 0 disables.
	ProgressInterval time.Duration
	// ShutdownGrace is how long objects in flight may finish after SIGTERM
	// or SIGINT before they are abandoned (and read again on restart).
	ShutdownGrace time.Duration
	// QueueMarksRetention is how long the done-marks of objects read from
	// SQS queues are kept (at least): a message delivered again, or
	// redriven, within it finds its finished objects marked. Listings
	// bound their own marks by LookBack.
	QueueMarksRetention time.Duration
	// Limits bound what one object may cost.
	Limits Limits
	// Correlation says where the correlation state lives.
	Correlation Correlation
	// Log configures the daemon's own log on stderr.
	Log Log
	// Metrics, when set, serves Prometheus /metrics, /healthz and /readyz.
	Metrics *Metrics
	// Output says where alerts go.
	Output Output
	// Buckets are the buckets to read, in configuration order.
	Buckets []Bucket
	// Warnings are what the configuration says that is accepted but read
	// otherwise than Wazuh reads it, or not read at all (a repeated
	// bucket block, an ossec.conf element vpcalertd does not use), each a
	// *specfile.Error with its position, in file order. The daemon logs
	// them at start.
	Warnings []error
}

// Limits bound what one object may cost the daemon, whoever wrote it.
type Limits struct {
	// RecordSize is the largest JSON record (a CloudTrail record) decoded,
	// in bytes; a larger one is named, counted and skipped.
	RecordSize int64
	// RecordFields is the most fields a JSON record may have (members of
	// its objects and elements of its arrays, at every depth).
	RecordFields int
	// CrashesPerObject is how many times the daemon may die while reading
	// an object before it is skipped and quarantined.
	CrashesPerObject int
	// Amplification warns about an object whose alerts exceed this many
	// times its compressed size.
	Amplification int
}

// Log configures log/slog output.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // text or json
}

// Metrics is the metrics endpoint (package metrics).
type Metrics struct {
	Listen           string // host:port; "" for the metrics package's default
	AllowNonLoopback bool   // allow an address reachable from other hosts
	// TrafficWindow is how far back the /traffic page reaches (a rolling
	// window of record times); default DefaultTrafficWindow.
	TrafficWindow time.Duration
}

// DefaultTrafficWindow is the rolling window of the daemon's /traffic page.
const DefaultTrafficWindow = 24 * time.Hour

// Output says where alerts go. At least one of File and Stdout is set.
type Output struct {
	File   *FileOutput // nil: no alerts file
	Stdout bool        // also write alerts to stdout
	// Indexer, when set, also sends the alerts to the Wazuh indexer; its
	// Sync is durable once they are in the indexer or its disk queue.
	Indexer *indexer.Config
}

// FsyncPolicy says when the alerts file is fsync'd.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncCommit fsyncs the alerts file before objects are marked done,
	// so that a power loss cannot lose alerts of objects marked read.
	FsyncCommit FsyncPolicy = "commit"
	// FsyncNone only flushes to the operating system: a crash of the daemon
	// loses nothing, a crash of the machine may.
	FsyncNone FsyncPolicy = "none"
)

// FileOutput is the alerts file, in Wazuh's alerts.json format.
type FileOutput struct {
	Path  string
	Fsync FsyncPolicy
	// MaxSize rotates the file once it holds at least this many bytes; 0
	// means no size rotation.
	MaxSize int64
	// Daily rotates the file when the day changes.
	Daily bool
}

// FlowLogFiles says which flow-log files of a vpcflow bucket are read.
type FlowLogFiles string

// Flow-log file selections.
const (
	// FlowLogFilesAll reads every flow-log file under the prefix, whoever
	// owns the flow log: central buckets collecting other accounts' flow logs
	// and files of deleted flow logs are read too. DescribeFlowLogs only
	// supplies log formats.
	FlowLogFilesAll FlowLogFiles = "all"
	// FlowLogFilesDescribed reads only the files of flow logs that
	// DescribeFlowLogs returns for the credentials, as Wazuh does.
	FlowLogFilesDescribed FlowLogFiles = "described"
)

// Bucket is one <bucket> of the wodle: a bucket, a log type and where in
// the bucket the logs are.
type Bucket struct {
	Type           event.LogType // vpcflow or cloudtrail
	Name           string        // bucket name
	Path           string        // prefix before AWSLogs/, "" or ending in '/'
	PathSuffix     string        // folder after AWSLogs/, "" or ending in '/'
	AccountIDs     []string      // accounts to read; empty: discovered from AWSLogs/
	AccountAlias   string        // log_info.aws_account_alias
	OrganizationID string        // organization trail id (o-…); empty: discovered
	Regions        []string      // sorted, unique; empty: discovered per account
	// OnlyLogsAfter is the first day read on the first run (UTC midnight);
	// zero means the day of the first run, as Wazuh.
	OnlyLogsAfter time.Time
	// DiscardField and DiscardRegex drop records whose field matches the
	// regex at its start (Wazuh's <discard_regex field="…">).
	DiscardField string
	DiscardRegex *regexp.Regexp
	// Credentials: an AWS profile and an optional role to assume; the rest
	// comes from the AWS SDK's default chain.
	Profile      string
	RoleARN      string
	RoleDuration time.Duration // 0: the SDK's default
	ExternalID   string
	STSEndpoint  string // URL, empty for AWS's
	// ServiceEndpoint is the S3 endpoint URL, for VPC endpoints or
	// S3-compatible servers (path-style addressing); empty for AWS's.
	ServiceEndpoint string
	// EC2Endpoint is the EC2 endpoint URL for DescribeFlowLogs; empty for
	// the SDK's (which honours AWS_ENDPOINT_URL_EC2). Unlike Wazuh,
	// service_endpoint is not used for EC2: it names an S3 endpoint.
	EC2Endpoint      string
	RemoveFromBucket bool
	FlowLogFiles     FlowLogFiles // vpcflow only
	// Listing says whether passes list the bucket every Interval. It is
	// the default without SQS; with SQS it backfills (lists the past
	// while the queue brings the present) and catches missed
	// notifications.
	Listing bool
	// SQS, when set, follows the bucket's S3 event notifications on an
	// SQS queue (collector/sqs), with defaults applied and validated.
	// Buckets sharing a queue have equal SQS settings.
	SQS *sqs.Config
	// Pos is where the bucket was configured, "file:line:col".
	Pos string
	// Variant tells the bucket apart from others of the same type, name,
	// prefix and organization (repeated <bucket> blocks selecting other
	// accounts or regions): "?accounts=…&regions=…"; empty when no other
	// block shares them, or this one restricts neither.
	Variant string
}

// ID names the bucket configuration in logs and state: type, bucket and
// path, e.g. "vpcflow:my-bucket/logs/", and the Variant of a repeated
// block, e.g. "vpcflow:my-bucket/logs/?regions=eu-west-1".
func (b *Bucket) ID() string {
	id := string(b.Type) + ":" + b.Name + "/" + b.Path + b.PathSuffix
	if b.OrganizationID != "" {
		id += b.OrganizationID + "/"
	}
	return id + b.Variant
}
