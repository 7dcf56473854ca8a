package config

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

func TestLoadYAML(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "vpcalertd.yml", `
interval: 5m
run_on_start: no
skip_on_error: false
remove_from_bucket: yes
look_back: 2d
concurrency: 8
state: state/vpcalertd.db
manager_name: wazuh-manager
progress_interval: 0s
shutdown_grace: 3s
log: {level: debug, format: json}
outputs:
  file:
    path: alerts/alerts.json
    fsync: none
    rotate: {max_size: 100MiB, daily: true}
  stdout: true
buckets:
  - type: vpcflow
    name: my-flow-logs
    path: /central/
    aws_account_id: "123456789012, 210987654321"
    aws_account_alias: prod
    regions: [us-east-1, eu-west-1, us-east-1]
    only_logs_after: 2024-jan-31
    discard_regex: {field: action, regex: ACCEPT}
    aws_profile: audit
    iam_role_arn: arn:aws:iam::123456789012:role/reader
    iam_role_duration: 3600
    external_id: ext-1
    sts_endpoint: sts.us-east-1.amazonaws.com
    service_endpoint: http://127.0.0.1:7070
    remove_from_bucket: no
    flow_log_files: described
  - type: cloudtrail
    name: my-trail
    aws_organization_id: o-abcdefghij
    only_logs_after: 2024-02-29
`)
	cfg, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute, cfg.Interval)
	assert.False(t, cfg.RunOnStart)
	assert.False(t, cfg.SkipOnError)
	assert.Equal(t, 48*time.Hour, cfg.LookBack)
	assert.Equal(t, 8, cfg.Concurrency)
	assert.Equal(t, filepath.Join(dir, "state/vpcalertd.db"), cfg.StatePath)
	assert.Equal(t, "wazuh-manager", cfg.ManagerName)
	assert.Equal(t, time.Duration(0), cfg.ProgressInterval)
	assert.Equal(t, 3*time.Second, cfg.ShutdownGrace)
	assert.Equal(t, Log{Level: "debug", Format: "json"}, cfg.Log)
	assert.Equal(t, Output{Stdout: true, File: &FileOutput{Path: filepath.Join(dir, "alerts/alerts.json"), Fsync: FsyncNone, MaxSize: 100 << 20, Daily: true}}, cfg.Output)
	require.Len(t, cfg.Buckets, 2)
	b := cfg.Buckets[0]
	assert.Equal(t, event.LogTypeVPCFlow, b.Type)
	assert.Equal(t, "my-flow-logs", b.Name)
	assert.Equal(t, "central/", b.Path)
	assert.Equal(t, []string{"123456789012", "210987654321"}, b.AccountIDs)
	assert.Equal(t, "prod", b.AccountAlias)
	assert.Equal(t, []string{"eu-west-1", "us-east-1"}, b.Regions)
	assert.Equal(t, time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC), b.OnlyLogsAfter)
	assert.Equal(t, "action", b.DiscardField)
	assert.True(t, b.DiscardRegex.MatchString("ACCEPT"))
	assert.False(t, b.DiscardRegex.MatchString("XACCEPT"), "anchored at the start, as Python's re.match")
	assert.Equal(t, "audit", b.Profile)
	assert.Equal(t, time.Hour, b.RoleDuration)
	assert.Equal(t, "https://sts.us-east-1.amazonaws.com", b.STSEndpoint)
	assert.Equal(t, "http://127.0.0.1:7070", b.ServiceEndpoint)
	assert.False(t, b.RemoveFromBucket, "the bucket's setting wins over the module's")
	assert.Equal(t, FlowLogFilesDescribed, b.FlowLogFiles)
	assert.Equal(t, "vpcflow:my-flow-logs/central/", b.ID())
	assert.Regexp(t, `vpcalertd\.yml:20:5$`, b.Pos)
	c := cfg.Buckets[1]
	assert.True(t, c.RemoveFromBucket, "module default")
	assert.Equal(t, FlowLogFiles(""), c.FlowLogFiles)
	assert.Equal(t, "o-abcdefghij", c.OrganizationID)
	assert.Equal(t, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), c.OnlyLogsAfter)
}

func TestLoadDefaults(t *testing.T) {
	p := writeFile(t, t.TempDir(), "c.yml", "buckets: [{type: cloudtrail, name: trail-bucket}]\n")
	cfg, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, DefaultInterval, cfg.Interval)
	assert.True(t, cfg.RunOnStart)
	assert.True(t, cfg.SkipOnError)
	assert.Equal(t, DefaultLookBack, cfg.LookBack)
	assert.Equal(t, DefaultConcurrency, cfg.Concurrency)
	assert.Equal(t, DefaultStatePath, cfg.StatePath)
	assert.Equal(t, &FileOutput{Path: DefaultAlertsPath, Fsync: FsyncCommit}, cfg.Output.File)
	assert.True(t, cfg.Buckets[0].OnlyLogsAfter.IsZero())
	assert.Equal(t, DefaultQueueMarksRetention, cfg.QueueMarksRetention)
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		yml  string
		want []string // regexps, each must match one line of the error
	}{
		{"unknown-top-key", "intervall: 5m\nbuckets: [{type: vpcflow, name: b-1}]\n",
			[]string{`^c\.yml:1:1: unknown key "intervall", did you mean "interval"\? \(expected one of \[buckets concurrency .*interval .*\]\)$`}},
		{"unknown-bucket-key", "buckets:\n  - type: vpcflow\n    name: b-1\n    region: us-east-1\n",
			[]string{`^c\.yml:4:5: buckets\[0\]: unknown key "region", did you mean "regions"\? \(expected one of \[.*regions.*\]\)$`}},
		{"unknown-nested-key", "outputs:\n  file: {path: a.json, rotation: 1}\nbuckets: [{type: vpcflow, name: b-1}]\n",
			[]string{`^c\.yml:2:24: outputs\.file: unknown key "rotation"`}},
		{"malformed-region", "buckets:\n  - type: vpcflow\n    name: b-1\n    regions: [us-east-1, us-east]\n",
			[]string{`^c\.yml:4:14: buckets\[0\]\.regions: invalid region "us-east": not an AWS region, did you mean "us-east-1"\? \(the regions are listed in docs/daemon\.md, Regions\)$`}},
		{"unknown-region", "buckets:\n  - type: vpcflow\n    name: b-1\n    regions: us-fake-1\n",
			[]string{`^c\.yml:4:14: buckets\[0\]\.regions: invalid region "us-fake-1": not an AWS region, did you mean "us-east-1"\?`}},
		{"path-character", "buckets:\n  - type: vpcflow\n    name: b-1\n    path: 'logs{1}'\n    path_suffix: a|b\n",
			[]string{`^c\.yml:4:11: buckets\[0\]\.path: invalid character in a key prefix: "logs\{1\}" has the character \{; Wazuh refuses`,
				`^c\.yml:5:18: buckets\[0\]\.path_suffix: invalid character in a key prefix: "a\|b" has the character \|; Wazuh refuses`}},
		{"bad-date", "buckets:\n  - type: cloudtrail\n    name: b-1\n    only_logs_after: 2024-FOO-31\n",
			[]string{`^c\.yml:4:22: buckets\[0\]\.only_logs_after: bad date "2024-FOO-31" \(want YYYY-MMM-DD`}},
		{"impossible-date", "buckets:\n  - type: cloudtrail\n    name: b-1\n    only_logs_after: 2023-02-29\n",
			[]string{`buckets\[0\]\.only_logs_after: bad date "2023-02-29"`}},
		{"repeated-bucket-other-remove", "buckets:\n  - {type: vpcflow, name: b-1, path: logs}\n  - {type: cloudtrail, name: b-1, path: logs}\n  - {type: vpcflow, name: b-1, path: /logs/, remove_from_bucket: yes}\n",
			[]string{`^c\.yml:4:66: buckets\[2\]\.remove_from_bucket: buckets\[2\] selects the objects that buckets\[0\] \(c\.yml:2:5\) selects, with remove_from_bucket no there and yes here: say the same in both, or select other accounts or regions$`}},
		{"bad-account", "buckets: [{type: vpcflow, name: b-1, aws_account_id: [12345]}]\n",
			[]string{`buckets\[0\]\.aws_account_id: "12345" is not a 12-digit AWS account id`}},
		{"bad-type", "buckets: [{type: guardduty, name: b-1}]\n",
			[]string{`buckets\[0\]\.type: unsupported bucket type "guardduty" \(expected one of \[cloudtrail vpcflow\]\)`}},
		{"missing-name", "buckets: [{type: vpcflow}]\n", []string{`buckets\[0\]\.name: missing`}},
		{"bad-bucket-name", "buckets: [{type: vpcflow, name: My_Bucket}]\n", []string{`buckets\[0\]\.name: "My_Bucket" is not a valid S3 bucket name`}},
		{"bad-interval", "interval: soon\nbuckets: [{type: vpcflow, name: b-1}]\n", []string{`^c\.yml:1:11: interval: bad duration "soon"`}},
		{"bad-bool", "run_on_start: maybe\nbuckets: [{type: vpcflow, name: b-1}]\n", []string{`^c\.yml:1:15: run_on_start: expected true or false, got "maybe"$`}},
		{"bad-int", "concurrency: many\nbuckets: [{type: vpcflow, name: b-1}]\n", []string{`^c\.yml:1:14: concurrency: expected a whole number, got "many"$`}},
		{"role-duration-without-role", "buckets: [{type: vpcflow, name: b-1, iam_role_duration: 900}]\n", []string{`buckets\[0\]\.iam_role_duration: only valid with iam_role_arn`}},
		{"bad-regex", "buckets: [{type: vpcflow, name: b-1, discard_regex: {field: action, regex: '(?<=x)'}}]\n", []string{`buckets\[0\]\.discard_regex: bad regex`}},
		{"flow-log-files-on-cloudtrail", "buckets: [{type: cloudtrail, name: b-1, flow_log_files: all}]\n", []string{`buckets\[0\]\.flow_log_files: only valid for type vpcflow`}},
		{"bad-endpoint", "buckets: [{type: vpcflow, name: b-1, service_endpoint: 'ftp://x'}]\n", []string{`buckets\[0\]\.service_endpoint: "ftp://x" is not an endpoint URL`}},
		{"bad-fsync", "outputs: {file: {path: a.json, fsync: sometimes}}\nbuckets: [{type: vpcflow, name: b-1}]\n", []string{`outputs\.file\.fsync: unknown policy "sometimes"`}},
		{"no-buckets", "interval: 1m\n", []string{`buckets: no buckets configured`}},
		{"indexer-at-its-key", "outputs:\n  indexer:\n    urls: [https://a:9200, 'ftp://b']\n    batch: {max_count: -1}\nbuckets: [{type: vpcflow, name: b-1}]\n",
			[]string{`^c\.yml:3:28: outputs\.indexer\.urls\[1\]: "ftp://b": scheme must be https or http$`,
				`^c\.yml:4:24: outputs\.indexer\.batch\.max_count: -1: must be between 1 and`}},
		{"unknown-key-and-range-at-once", "intervall: 5m\nconcurrency: 0\nbuckets: [{type: [vpcflow], name: b-1, regions: [us-fake-1]}]\n",
			[]string{`^c\.yml:1:1: unknown key "intervall", did you mean "interval"\?`,
				`^c\.yml:2:14: concurrency: must be between 1 and 256, got 0$`,
				`^c\.yml:3:18: buckets\[0\]\.type: expected a string$`,
				`^c\.yml:3:49: buckets\[0\]\.regions: invalid region "us-fake-1"`}},
		{"written-zeros-all-at-once", "concurrency: 0\nlimits: {amplification: 0}\noutputs:\n  indexer: {url: 'https://i:9200', batch: {workers: 0}}\n" +
			"buckets:\n  - {type: vpcflow, name: b-1, sqs: {queue_url: 'https://q/1/q', workers: 0, max_receives: 0}}\n",
			[]string{`^c\.yml:1:14: concurrency: must be between 1 and 256, got 0$`,
				`^c\.yml:2:25: limits\.amplification: must be between 1 and 1000000, got 0$`,
				`^c\.yml:4:53: outputs\.indexer\.batch\.workers: must be more than 0, got 0 \(leave the key out for the default, docs/indexer\.md\)$`,
				`^c\.yml:6:75: buckets\[0\]\.sqs\.workers: must be 1 to 1000, got 0$`,
				`^c\.yml:6:92: buckets\[0\]\.sqs\.max_receives: must be 1 to 1000, got 0$`}},
		{"all-at-once", "buckets:\n  - {type: vpcflow, name: b-1, regions: [x]}\n  - {type: vpcflow, name: b-2, only_logs_after: yesterday}\n",
			[]string{`buckets\[0\]\.regions: invalid region "x"`, `buckets\[1\]\.only_logs_after: bad date`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "c.yml", c.yml)
			_, err := Load(p)
			require.Error(t, err)
			msg := regexp.MustCompile(regexp.QuoteMeta(dir+string(filepath.Separator))).ReplaceAllString(err.Error(), "")
			for _, w := range c.want {
				assert.Regexp(t, regexp.MustCompile(`(?m)`+w), msg)
			}
		})
	}
}

func TestLoadOssecSeed(t *testing.T) {
	// The block of the Wazuh VPC guide, bucket name filled in, read as is.
	cfg, err := Load("testdata/ossec-seed.conf")
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, cfg.Interval)
	assert.True(t, cfg.RunOnStart)
	assert.True(t, cfg.SkipOnError)
	require.Len(t, cfg.Buckets, 1)
	b := cfg.Buckets[0]
	assert.Equal(t, event.LogTypeVPCFlow, b.Type)
	assert.Equal(t, "wazuh-aws-bucket", b.Name)
	assert.Equal(t, "default", b.Profile)
	assert.Equal(t, FlowLogFilesAll, b.FlowLogFiles)
	assert.Equal(t, "testdata/ossec-seed.conf:14", b.Pos)
}

func TestLoadYAMLWithOssec(t *testing.T) {
	dir := t.TempDir()
	seed, err := os.ReadFile("testdata/ossec-seed.conf")
	require.NoError(t, err)
	writeFile(t, dir, "ossec.conf", string(seed))
	p := writeFile(t, dir, "c.yml", "ossec_conf: ossec.conf\ninterval: 30s\nstate: s.db\noutputs: {stdout: true}\nbuckets: [{type: cloudtrail, name: wazuh-aws-bucket}]\n")
	cfg, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, cfg.Interval, "YAML wins over ossec.conf")
	assert.True(t, cfg.SkipOnError, "from ossec.conf")
	assert.Nil(t, cfg.Output.File)
	require.Len(t, cfg.Buckets, 2)
	assert.Equal(t, event.LogTypeCloudTrail, cfg.Buckets[0].Type)
	assert.Equal(t, event.LogTypeVPCFlow, cfg.Buckets[1].Type)

	// The YAML's block follows a queue; the ossec.conf's, left out, lists:
	// the bucket is listed too.
	p = writeFile(t, dir, "q.yml", "ossec_conf: ossec.conf\nbuckets: [{type: vpcflow, name: wazuh-aws-bucket, sqs: {queue_url: 'https://q/1/q'}}]\n")
	cfg, err = Load(p)
	require.NoError(t, err)
	require.Len(t, cfg.Buckets, 1)
	assert.NotNil(t, cfg.Buckets[0].SQS)
	assert.True(t, cfg.Buckets[0].Listing, "listed, as the ossec.conf's block asks")
	require.Len(t, cfg.Warnings, 1)

	// An ossec.conf that cannot be read is reported with the YAML's problems.
	p = writeFile(t, dir, "e.yml", "ossec_conf: missing.conf\nconcurrency: 0\nbuckets: [{type: vpcflow, name: b-1}]\n")
	_, err = Load(p)
	require.Error(t, err)
	assert.Regexp(t, `^`+regexp.QuoteMeta(p)+`:1:13: ossec_conf: open .*missing\.conf: no such file or directory\n`+
		regexp.QuoteMeta(p)+`:2:14: concurrency: must be between 1 and 256, got 0$`, err.Error())

	// The same vpcflow bucket in both files: the YAML's is read, the
	// ossec.conf's selects the same objects and is left out, with a
	// warning (as Wazuh reads repeated blocks).
	p = writeFile(t, dir, "d.yml", "ossec_conf: ossec.conf\nbuckets: [{type: vpcflow, name: wazuh-aws-bucket, aws_profile: yaml}]\n")
	cfg, err = Load(p)
	require.NoError(t, err)
	require.Len(t, cfg.Buckets, 1)
	assert.Equal(t, "yaml", cfg.Buckets[0].Profile)
	require.Len(t, cfg.Warnings, 1)
	assert.Equal(t, dir+"/ossec.conf:14: <bucket> 1: selects the same objects as buckets[0] ("+p+":2:11): not read on its own, "+
		"as in Wazuh, where the first block marks them read before this one lists them (its only_logs_after, aws_account_alias and discard_regex do not apply)", cfg.Warnings[0].Error())
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"10m", 10 * time.Minute, false}, {"3600", time.Hour, false}, {"1d", 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false}, {"1h30m", 90 * time.Minute, false}, {"30s", 30 * time.Second, false},
		{"", 0, true}, {"-5m", 0, true}, {"ten", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseDuration(c.in)
			if c.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestParseByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"4096", 4096, false}, {"100MiB", 100 << 20, false}, {"1 GB", 1 << 30, false}, {"512k", 512 << 10, false},
		{"10 TB", 0, true}, {"MB", 0, true}, {"-1", 0, true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseByteSize(c.in)
			if c.bad {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestLoadSQS(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "vpcalertd.yml", `
state: state/vpcalertd.db
queue_marks_retention: 14d
buckets:
  - type: vpcflow
    name: central-logs
    sqs: &central
      queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/central
      workers: 8
      visibility_timeout: 2m
      wait_time: 10s
  - type: cloudtrail
    name: central-logs
    listing: yes
    sqs: *central
  - type: vpcflow
    name: other-logs
    sqs:
      queue_url: http://127.0.0.1:9324/000000000000/other
      region: us-east-1
      endpoint: http://127.0.0.1:9324/
      max_receives: 3
      retry_delay: 30s
      dead_letter_queue_url: http://127.0.0.1:9324/000000000000/other-dlq
  - type: vpcflow
    name: listed-only
`)
	cfg, err := Load(p)
	require.NoError(t, err)
	require.Len(t, cfg.Buckets, 4)
	assert.Equal(t, 14*24*time.Hour, cfg.QueueMarksRetention)
	assert.Nil(t, cfg.Metrics, "no endpoint unless asked")
	flow, trail, other, listed := cfg.Buckets[0], cfg.Buckets[1], cfg.Buckets[2], cfg.Buckets[3]

	require.NotNil(t, flow.SQS)
	assert.False(t, flow.Listing, "a bucket with sqs is not listed unless asked")
	assert.Equal(t, "https://sqs.eu-west-1.amazonaws.com/123456789012/central", flow.SQS.QueueURL)
	assert.Equal(t, 8, flow.SQS.Workers)
	assert.Equal(t, 2*time.Minute, flow.SQS.VisibilityTimeout)
	assert.Equal(t, 10*time.Second, flow.SQS.WaitTime)
	assert.Equal(t, 5, flow.SQS.MaxReceives, "default")
	assert.Equal(t, filepath.Join(dir, "state", "quarantine", "central.jsonl"), flow.SQS.QuarantineFile,
		"without a dead-letter queue, messages are moved aside to a file beside the state")
	require.NotNil(t, trail.SQS)
	assert.True(t, trail.Listing, "listing: yes with sqs backfills")
	assert.Equal(t, *flow.SQS, *trail.SQS)

	require.NotNil(t, other.SQS)
	assert.Equal(t, "http://127.0.0.1:9324", other.SQS.Endpoint)
	assert.Equal(t, 4, other.SQS.Workers, "default")
	assert.Equal(t, time.Minute, other.SQS.VisibilityTimeout, "default")
	assert.Equal(t, 30*time.Second, other.SQS.RetryDelay)
	assert.Equal(t, "", other.SQS.QuarantineFile, "a dead-letter queue replaces the quarantine file")

	assert.Nil(t, listed.SQS)
	assert.True(t, listed.Listing)
}

func TestLoadSQSErrors(t *testing.T) {
	cases := []struct {
		name string
		yml  string
		want []string // regexps, each must match one line of the error
	}{
		{"bad-visibility", "buckets:\n  - type: vpcflow\n    name: b-1\n    sqs:\n      queue_url: https://sqs.us-east-1.amazonaws.com/1/q\n      visibility_timeout: 500ms\n",
			[]string{`^c\.yml:6:27: buckets\[0\]\.sqs\.visibility_timeout: must be 1s to 12h, got 500ms$`}},
		{"missing-queue", "buckets:\n  - type: vpcflow\n    name: b-1\n    sqs: {workers: 2}\n",
			[]string{`^c\.yml:4:10: buckets\[0\]\.sqs\.queue_url: required$`}},
		{"all-at-once", "buckets:\n  - type: vpcflow\n    name: b-1\n    sqs:\n      queue_url: ftp://q\n      workers: -1\n      wait_time: 30s\n",
			[]string{`^c\.yml:5:18: buckets\[0\]\.sqs\.queue_url: "ftp://q": want an http or https URL$`,
				`^c\.yml:6:16: buckets\[0\]\.sqs\.workers: must be 1 to 1000, got -1$`,
				`^c\.yml:7:18: buckets\[0\]\.sqs\.wait_time: must be 1s to 20s`}},
		{"unknown-key", "buckets:\n  - type: vpcflow\n    name: b-1\n    sqs: {queue_url: 'https://sqs.us-east-1.amazonaws.com/1/q', visibilty_timeout: 1m}\n",
			[]string{`^c\.yml:4:65: buckets\[0\]\.sqs: unknown key "visibilty_timeout", did you mean "visibility_timeout"\? \(expected one of \[.*visibility_timeout.*\]\)$`}},
		{"bad-duration", "buckets:\n  - type: vpcflow\n    name: b-1\n    sqs: {queue_url: 'https://sqs.us-east-1.amazonaws.com/1/q', retry_delay: soon}\n",
			[]string{`^c\.yml:4:78: buckets\[0\]\.sqs\.retry_delay: bad duration "soon"`}},
		{"short-marks-retention", "queue_marks_retention: 10m\nbuckets: [{type: vpcflow, name: b-1}]\n",
			[]string{`^c\.yml:1:24: queue_marks_retention: must be at least 1h, got 10m0s$`}},
		{"metrics-not-loopback", "metrics: {listen: ':9780'}\nbuckets: [{type: vpcflow, name: b-1}]\n",
			[]string{`^c\.yml:1:19: metrics\.listen: an empty host listens on every interface: not a loopback address; use 127\.0\.0\.1:9780, or set allow_non_loopback to expose the endpoint$`}},
		{"metrics-bad-address", "metrics: {listen: 'localhost'}\nbuckets: [{type: vpcflow, name: b-1}]\n",
			[]string{`^c\.yml:1:19: metrics\.listen: want host:port`}},
		{"nothing-reads", "buckets:\n  - type: vpcflow\n    name: b-1\n    listing: no\n",
			[]string{`^c\.yml:4:14: buckets\[0\]\.listing: no: the bucket has no sqs section either, so nothing would read it$`}},
		{"shared-queue-other-settings", "buckets:\n  - {type: vpcflow, name: b-1, sqs: {queue_url: 'https://sqs.us-east-1.amazonaws.com/1/q'}}\n" +
			"  - {type: cloudtrail, name: b-1, sqs: {queue_url: 'https://sqs.us-east-1.amazonaws.com/1/q', workers: 9}}\n",
			[]string{`^c\.yml:3:40: buckets\[1\]\.sqs: queue https://sqs\.us-east-1\.amazonaws\.com/1/q is also followed by buckets\[0\] with other settings`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeFile(t, dir, "c.yml", c.yml)
			_, err := Load(p)
			require.Error(t, err)
			msg := regexp.MustCompile(regexp.QuoteMeta(dir+string(filepath.Separator))).ReplaceAllString(err.Error(), "")
			for _, w := range c.want {
				assert.Regexp(t, regexp.MustCompile(`(?m)`+w), msg)
			}
		})
	}
}

func TestQueueName(t *testing.T) {
	for in, want := range map[string]string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/flow-logs": "flow-logs",
		"https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo/":   "q.fifo",
		"http://127.0.0.1:9324/000000000000/a%20b":                   "a_b",
		"http://127.0.0.1:9324/":                                     "queue",
	} {
		assert.Equal(t, want, QueueName(in), in)
	}
}

func TestLoadMetrics(t *testing.T) {
	for yml, want := range map[string]*Metrics{
		"metrics: {}\n":                                         {TrafficWindow: DefaultTrafficWindow},
		"metrics: {listen: '127.0.0.1:0'}\n":                    {Listen: "127.0.0.1:0", TrafficWindow: DefaultTrafficWindow},
		"metrics: {listen: ':9780', allow_non_loopback: yes}\n": {Listen: ":9780", AllowNonLoopback: true, TrafficWindow: DefaultTrafficWindow},
		"metrics: {listen: '[::1]:9780'}\n":                     {Listen: "[::1]:9780", TrafficWindow: DefaultTrafficWindow},
		"metrics: {traffic_window: 6h}\n":                       {TrafficWindow: 6 * time.Hour},
	} {
		p := writeFile(t, t.TempDir(), "c.yml", yml+"buckets: [{type: vpcflow, name: b-1}]\n")
		cfg, err := Load(p)
		require.NoError(t, err, yml)
		assert.Equal(t, want, cfg.Metrics, yml)
	}
	p := writeFile(t, t.TempDir(), "c.yml", "metrics: {traffic_window: 10m}\nbuckets: [{type: vpcflow, name: b-1}]\n")
	_, err := Load(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "metrics.traffic_window: must be between 1h and 744h (31 days), got 10m0s")
}
