package sqs

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/specfile"
)

// Defaults applied by Config.WithDefaults to zero values.
const (
	DefaultWorkers           = 4
	DefaultVisibilityTimeout = 60 * time.Second
	DefaultMaxReceives       = 5
	DefaultWaitTime          = 20 * time.Second
)

// Limits of the SQS API (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html,
// API_ChangeMessageVisibility.html).
const (
	maxVisibility = 12 * time.Hour
	maxWaitTime   = 20 * time.Second
	maxBatch      = 10
	maxWorkers    = 1000
	maxReceives   = 1000
)

// Config is one queue to follow: the `sqs` section of a bucket in the
// daemon's configuration. Durations are Go durations ("30s", "5m"); SQS
// counts whole seconds, so they are rounded up to the second.
type Config struct {
	// QueueURL is the queue's URL, e.g.
	// https://sqs.us-east-1.amazonaws.com/123456789012/flowlogs. Required.
	QueueURL string `yaml:"queue_url"`
	// Region is the queue's region. Empty means the one in an AWS queue URL,
	// else the SDK's (AWS_REGION, profile).
	Region string `yaml:"region"`
	// Endpoint overrides the SQS endpoint (an SQS-compatible server, or a
	// VPC endpoint). Empty means AWS's.
	Endpoint string `yaml:"endpoint"`
	// Workers is how many objects this instance handles at once. It holds
	// up to twice as many messages: the next ones are received, and kept
	// invisible, while the current ones are handled.
	Workers int `yaml:"workers"`
	// VisibilityTimeout is how long a received message stays hidden from
	// other consumers; it is extended every half of it while the message is
	// processed, so it bounds how soon another instance takes over the work
	// of one that died.
	VisibilityTimeout time.Duration `yaml:"visibility_timeout"`
	// MaxReceives is how many times a message may be received before it is
	// moved aside (dead-letter queue or quarantine file) instead of retried.
	MaxReceives int `yaml:"max_receives"`
	// DeadLetterQueueURL receives messages moved aside, with the reason in a
	// message attribute. Either it or QuarantineFile is required.
	DeadLetterQueueURL string `yaml:"dead_letter_queue_url"`
	// QuarantineFile receives messages moved aside when no dead-letter queue
	// is set: one JSON line each (QuarantineEntry), appended and fsync'd.
	QuarantineFile string `yaml:"quarantine_file"`
	// WaitTime is the long-polling wait of each ReceiveMessage call, 1s–20s
	// (zero means the default, 20s; a receive returns as soon as a message
	// is there, so a long wait costs nothing but saves empty receives).
	WaitTime time.Duration `yaml:"wait_time"`
	// RetryDelay is how long a message whose objects failed stays hidden
	// before it is retried; zero leaves the visibility timeout to run out.
	RetryDelay time.Duration `yaml:"retry_delay"`
}

// WithDefaults returns c with zero values replaced by the defaults.
func (c Config) WithDefaults() Config {
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if c.MaxReceives == 0 {
		c.MaxReceives = DefaultMaxReceives
	}
	if c.WaitTime == 0 {
		c.WaitTime = DefaultWaitTime
	}
	return c
}

// Validate checks every setting and returns all problems at once, joined,
// each a *specfile.Error naming its YAML key (e.g. visibility_timeout) and
// no position: the configuration that holds the settings adds it. Call it
// on the result of WithDefaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, specfile.Errorf(specfile.Pos{}, key, format, args...))
	}
	if c.QueueURL == "" {
		bad("queue_url", "required")
	} else if err := checkURL(c.QueueURL, true); err != nil {
		bad("queue_url", "%v", err)
	}
	if c.Region != "" && !collector.IsRegion(c.Region) {
		bad("region", "%q is not an AWS region name (like us-east-1)", c.Region)
	}
	if c.Endpoint != "" {
		if err := checkURL(c.Endpoint, false); err != nil {
			bad("endpoint", "%v", err)
		}
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		bad("workers", "must be 1 to %d, got %d", maxWorkers, c.Workers)
	}
	if c.VisibilityTimeout < time.Second || c.VisibilityTimeout > maxVisibility {
		bad("visibility_timeout", "must be 1s to 12h, got %s", c.VisibilityTimeout)
	}
	if c.MaxReceives < 1 || c.MaxReceives > maxReceives {
		bad("max_receives", "must be 1 to %d, got %d", maxReceives, c.MaxReceives)
	}
	if c.WaitTime < time.Second || c.WaitTime > maxWaitTime {
		bad("wait_time", "must be 1s to 20s (SQS long polling), got %s", c.WaitTime)
	}
	if c.RetryDelay < 0 || c.RetryDelay > maxVisibility {
		bad("retry_delay", "must be 0s to 12h, got %s", c.RetryDelay)
	}
	if c.DeadLetterQueueURL != "" {
		if err := checkURL(c.DeadLetterQueueURL, true); err != nil {
			bad("dead_letter_queue_url", "%v", err)
		} else if c.DeadLetterQueueURL == c.QueueURL {
			bad("dead_letter_queue_url", "is the queue_url itself")
		}
	}
	if c.QuarantineFile != "" && strings.HasSuffix(c.QuarantineFile, "/") {
		bad("quarantine_file", "%q names a directory, want a file", c.QuarantineFile)
	}
	if c.DeadLetterQueueURL == "" && c.QuarantineFile == "" {
		bad("dead_letter_queue_url", "or quarantine_file is required: messages that keep failing must be moved somewhere")
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute http or https URL; a queue URL also needs a
// path (/account/name).
func checkURL(s string, queue bool) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q: want an http or https URL", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	if queue && strings.Trim(u.Path, "/") == "" {
		return fmt.Errorf("%q: no queue path (want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", s)
	}
	return nil
}

// holdLimit is how many messages a consumer holds at once: one being
// handled per worker and as many received ahead.
func (c Config) holdLimit() int { return 2 * c.Workers }

// regionFromQueueURL returns REGION from https://sqs.REGION.amazonaws.com/…
// (and the amazonaws.com.cn form), or "".
func regionFromQueueURL(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" && parts[2] == "amazonaws" && collector.IsRegion(parts[1]) {
		return parts[1]
	}
	return ""
}

// seconds rounds d up to whole seconds, as SQS wants.
func seconds(d time.Duration) int32 {
	return int32((d + time.Second - 1) / time.Second)
}
