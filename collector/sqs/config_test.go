package sqs

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/specfile"
)

func TestConfigYAMLAndDefaults(t *testing.T) {
	src := `
queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/flowlogs
workers: 8
visibility_timeout: 2m
max_receives: 4
dead_letter_queue_url: https://sqs.eu-west-1.amazonaws.com/123456789012/flowlogs-dlq
wait_time: 10s
retry_delay: 30s
`
	var cfg Config
	require.NoError(t, specfile.DecodeFile("q.yml", []byte(src), &cfg))
	cfg = cfg.WithDefaults()
	require.NoError(t, cfg.Validate())
	assert.Equal(t, Config{
		QueueURL:           "https://sqs.eu-west-1.amazonaws.com/123456789012/flowlogs",
		Workers:            8,
		VisibilityTimeout:  2 * time.Minute,
		MaxReceives:        4,
		DeadLetterQueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/flowlogs-dlq",
		WaitTime:           10 * time.Second,
		RetryDelay:         30 * time.Second,
	}, cfg)

	min := Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", QuarantineFile: "/var/lib/vpcalertd/quarantine.jsonl"}.WithDefaults()
	assert.Equal(t, DefaultWorkers, min.Workers)
	assert.Equal(t, DefaultVisibilityTimeout, min.VisibilityTimeout)
	assert.Equal(t, DefaultMaxReceives, min.MaxReceives)
	assert.Equal(t, DefaultWaitTime, min.WaitTime)
	assert.Zero(t, min.RetryDelay)
	require.NoError(t, min.Validate())

	var bad Config
	err := specfile.DecodeFile("q.yml", []byte("queue_url: x\nvisibilty_timeout: 1m\n"), &bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `q.yml:2:1: unknown key "visibilty_timeout"`)
}

func TestConfigValidate(t *testing.T) {
	good := Config{
		QueueURL:       "https://sqs.us-east-1.amazonaws.com/123456789012/q",
		QuarantineFile: "quarantine.jsonl",
	}.WithDefaults()
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr []string // each line of the joined error, in order
	}{
		{"good", func(*Config) {}, nil},
		{"local-endpoint", func(c *Config) {
			c.QueueURL, c.Endpoint, c.Region = "http://127.0.0.1:9324/000000000000/q", "http://127.0.0.1:9324", "us-east-1"
		}, nil},
		{"gov-region", func(c *Config) { c.Region = "us-gov-west-1" }, nil},
		{"no-queue", func(c *Config) { c.QueueURL = "" }, []string{"queue_url: required"}},
		{"queue-not-url", func(c *Config) { c.QueueURL = "flowlogs" }, []string{`queue_url: "flowlogs": want an http or https URL`}},
		{"queue-no-path", func(c *Config) { c.QueueURL = "https://sqs.us-east-1.amazonaws.com/" },
			[]string{`queue_url: "https://sqs.us-east-1.amazonaws.com/": no queue path (want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)`}},
		{"bad-region", func(c *Config) { c.Region = "US_EAST_1" }, []string{`region: "US_EAST_1" is not an AWS region name (like us-east-1)`}},
		{"bad-endpoint", func(c *Config) { c.Endpoint = "127.0.0.1:9324" }, []string{`endpoint: "127.0.0.1:9324": want an http or https URL`}},
		{"workers", func(c *Config) { c.Workers = -1 }, []string{"workers: must be 1 to 1000, got -1"}},
		{"visibility-short", func(c *Config) { c.VisibilityTimeout = 500 * time.Millisecond },
			[]string{"visibility_timeout: must be 1s to 12h, got 500ms"}},
		{"visibility-long", func(c *Config) { c.VisibilityTimeout = 13 * time.Hour },
			[]string{"visibility_timeout: must be 1s to 12h, got 13h0m0s"}},
		{"max-receives", func(c *Config) { c.MaxReceives = 1001 }, []string{"max_receives: must be 1 to 1000, got 1001"}},
		{"wait", func(c *Config) { c.WaitTime = 21 * time.Second }, []string{"wait_time: must be 1s to 20s (SQS long polling), got 21s"}},
		{"retry-delay", func(c *Config) { c.RetryDelay = -time.Second }, []string{"retry_delay: must be 0s to 12h, got -1s"}},
		{"dlq-is-queue", func(c *Config) { c.DeadLetterQueueURL = c.QueueURL }, []string{"dead_letter_queue_url: is the queue_url itself"}},
		{"quarantine-dir", func(c *Config) { c.QuarantineFile = "/var/lib/vpcalertd/" },
			[]string{`quarantine_file: "/var/lib/vpcalertd/" names a directory, want a file`}},
		{"nowhere-to-move", func(c *Config) { c.QuarantineFile = "" },
			[]string{"dead_letter_queue_url: or quarantine_file is required: messages that keep failing must be moved somewhere"}},
		{"all-at-once", func(c *Config) { c.QueueURL, c.Workers, c.WaitTime = "", 0, 0 },
			[]string{"queue_url: required", "workers: must be 1 to 1000, got 0", "wait_time: must be 1s to 20s (SQS long polling), got 0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.mod(&cfg)
			err := cfg.Validate()
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, strings.Join(tt.wantErr, "\n"), err.Error())
		})
	}
}

func TestNewConsumerRejectsBadConfig(t *testing.T) {
	_, err := NewConsumer(Config{}, nil, nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sqs: queue_url: required")
}

func TestNewClientFromConfigRegion(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		envRegion  string
		wantRegion string
		wantErr    string
	}{
		{"explicit", Config{QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/q", Region: "eu-central-1"}, "us-east-1", "eu-central-1", ""},
		{"from-queue-url", Config{QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/q"}, "us-east-1", "eu-west-1", ""},
		{"from-china-queue-url", Config{QueueURL: "https://sqs.cn-north-1.amazonaws.com.cn/1/q"}, "", "cn-north-1", ""},
		{"from-sdk", Config{QueueURL: "http://127.0.0.1:9324/1/q"}, "ap-south-1", "ap-south-1", ""},
		{"none", Config{QueueURL: "http://127.0.0.1:9324/1/q"}, "", "", "sqs: region: not set, not in queue_url, and not in the AWS environment or profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClientFromConfig(aws.Config{Region: tt.envRegion}, tt.cfg)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantRegion, c.Options().Region)
		})
	}
}
