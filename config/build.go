package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/collector/sqs"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/output/indexer"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// builder turns specs into a Config, collecting every problem.
type builder struct {
	file string     // the YAML file, "" when the configuration is an ossec.conf
	root *yaml.Node // its root mapping, nil when absent
	dir  string     // relative paths are resolved against it
	errs []error
	// decoded are the YAML's decoding problems (unknown keys, values of
	// the wrong type): reported with the others, and a check of a key
	// that could not be decoded says nothing more about it.
	decoded []error
	// warns are what is accepted but reads nothing, or reads otherwise
	// than Wazuh would (Config.Warnings).
	warns []error
	// queues maps each SQS queue URL to the first bucket following it.
	queues map[string]queueUse
}

// queueUse is the first bucket configured with a queue.
type queueUse struct {
	cfg sqs.Config
	key string // e.g. buckets[0]
}

func (b *builder) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(b.dir, p)
}

// pos returns the position of the YAML key path, or of its nearest parent.
func (b *builder) pos(path ...any) specfile.Pos {
	if b.root == nil {
		return specfile.Pos{File: b.file}
	}
	n, _ := nodeAt(b.root, path...)
	return specfile.Pos{File: b.file, Line: n.Line, Column: n.Column}
}

func (b *builder) errf(pos specfile.Pos, key, format string, args ...any) {
	b.errs = append(b.errs, specfile.Errorf(pos, key, format, args...))
}

func (b *builder) warnf(pos specfile.Pos, key, format string, args ...any) {
	b.warns = append(b.warns, specfile.Errorf(pos, key, format, args...))
}

// bucketSrc says where a bucket spec came from, for error messages.
type bucketSrc struct {
	pos func(key string) specfile.Pos // position of a key of the bucket
	key func(key string) string       // the key as the user wrote it, e.g. buckets[1].regions
	// sub is the position of a nested key (sqs, visibility_timeout); nil
	// for buckets of an ossec.conf, which have none.
	sub func(path ...any) specfile.Pos
	// set records the position of a key as it is read (ossec.conf
	// elements); nil for YAML, whose positions come from the node tree.
	set func(key string, p specfile.Pos)
}

func (b *builder) build(spec *fileSpec, root *yaml.Node, w *wodle) (*Config, error) {
	cfg := &Config{
		Interval:            DefaultInterval,
		RunOnStart:          true,
		SkipOnError:         true,
		LookBack:            DefaultLookBack,
		Concurrency:         DefaultConcurrency,
		StatePath:           DefaultStatePath,
		ProgressInterval:    DefaultProgressInterval,
		ShutdownGrace:       DefaultShutdownGrace,
		QueueMarksRetention: DefaultQueueMarksRetention,
		Limits: Limits{RecordSize: DefaultRecordSize, RecordFields: DefaultRecordFields,
			CrashesPerObject: DefaultCrashesPerObject, Amplification: DefaultAmplification},
		Log: Log{Level: "info", Format: "text"},
	}
	removeDefault := false
	if w != nil {
		if w.Interval != nil {
			cfg.Interval = *w.Interval
		}
		setBool(&cfg.RunOnStart, w.RunOnStart)
		setBool(&cfg.SkipOnError, w.SkipOnError)
	}
	if spec.Interval != nil {
		cfg.Interval = time.Duration(*spec.Interval)
	}
	setBool(&cfg.RunOnStart, spec.RunOnStart)
	setBool(&cfg.SkipOnError, spec.SkipOnError)
	setBool(&removeDefault, spec.RemoveFromBucket)
	if spec.Interval != nil && cfg.Interval < time.Second {
		b.errf(b.pos("interval"), "interval", "must be at least 1s, got %v", cfg.Interval)
	}
	if spec.LookBack != nil {
		cfg.LookBack = time.Duration(*spec.LookBack)
	}
	if spec.Concurrency != nil {
		cfg.Concurrency = *spec.Concurrency
		if cfg.Concurrency < 1 || cfg.Concurrency > 256 {
			b.errf(b.pos("concurrency"), "concurrency", "must be between 1 and 256, got %d", cfg.Concurrency)
		}
	}
	if spec.State != "" {
		cfg.StatePath = b.abs(spec.State)
	}
	cfg.ManagerName = spec.ManagerName
	cfg.Ruleset = b.abs(spec.Ruleset)
	for _, d := range spec.Rules {
		cfg.Rules = append(cfg.Rules, b.abs(d))
	}
	cfg.DisabledPacks = spec.DisabledPacks
	if spec.ProgressInterval != nil {
		cfg.ProgressInterval = time.Duration(*spec.ProgressInterval)
	}
	if spec.ShutdownGrace != nil {
		cfg.ShutdownGrace = time.Duration(*spec.ShutdownGrace)
	}
	if spec.QueueMarks != nil {
		cfg.QueueMarksRetention = time.Duration(*spec.QueueMarks)
		if cfg.QueueMarksRetention < time.Hour {
			b.errf(b.pos("queue_marks_retention"), "queue_marks_retention", "must be at least 1h, got %v", cfg.QueueMarksRetention)
		}
	}
	b.buildLimits(spec.Limits, &cfg.Limits)
	b.buildCorrelation(spec.Correlation, &cfg.Correlation)
	b.buildLog(spec.Log, &cfg.Log)
	cfg.Metrics = b.buildMetrics(spec.Metrics)
	b.buildOutputs(spec.Outputs, &cfg.Output)

	var entries []entry
	for i, bs := range spec.Buckets {
		i := i
		src := bucketSrc{
			pos: func(key string) specfile.Pos {
				if key == "" {
					return b.pos("buckets", i)
				}
				return b.pos("buckets", i, key)
			},
			key: func(key string) string {
				k := fmt.Sprintf("buckets[%d]", i)
				if key != "" {
					k += "." + key
				}
				return k
			},
			sub: func(path ...any) specfile.Pos {
				return b.pos(append([]any{"buckets", i}, path...)...)
			},
		}
		entries = b.addBucket(cfg, entries, bs, src, removeDefault)
	}
	if w != nil && !w.Disabled {
		for _, ob := range w.Buckets {
			entries = b.addBucket(cfg, entries, ob.spec, ob.src, removeDefault)
		}
	}
	cfg.Buckets = b.repeated(entries)
	if len(cfg.Buckets) == 0 && len(b.errs) == 0 {
		b.noBuckets(w)
	}
	if len(b.decoded) > 0 {
		return nil, specfile.Join(append(b.decoded, b.notDecoded()...)...)
	}
	if len(b.errs) > 0 {
		return nil, specfile.Join(b.errs...)
	}
	cfg.Warnings = specfile.Flatten(specfile.Join(b.warns...))
	return cfg, nil
}

// notDecoded returns the errors of the checks but those about a key that
// had a decoding problem (the missing value of a value of the wrong type).
func (b *builder) notDecoded() []error {
	bad := map[string]bool{}
	for _, e := range b.decoded {
		var se *specfile.Error
		if errors.As(e, &se) {
			bad[se.Key] = true
		}
	}
	var out []error
	for _, e := range b.errs {
		var se *specfile.Error
		if errors.As(e, &se) && bad[se.Key] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// noBuckets reports a configuration that reads no bucket; the warnings
// about what was not read become errors, as they say why.
func (b *builder) noBuckets(w *wodle) {
	pos, key := b.pos("buckets"), "buckets"
	msg := "no buckets configured"
	if w != nil {
		if b.file == "" {
			pos, key = specfile.Pos{File: w.file}, `<wodle name="aws-s3">`
		}
		if w.Disabled {
			msg += fmt.Sprintf(" (the aws-s3 wodle of %s is disabled)", w.file)
		}
	}
	if len(b.warns) > 0 {
		msg += " that vpcalertd reads (see the messages below)"
	}
	b.errf(pos, key, "%s", msg)
	b.errs = append(b.errs, b.warns...)
	b.warns = nil
}

// buildMetrics checks the metrics section (nil: no metrics endpoint).
func (b *builder) buildMetrics(s *metricsSpec) *Metrics {
	if s == nil {
		return nil
	}
	m := &Metrics{Listen: s.Listen, AllowNonLoopback: s.AllowNonLoopback, TrafficWindow: DefaultTrafficWindow}
	if w := s.TrafficWindow; w != nil {
		m.TrafficWindow = time.Duration(*w)
		if m.TrafficWindow < time.Hour || m.TrafficWindow > 31*24*time.Hour {
			b.errf(b.pos("metrics", "traffic_window"), "metrics.traffic_window", "must be between 1h and 744h (31 days), got %v", m.TrafficWindow)
		}
	}
	mc := metrics.Config{Listen: m.Listen, AllowNonLoopback: m.AllowNonLoopback}
	if err := mc.Validate(); err != nil {
		b.place(err, "metrics", func(key string) specfile.Pos { return b.pos(keyPath("metrics." + key)...) })
	}
	return m
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func (b *builder) buildLimits(s limitsSpec, l *Limits) {
	if s.RecordSize != nil {
		l.RecordSize = int64(*s.RecordSize)
		if l.RecordSize < 64<<10 || l.RecordSize > 1<<30 {
			b.errf(b.pos("limits", "record_size"), "limits.record_size", "must be between 64KiB and 1GiB, got %d bytes", l.RecordSize)
		}
	}
	ints := []struct {
		key      string
		v        *int
		dst      *int
		min, max int
	}{
		{"record_fields", s.RecordFields, &l.RecordFields, 100, 10000000},
		{"crashes_per_object", s.CrashesPerObject, &l.CrashesPerObject, 1, 100},
		{"amplification", s.Amplification, &l.Amplification, 1, 1000000},
	}
	for _, c := range ints {
		if c.v == nil {
			continue
		}
		*c.dst = *c.v
		if *c.v < c.min || *c.v > c.max {
			b.errf(b.pos("limits", c.key), "limits."+c.key, "must be between %d and %d, got %d", c.min, c.max, *c.v)
		}
	}
}

func (b *builder) buildLog(s logSpec, l *Log) {
	if s.Level != "" {
		l.Level = strings.ToLower(s.Level)
	}
	if s.Format != "" {
		l.Format = strings.ToLower(s.Format)
	}
	if !oneOf(l.Level, "debug", "info", "warn", "error") {
		b.errf(b.pos("log", "level"), "log.level", "unknown level %q (expected one of [debug info warn error])", s.Level)
	}
	if !oneOf(l.Format, "text", "json") {
		b.errf(b.pos("log", "format"), "log.format", "unknown format %q (expected one of [text json])", s.Format)
	}
}

func (b *builder) buildOutputs(s outputsSpec, o *Output) {
	o.Stdout = s.Stdout
	if s.Indexer != nil {
		ic := *s.Indexer
		if ic.Queue.Dir != "" {
			ic.Queue.Dir = b.abs(ic.Queue.Dir)
		}
		if err := ic.Validate(); err != nil {
			b.place(err, "outputs.indexer", func(key string) specfile.Pos { return b.pos(keyPath("outputs.indexer." + key)...) })
		}
		b.writtenZeros(&ic)
		o.Indexer = &ic
	}
	if s.File == nil {
		if !s.Stdout && s.Indexer == nil {
			o.File = &FileOutput{Path: DefaultAlertsPath, Fsync: FsyncCommit}
		}
		return
	}
	f := &FileOutput{Path: b.abs(s.File.Path), Fsync: FsyncCommit, MaxSize: int64(s.File.Rotate.MaxSize), Daily: s.File.Rotate.Daily}
	if f.Path == "" {
		b.errf(b.pos("outputs", "file"), "outputs.file.path", "missing: the alerts file to append to")
	}
	if s.File.Fsync != "" {
		f.Fsync = FsyncPolicy(strings.ToLower(s.File.Fsync))
		if f.Fsync != FsyncCommit && f.Fsync != FsyncNone {
			b.errf(b.pos("outputs", "file", "fsync"), "outputs.file.fsync", "unknown policy %q (expected one of [commit none])", s.File.Fsync)
		}
	}
	if f.MaxSize != 0 && f.MaxSize < 4096 {
		b.errf(b.pos("outputs", "file", "rotate", "max_size"), "outputs.file.rotate.max_size", "must be at least 4KiB, got %d bytes", f.MaxSize)
	}
	o.File = f
}

// writtenZeros refuses a 0 written for an indexer setting whose zero
// value means its default (indexer.Config): a written value is never
// silently replaced.
func (b *builder) writtenZeros(ic *indexer.Config) {
	if b.root == nil {
		return
	}
	for _, z := range []struct {
		key  string
		zero bool
	}{
		{"timeout", ic.Timeout == 0}, {"close_timeout", ic.CloseTimeout == 0},
		{"batch.max_bytes", ic.Batch.MaxBytes == 0}, {"batch.max_count", ic.Batch.MaxCount == 0},
		{"batch.interval", ic.Batch.Interval == 0}, {"batch.workers", ic.Batch.Workers == 0},
		{"retry.initial_backoff", ic.Retry.InitialBackoff == 0}, {"retry.max_backoff", ic.Retry.MaxBackoff == 0},
		{"queue.max_bytes", ic.Queue.MaxBytes == 0}, {"queue.full_timeout", ic.Queue.FullTimeout == 0},
	} {
		path := keyPath("outputs.indexer." + z.key)
		if _, written := nodeAt(b.root, path...); z.zero && written {
			b.errf(b.pos(path...), "outputs.indexer."+z.key, "must be more than 0, got 0 (leave the key out for the default, docs/indexer.md)")
		}
	}
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

var (
	bucketNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	roleARNRe    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)
)

// addBucket checks a bucket spec and appends it to entries.
func (b *builder) addBucket(cfg *Config, entries []entry, s bucketSpec, src bucketSrc, removeDefault bool) []entry {
	if s.Disabled {
		return entries
	}
	n := len(b.errs)
	errf := func(key, format string, args ...any) { b.errf(src.pos(key), src.key(key), format, args...) }
	bk := Bucket{
		Name:             strings.TrimSpace(s.Name),
		AccountAlias:     s.AccountAlias,
		OrganizationID:   s.OrganizationID,
		Profile:          s.Profile,
		RoleARN:          s.RoleARN,
		ExternalID:       s.ExternalID,
		RemoveFromBucket: removeDefault,
		Pos:              src.pos("").String(),
	}
	setBool(&bk.RemoveFromBucket, s.RemoveFromBucket)
	checkIdentity(&bk, s, errf)
	checkScope(&bk, s, errf)
	checkDiscard(&bk, s, errf)
	checkAccess(&bk, s, errf)
	checkFlowLogFiles(&bk, s, errf)
	bk.Listing = s.SQS == nil
	setBool(&bk.Listing, s.Listing)
	if s.SQS != nil {
		bk.SQS = b.buildSQS(cfg, s.SQS, src)
	} else if !bk.Listing {
		errf("listing", "no: the bucket has no sqs section either, so nothing would read it")
	}
	if len(b.errs) > n {
		return entries
	}
	return append(entries, entry{bk: bk, src: src})
}

// checkIdentity reads a bucket's type, name and folders.
func checkIdentity(bk *Bucket, s bucketSpec, errf problem) {
	switch t := event.LogType(strings.ToLower(s.Type)); t {
	case event.LogTypeVPCFlow, event.LogTypeCloudTrail:
		bk.Type = t
	case "":
		errf("type", "missing: the log type (expected one of [cloudtrail vpcflow])")
	default:
		errf("type", "unsupported bucket type %q (expected one of [cloudtrail vpcflow])", s.Type)
	}
	if bk.Name == "" {
		errf("name", "missing: the bucket name")
	} else if !bucketNameRe.MatchString(bk.Name) || strings.Contains(bk.Name, "..") {
		errf("name", "%q is not a valid S3 bucket name", bk.Name)
	}
	for _, p := range []struct{ key, v string }{{"path", s.Path}, {"path_suffix", s.PathSuffix}} {
		if err := checkKeyPrefix(p.v); err != nil {
			errf(p.key, "%w", err)
		}
	}
	bk.Path = cleanPrefix(s.Path)
	bk.PathSuffix = cleanPrefix(s.PathSuffix)
}

// checkScope reads which accounts, organization, regions and days of a bucket are read.
func checkScope(bk *Bucket, s bucketSpec, errf problem) {
	for _, a := range s.AccountID {
		if !collector.IsAccountID(a) {
			errf("aws_account_id", "%q is not a 12-digit AWS account id", a)
		}
	}
	bk.AccountIDs = uniqueSorted(s.AccountID)
	if bk.OrganizationID != "" && !collector.IsOrgID(bk.OrganizationID) {
		errf("aws_organization_id", "%q is not an organization id (o- and 10 to 32 lower-case letters or digits)", bk.OrganizationID)
	}
	for _, r := range s.Regions {
		if err := checkRegion(r); err != nil {
			errf("regions", "%w", err)
		}
	}
	bk.Regions = uniqueSorted(s.Regions)
	if s.OnlyLogsAfter != "" {
		d, err := ParseDate(s.OnlyLogsAfter)
		if err != nil {
			errf("only_logs_after", "%v", err)
		}
		bk.OnlyLogsAfter = d
	}
}

// checkDiscard reads discard_regex.
func checkDiscard(bk *Bucket, s bucketSpec, errf problem) {
	if s.DiscardRegex != nil {
		bk.DiscardField = strings.TrimSpace(s.DiscardRegex.Field)
		if bk.DiscardField == "" {
			errf("discard_regex", "missing field: the record field the regex is tested on")
		}
		if s.DiscardRegex.Regex == "" {
			errf("discard_regex", "missing regex")
		} else if re, err := regexp.Compile(`^(?:` + s.DiscardRegex.Regex + `)`); err != nil {
			errf("discard_regex", "bad regex: %v", err)
		} else {
			bk.DiscardRegex = re
		}
	}
}

// checkAccess reads the role to assume and the endpoints.
func checkAccess(bk *Bucket, s bucketSpec, errf problem) {
	if bk.RoleARN != "" && !roleARNRe.MatchString(bk.RoleARN) {
		errf("iam_role_arn", "%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", bk.RoleARN)
	}
	if s.RoleDuration != nil {
		bk.RoleDuration = time.Duration(*s.RoleDuration)
		switch {
		case bk.RoleARN == "":
			errf("iam_role_duration", "only valid with iam_role_arn")
		case bk.RoleDuration < 15*time.Minute || bk.RoleDuration > 12*time.Hour:
			errf("iam_role_duration", "must be between 900 and 43200 seconds, got %v", bk.RoleDuration)
		}
	}
	if bk.ExternalID != "" && bk.RoleARN == "" {
		errf("external_id", "only valid with iam_role_arn")
	}
	var err error
	if bk.STSEndpoint, err = endpointURL(s.STSEndpoint); err != nil {
		errf("sts_endpoint", "%v", err)
	}
	if bk.ServiceEndpoint, err = endpointURL(s.ServiceEndpoint); err != nil {
		errf("service_endpoint", "%v", err)
	}
	if bk.EC2Endpoint, err = endpointURL(s.EC2Endpoint); err != nil {
		errf("ec2_endpoint", "%v", err)
	}
}

// checkFlowLogFiles reads flow_log_files (vpcflow buckets).
func checkFlowLogFiles(bk *Bucket, s bucketSpec, errf problem) {
	switch f := FlowLogFiles(strings.ToLower(s.FlowLogFiles)); f {
	case "":
		if bk.Type == event.LogTypeVPCFlow {
			bk.FlowLogFiles = FlowLogFilesAll
		}
	case FlowLogFilesAll, FlowLogFilesDescribed:
		if bk.Type != event.LogTypeVPCFlow {
			errf("flow_log_files", "only valid for type vpcflow")
		}
		bk.FlowLogFiles = f
	default:
		errf("flow_log_files", "unknown selection %q (expected one of [all described])", s.FlowLogFiles)
	}
}

// problem reports a problem with a key of the bucket being read.
type problem func(key, format string, args ...any)

// buildSQS checks a bucket's sqs section and applies its defaults; the
// quarantine file defaults to quarantine/<queue name>.jsonl beside the state
// file. Buckets sharing a queue must say the same about it: one consumer
// follows each queue and hands every object to the bucket it belongs to.
func (b *builder) buildSQS(cfg *Config, s *sqsSpec, src bucketSrc) *sqs.Config {
	c := sqs.Config{
		QueueURL:           strings.TrimSpace(s.QueueURL),
		Region:             strings.TrimSpace(s.Region),
		Endpoint:           strings.TrimRight(strings.TrimSpace(s.Endpoint), "/"),
		DeadLetterQueueURL: strings.TrimSpace(s.DeadLetterQueueURL),
		QuarantineFile:     b.abs(strings.TrimSpace(s.QuarantineFile)),
	}
	if c.DeadLetterQueueURL == "" && c.QuarantineFile == "" && c.QueueURL != "" {
		c.QuarantineFile = filepath.Join(filepath.Dir(cfg.StatePath), "quarantine", QueueName(c.QueueURL)+".jsonl")
	}
	c = c.WithDefaults()
	// A value written is the value: WithDefaults takes a zero for "not
	// set", and Validate then refuses a written 0 with the range.
	for _, v := range []struct {
		dst *int
		v   *int
	}{{&c.Workers, s.Workers}, {&c.MaxReceives, s.MaxReceives}} {
		if v.v != nil {
			*v.dst = *v.v
		}
	}
	for _, d := range []struct {
		dst *time.Duration
		v   *Duration
	}{{&c.VisibilityTimeout, s.VisibilityTimeout}, {&c.WaitTime, s.WaitTime}, {&c.RetryDelay, s.RetryDelay}} {
		if d.v != nil {
			*d.dst = time.Duration(*d.v)
		}
	}
	pos := func(key string) specfile.Pos {
		if src.sub == nil {
			return src.pos("")
		}
		if key == "" {
			return src.sub("sqs")
		}
		return src.sub("sqs", key)
	}
	err := c.Validate()
	if c.Region != "" && collector.IsRegion(c.Region) {
		// Validate takes any region-shaped name; the configuration takes
		// the regions of the table, as for a bucket's regions.
		if rerr := checkRegion(c.Region); rerr != nil {
			err = errors.Join(err, &specfile.Error{Key: "region", Err: rerr})
		}
	}
	if err != nil {
		b.place(err, src.key("sqs"), pos)
		return nil
	}
	if b.queues == nil {
		b.queues = map[string]queueUse{}
	}
	if prev, ok := b.queues[c.QueueURL]; ok {
		if prev.cfg != c {
			b.errf(pos(""), src.key("sqs"), "queue %s is also followed by %s with other settings; "+
				"give buckets that share a queue the same sqs section (a YAML anchor helps)", c.QueueURL, prev.key)
			return nil
		}
	} else {
		b.queues[c.QueueURL] = queueUse{cfg: c, key: src.key("")}
	}
	return &c
}

// QueueName returns the last path element of a queue URL, with characters
// other than letters, digits, '-', '_' and '.' replaced by '_': a file name.
func QueueName(queueURL string) string {
	u, err := url.Parse(queueURL)
	name := ""
	if err == nil {
		name = path.Base(strings.TrimRight(u.Path, "/"))
	}
	if name == "" || name == "." || name == "/" {
		name = "queue"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// place adds the errors of a block's Validate (each a *specfile.Error with
// a key relative to the block and no position) under the block's key,
// where pos places them.
func (b *builder) place(err error, block string, pos func(key string) specfile.Pos) {
	for _, e := range specfile.Flatten(err) {
		se, ok := e.(*specfile.Error)
		if !ok {
			b.errs = append(b.errs, &specfile.Error{Pos: pos(""), Key: block, Err: e})
			continue
		}
		se.Pos = pos(se.Key)
		se.Key = specfile.JoinKey(block, se.Key)
		b.errs = append(b.errs, se)
	}
}

// keyPath splits a key path such as "outputs.indexer.urls[1]" into the
// steps nodeAt takes.
func keyPath(key string) []any {
	var out []any
	for _, part := range strings.Split(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(idx); err == nil {
				out = append(out, i)
			}
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}

// cleanPrefix trims a path and gives it one trailing slash, as Wazuh does.
func cleanPrefix(p string) string {
	p = strings.Trim(strings.TrimSpace(p), "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

func uniqueSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := append([]string(nil), in...)
	sort.Strings(out)
	j := 0
	for i := range out {
		if i == 0 || out[i] != out[j-1] {
			out[j] = out[i]
			j++
		}
	}
	return out[:j]
}

// ParseDate parses only_logs_after: Wazuh's YYYY-MMM-DD ("2024-JAN-31", any
// case) or ISO YYYY-MM-DD. The result is midnight UTC.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) == 11 && s[4] == '-' && s[8] == '-' {
		norm := s[:5] + strings.ToUpper(s[5:6]) + strings.ToLower(s[6:8]) + s[8:]
		if t, err := time.Parse("2006-Jan-02", norm); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("bad date %q (want YYYY-MMM-DD as Wazuh, e.g. 2024-JAN-31, or YYYY-MM-DD)", s)
}

// endpointURL checks an endpoint and gives it a scheme: Wazuh takes host
// names such as a VPC endpoint's DNS name, which mean https.
func endpointURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("%q is not an endpoint URL (want https://host[:port])", s)
	}
	return strings.TrimRight(s, "/"), nil
}
