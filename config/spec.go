package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/output/indexer"
)

// fileSpec is the YAML shape of a configuration file.
type fileSpec struct {
	OssecConf        string          `yaml:"ossec_conf"`
	Interval         *Duration       `yaml:"interval"`
	RunOnStart       *bool           `yaml:"run_on_start"`
	SkipOnError      *bool           `yaml:"skip_on_error"`
	RemoveFromBucket *bool           `yaml:"remove_from_bucket"`
	LookBack         *Duration       `yaml:"look_back"`
	Concurrency      *int            `yaml:"concurrency"`
	State            string          `yaml:"state"`
	ManagerName      string          `yaml:"manager_name"`
	Ruleset          string          `yaml:"ruleset"`
	Rules            []string        `yaml:"rules"`
	DisabledPacks    []string        `yaml:"disabled_packs"`
	ProgressInterval *Duration       `yaml:"progress_interval"`
	ShutdownGrace    *Duration       `yaml:"shutdown_grace"`
	QueueMarks       *Duration       `yaml:"queue_marks_retention"`
	Limits           limitsSpec      `yaml:"limits"`
	Correlation      correlationSpec `yaml:"correlation"`
	Log              logSpec         `yaml:"log"`
	Metrics          *metricsSpec    `yaml:"metrics"`
	Outputs          outputsSpec     `yaml:"outputs"`
	Buckets          []bucketSpec    `yaml:"buckets"`
}

// limitsSpec bounds what one object may cost (docs/daemon.md, "Limits").
type limitsSpec struct {
	RecordSize       *ByteSize `yaml:"record_size"`
	RecordFields     *int      `yaml:"record_fields"`
	CrashesPerObject *int      `yaml:"crashes_per_object"`
	Amplification    *int      `yaml:"amplification"`
}

type logSpec struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type metricsSpec struct {
	Listen           string    `yaml:"listen"`
	AllowNonLoopback bool      `yaml:"allow_non_loopback"`
	TrafficWindow    *Duration `yaml:"traffic_window"`
}

type outputsSpec struct {
	File   *fileOutputSpec `yaml:"file"`
	Stdout bool            `yaml:"stdout"`
	// Indexer is the Wazuh indexer output (docs/indexer.md).
	Indexer *indexer.Config `yaml:"indexer"`
}

type fileOutputSpec struct {
	Path   string     `yaml:"path"`
	Fsync  string     `yaml:"fsync"`
	Rotate rotateSpec `yaml:"rotate"`
}

type rotateSpec struct {
	MaxSize ByteSize `yaml:"max_size"`
	Daily   bool     `yaml:"daily"`
}

// bucketSpec is one bucket as written, in YAML or in ossec.conf.
type bucketSpec struct {
	Type             string       `yaml:"type"`
	Name             string       `yaml:"name"`
	Path             string       `yaml:"path"`
	PathSuffix       string       `yaml:"path_suffix"`
	AccountID        StringList   `yaml:"aws_account_id"`
	AccountAlias     string       `yaml:"aws_account_alias"`
	OrganizationID   string       `yaml:"aws_organization_id"`
	Regions          StringList   `yaml:"regions"`
	OnlyLogsAfter    string       `yaml:"only_logs_after"`
	DiscardRegex     *discardSpec `yaml:"discard_regex"`
	Profile          string       `yaml:"aws_profile"`
	RoleARN          string       `yaml:"iam_role_arn"`
	RoleDuration     *Duration    `yaml:"iam_role_duration"`
	ExternalID       string       `yaml:"external_id"`
	STSEndpoint      string       `yaml:"sts_endpoint"`
	ServiceEndpoint  string       `yaml:"service_endpoint"`
	EC2Endpoint      string       `yaml:"ec2_endpoint"`
	RemoveFromBucket *bool        `yaml:"remove_from_bucket"`
	FlowLogFiles     string       `yaml:"flow_log_files"`
	Disabled         bool         `yaml:"disabled"`
	Listing          *bool        `yaml:"listing"`
	SQS              *sqsSpec     `yaml:"sqs"`
}

// sqsSpec is a bucket's sqs section (collector/sqs.Config, with this
// package's durations: "30s", "5m", "1h").
type sqsSpec struct {
	QueueURL           string    `yaml:"queue_url"`
	Region             string    `yaml:"region"`
	Endpoint           string    `yaml:"endpoint"`
	Workers            *int      `yaml:"workers"`
	VisibilityTimeout  *Duration `yaml:"visibility_timeout"`
	MaxReceives        *int      `yaml:"max_receives"`
	DeadLetterQueueURL string    `yaml:"dead_letter_queue_url"`
	QuarantineFile     string    `yaml:"quarantine_file"`
	WaitTime           *Duration `yaml:"wait_time"`
	RetryDelay         *Duration `yaml:"retry_delay"`
}

type discardSpec struct {
	Field string `yaml:"field"`
	Regex string `yaml:"regex"`
}

// Duration is a time span written as Wazuh writes intervals: a number with
// an optional unit s, m, h, d or w ("10m", "1d", "3600"), or a Go duration
// ("1h30m"). A bare number is seconds.
type Duration time.Duration

// UnmarshalYAML reads a Duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 10m")
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Duration.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}
	num, unit := s, time.Second
	if u, ok := units[s[len(s)-1]]; ok {
		num, unit = s[:len(s)-1], u
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return time.Duration(n) * unit, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad duration %q (want a number with an optional unit s, m, h, d or w, e.g. 10m)", s)
	}
	return v, nil
}

// ByteSize is a size in bytes written as a number with an optional unit
// K, KB, KiB, M, MB, MiB, G, GB or GiB (all powers of 1024).
type ByteSize int64

// UnmarshalYAML reads a ByteSize.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a size such as 100MiB")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses a ByteSize.
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
	m, ok := mult[strings.ToLower(strings.TrimSpace(t[i:]))]
	n, err := strconv.ParseInt(strings.TrimSpace(t[:i]), 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (want a number with an optional unit KiB, MiB or GiB)", s)
	}
	return n * m, nil
}

// StringList is a list written either as a YAML sequence or, as Wazuh
// writes it, as one comma-separated string.
type StringList []string

// UnmarshalYAML reads a StringList.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = splitList(n.Value)
		return nil
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected a string in the list")
			}
			out = append(out, strings.TrimSpace(c.Value))
		}
		*l = out
		return nil
	}
	return fmt.Errorf("expected a list or a comma-separated string")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
