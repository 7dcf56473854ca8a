package indexer

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// Config configures the indexer output. It is the `indexer:` block of the
// daemon configuration; zero values get the defaults documented on each
// field (see docs/indexer.md).
type Config struct {
	// URL is the indexer's base URL, e.g. https://wazuh-indexer:9200.
	URL string `yaml:"url"`
	// URLs lists several nodes; requests go to the next one after a
	// network error or a 5xx. URL and URLs may be combined.
	URLs []string `yaml:"urls"`
	// IndexPrefix is the daily index name prefix; default
	// "wazuh-alerts-4.x-" (the Wazuh Filebeat module's).
	IndexPrefix string `yaml:"index_prefix"`
	// Pipeline, when set, sends every document through this ingest pipeline
	// of the user's instead of building the Filebeat pipeline's document
	// here.
	Pipeline string `yaml:"pipeline"`
	// PipelineInput is the document shape sent to Pipeline: "filebeat"
	// (default; what Wazuh's Filebeat sends, the alert as a JSON string in
	// `message`, so Wazuh's own pipeline works unchanged) or "alert" (the
	// alert object itself).
	PipelineInput PipelineInput `yaml:"pipeline_input"`
	// Compress gzips request bodies.
	Compress bool `yaml:"compress"`
	// Timeout bounds one `_bulk` request; default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// CloseTimeout bounds how long Close waits for the queue to drain;
	// default 10s. What is left in a disk queue is sent after a restart.
	CloseTimeout time.Duration `yaml:"close_timeout"`

	Batch      BatchConfig `yaml:"batch"`
	Retry      RetryConfig `yaml:"retry"`
	Queue      QueueConfig `yaml:"queue"`
	DeadLetter string      `yaml:"dead_letter_file"` // default <queue.dir>/dead-letter.ndjson
	TLS        TLSConfig   `yaml:"tls"`
	Auth       AuthConfig  `yaml:"auth"`
	GeoIP      GeoIPConfig `yaml:"geoip"`
}

// BatchConfig bounds one `_bulk` request.
type BatchConfig struct {
	// MaxBytes bounds the request body (before compression); default 5MiB.
	// A single larger document is sent alone.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxCount bounds the documents per request; default 1000.
	MaxCount int `yaml:"max_count"`
	// Interval is how long a partial batch waits for more alerts before it
	// is sent; default 1s.
	Interval time.Duration `yaml:"interval"`
	// Workers is the number of requests in flight; default 2.
	Workers int `yaml:"workers"`
}

// RetryConfig shapes the exponential backoff used after a failed request or
// transient per-item errors. Requests are retried without limit: alerts
// wait in the queue, never dropped.
type RetryConfig struct {
	// InitialBackoff is the first wait; default 500ms. Each failure doubles
	// it up to MaxBackoff; the actual wait is jittered between half and all
	// of it.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff caps the wait; default 30s.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxItemRetries, when positive, sends a document that keeps failing
	// with a transient per-item error (429, 5xx) to the dead-letter file
	// after that many retries. Default 0: retry without limit.
	MaxItemRetries int `yaml:"max_item_retries"`
}

// QueueConfig configures where alerts wait before the indexer accepts them.
type QueueConfig struct {
	// Dir, when set, keeps the queue on disk in this directory: Sync then
	// means "fsync'd to the queue", alerts survive a restart and wait out an
	// outage. When empty the queue is in memory and Sync waits until the
	// indexer has the alerts.
	Dir string `yaml:"dir"`
	// MaxBytes bounds the queued data; default 1GiB on disk, 64MiB in
	// memory. When the queue is full, Write waits (see FullTimeout).
	MaxBytes ByteSize `yaml:"max_bytes"`
	// FullTimeout is how long Write waits for room in a full queue before it
	// returns ErrQueueFull; default 30s. Negative: wait until Close.
	FullTimeout time.Duration `yaml:"full_timeout"`
}

// TLSConfig configures HTTPS. Certificates are always verified unless
// InsecureSkipVerify is set, which logs a warning at start-up.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs that sign the indexer's certificate
	// (Wazuh's root-ca.pem). Empty: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// indexers that authenticate clients by certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the indexer's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify turns certificate verification off. Never use it in
	// production.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// AuthConfig says how to authenticate. Secrets are read from an environment
// variable or a file, never from the configuration itself or a flag, and
// are never logged.
type AuthConfig struct {
	// Username enables HTTP basic authentication with the password from
	// PasswordEnv or PasswordFile.
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// APIKeyEnv or APIKeyFile hold an API key sent as
	// "Authorization: ApiKey <key>" (the base64 "id:key" form).
	APIKeyEnv  string `yaml:"api_key_env"`
	APIKeyFile string `yaml:"api_key_file"`
}

// GeoIPConfig enables the GeoLocation enrichment of Wazuh's pipeline.
type GeoIPConfig struct {
	// Database is a MaxMind GeoLite2/GeoIP2 City (or Country) .mmdb file.
	// Empty: no GeoLocation, as a Wazuh indexer without the geoip database.
	Database string `yaml:"database"`
}

// PipelineInput is the shape of the documents sent to a user pipeline.
type PipelineInput string

// The accepted pipeline inputs.
const (
	PipelineInputFilebeat PipelineInput = "filebeat"
	PipelineInputAlert    PipelineInput = "alert"
)

// Defaults.
const (
	DefaultIndexPrefix        = "wazuh-alerts-4.x-"
	defaultBatchBytes         = 5 << 20
	defaultBatchCount         = 1000
	defaultBatchInterval      = time.Second
	defaultWorkers            = 2
	defaultInitialBackoff     = 500 * time.Millisecond
	defaultMaxBackoff         = 30 * time.Second
	defaultDiskQueueBytes     = 1 << 30
	defaultMemoryQueueBytes   = 64 << 20
	defaultFullTimeout        = 30 * time.Second
	defaultTimeout            = 60 * time.Second
	defaultCloseTimeout       = 10 * time.Second
	minBatchBytes             = 1 << 10
	minQueueBytes             = 1 << 20
	deadLetterName            = "dead-letter.ndjson"
	maxBatchCount             = 100000
	maxWorkers                = 64
	indexNameInvalidChars     = `\/*?"<>| ,#:`
	indexNameInvalidFirstChar = "_-+"
)

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if c.IndexPrefix == "" {
		c.IndexPrefix = DefaultIndexPrefix
	}
	if c.Pipeline != "" && c.PipelineInput == "" {
		c.PipelineInput = PipelineInputFilebeat
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = defaultCloseTimeout
	}
	if c.Batch.MaxBytes == 0 {
		c.Batch.MaxBytes = defaultBatchBytes
	}
	if c.Batch.MaxCount == 0 {
		c.Batch.MaxCount = defaultBatchCount
	}
	if c.Batch.Interval == 0 {
		c.Batch.Interval = defaultBatchInterval
	}
	if c.Batch.Workers == 0 {
		c.Batch.Workers = defaultWorkers
	}
	if c.Retry.InitialBackoff == 0 {
		c.Retry.InitialBackoff = defaultInitialBackoff
	}
	if c.Retry.MaxBackoff == 0 {
		c.Retry.MaxBackoff = defaultMaxBackoff
	}
	if c.Queue.MaxBytes == 0 {
		c.Queue.MaxBytes = defaultMemoryQueueBytes
		if c.Queue.Dir != "" {
			c.Queue.MaxBytes = defaultDiskQueueBytes
		}
	}
	if c.Queue.FullTimeout == 0 {
		c.Queue.FullTimeout = defaultFullTimeout
	}
	if c.DeadLetter == "" && c.Queue.Dir != "" {
		c.DeadLetter = strings.TrimSuffix(c.Queue.Dir, "/") + "/" + deadLetterName
	}
	return c
}

// urls returns URL and URLs together.
func (c *Config) urls() []string {
	var out []string
	if c.URL != "" {
		out = append(out, c.URL)
	}
	return append(out, c.URLs...)
}

// Validate reports every problem in c, each a *specfile.Error naming its
// key relative to the indexer block ("batch.max_bytes", "tls.cert_file",
// ...) and no position: the configuration that holds the block adds it.
// Zero values are valid: they mean the default.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, specfile.Errorf(specfile.Pos{}, key, format, args...))
	}
	for _, check := range []func(problem){c.checkURLs, c.checkIndexPrefix, c.checkPipeline, c.checkTimes, c.checkBatch, c.checkQueue, c.checkTLS, c.checkAuth} {
		check(bad)
	}
	return errors.Join(errs...)
}

// problem reports one problem with the setting key.
type problem func(key, format string, args ...any)

func (c Config) checkURLs(bad problem) {
	if len(c.urls()) == 0 {
		bad("url", "required: the indexer's base URL, e.g. https://wazuh-indexer:9200")
	}
	if c.URL != "" {
		if err := checkURL(c.URL); err != nil {
			bad("url", "%v", err)
		}
	}
	for i, raw := range c.URLs {
		if err := checkURL(raw); err != nil {
			bad(fmt.Sprintf("urls[%d]", i), "%v", err)
		}
	}
}

func (c Config) checkIndexPrefix(bad problem) {
	p := c.IndexPrefix
	if p == "" {
		return
	}
	if p != strings.ToLower(p) {
		bad("index_prefix", "%q: index names must be lower case", p)
	}
	if strings.ContainsAny(p, indexNameInvalidChars) {
		bad("index_prefix", "%q: must not contain any of %q", p, indexNameInvalidChars)
	}
	if strings.ContainsAny(p[:1], indexNameInvalidFirstChar) {
		bad("index_prefix", "%q: must not start with any of %q", p, indexNameInvalidFirstChar)
	}
}

func (c Config) checkPipeline(bad problem) {
	switch c.PipelineInput {
	case "", PipelineInputFilebeat, PipelineInputAlert:
		if c.PipelineInput != "" && c.Pipeline == "" {
			bad("pipeline_input", "set without pipeline")
		}
	default:
		bad("pipeline_input", "%q: expected one of [%s %s]", c.PipelineInput, PipelineInputFilebeat, PipelineInputAlert)
	}
}

// checkTimes checks the durations: none may be negative, and the backoff
// may not shrink.
func (c Config) checkTimes(bad problem) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"timeout", c.Timeout}, {"close_timeout", c.CloseTimeout}, {"batch.interval", c.Batch.Interval},
		{"retry.initial_backoff", c.Retry.InitialBackoff}, {"retry.max_backoff", c.Retry.MaxBackoff}} {
		if d.v < 0 {
			bad(d.key, "must not be negative")
		}
	}
	if c.Retry.InitialBackoff > 0 && c.Retry.MaxBackoff > 0 && c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		bad("retry.max_backoff", "%v is less than retry.initial_backoff %v", c.Retry.MaxBackoff, c.Retry.InitialBackoff)
	}
	if c.Retry.MaxItemRetries < 0 {
		bad("retry.max_item_retries", "must not be negative")
	}
}

func (c Config) checkBatch(bad problem) {
	if b := c.Batch.MaxBytes; b != 0 && b < minBatchBytes {
		bad("batch.max_bytes", "%d: must be at least %d", b, minBatchBytes)
	}
	if n := c.Batch.MaxCount; n < 0 || n > maxBatchCount {
		bad("batch.max_count", "%d: must be between 1 and %d", n, maxBatchCount)
	}
	if n := c.Batch.Workers; n < 0 || n > maxWorkers {
		bad("batch.workers", "%d: must be between 1 and %d", n, maxWorkers)
	}
}

func (c Config) checkQueue(bad problem) {
	if q := c.Queue.MaxBytes; q != 0 && q < minQueueBytes {
		bad("queue.max_bytes", "%d: must be at least %d", q, minQueueBytes)
	}
	if q, b := c.Queue.MaxBytes, c.Batch.MaxBytes; q != 0 && b != 0 && q < b {
		bad("queue.max_bytes", "%d is less than batch.max_bytes %d", q, b)
	}
}

func (c Config) checkTLS(bad problem) {
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert_file", "tls.cert_file and tls.key_file go together")
	}
}

func (c Config) checkAuth(bad problem) {
	a := c.Auth
	if a.PasswordEnv != "" && a.PasswordFile != "" {
		bad("auth.password_file", "set only one of auth.password_env and auth.password_file")
	}
	if a.APIKeyEnv != "" && a.APIKeyFile != "" {
		bad("auth.api_key_file", "set only one of auth.api_key_env and auth.api_key_file")
	}
	hasPassword := a.PasswordEnv != "" || a.PasswordFile != ""
	hasKey := a.APIKeyEnv != "" || a.APIKeyFile != ""
	if a.Username != "" && !hasPassword {
		bad("auth.username", "needs auth.password_env or auth.password_file")
	}
	if hasPassword && a.Username == "" {
		bad("auth.username", "required with a password")
	}
	if hasKey && (a.Username != "" || hasPassword) {
		bad("auth.api_key_env", "use either basic authentication or an API key, not both")
	}
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%q: scheme must be https or http", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q: credentials in the URL are not accepted, use auth.password_env or auth.password_file", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: must not have a query or fragment", raw)
	}
	return nil
}

// ByteSize is a size in bytes. In YAML it is an integer or a string with a
// unit: "512KiB", "5MiB", "1GiB" (also KB, MB, GB as powers of 1000).
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// ParseByteSize parses "1048576", "5MiB", "1GB".
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: expected a number of bytes or one with a unit such as 5MiB", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts an integer or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expected a size such as 5MiB")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}
