package indexer

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
	"github.com/vpcalertd/vpcalertd/specfile"
)

func TestDocID(t *testing.T) {
	base := alert.Alert{RuleID: "80401", Seq: 0, Origin: event.Origin{Bucket: "b", Key: "AWSLogs/1/vpcflowlogs/x.log.gz", Line: 7, ETag: `"abc"`}}
	id := docID(&base)
	assert.Len(t, id, 20)
	same := base
	same.JSON = []byte(`{"timestamp":"later"}`) // a re-read: other processing time
	same.Origin.ETag = "abc"                    // ETag with or without quotes
	same.Origin.Offset = 99
	assert.Equal(t, id, docID(&same))
	for name, change := range map[string]func(a *alert.Alert){
		"seq":    func(a *alert.Alert) { a.Seq = 1 },
		"rule":   func(a *alert.Alert) { a.RuleID = "80402" },
		"line":   func(a *alert.Alert) { a.Origin.Line = 8 },
		"etag":   func(a *alert.Alert) { a.Origin.ETag = "def" },
		"key":    func(a *alert.Alert) { a.Origin.Key += "2" },
		"bucket": func(a *alert.Alert) { a.Origin.Bucket = "c" },
		"split":  func(a *alert.Alert) { a.Origin.Bucket, a.Origin.Key = "bA", "WSLogs/1/vpcflowlogs/x.log.gz" },
	} {
		a := base
		change(&a)
		assert.NotEqual(t, id, docID(&a), name)
	}
	// Local files have no ETag: the path read tells two mirrors apart.
	local := alert.Alert{RuleID: "80401", Origin: event.Origin{Bucket: "local", Key: "x.log", Path: "mirror-a/x.log", Line: 1}}
	other2 := local
	other2.Origin.Path = "mirror-b/x.log"
	assert.NotEqual(t, docID(&local), docID(&other2))
	withETag := local
	withETag.Origin.ETag = "abc"
	withETagElsewhere := withETag
	withETagElsewhere.Origin.Path = "s3://local/x.log"
	assert.Equal(t, docID(&withETag), docID(&withETagElsewhere), "with an ETag the path does not matter")

	noOrigin := alert.Alert{JSON: []byte(`{"a":1}`), RuleID: "1"}
	other := alert.Alert{JSON: []byte(`{"a":2}`), RuleID: "1"}
	assert.NotEqual(t, docID(&noOrigin), docID(&other), "without an origin the JSON decides")
}

// TestSampleAlertsRoundTrip: every sample alert is written back byte for
// byte when nothing changes.
func TestSampleAlertsRoundTrip(t *testing.T) {
	var tr ojson.Tree
	for _, alerts := range allSampleAlerts(t) {
		for _, a := range alerts {
			require.NoError(t, tr.Parse(a.JSON))
			assert.Equal(t, string(a.JSON), string(tr.Encode(nil, 0)))
		}
	}
}

// TestDocumentDepth: a document nested deeper than OpenSearch takes is
// refused before it is sent.
func TestDocumentDepth(t *testing.T) {
	var b builder
	b.now = time.Now
	_, err := b.render(nil, &alert.Alert{JSON: []byte(`{"a":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`)})
	assert.ErrorIs(t, err, errInvalidAlert)
	assert.ErrorIs(t, err, ojson.ErrSyntax)
}

func TestParseISODate(t *testing.T) {
	for _, tc := range []struct {
		in     string
		strict bool
		want   string // RFC3339Nano in UTC, "" for invalid
	}{
		{"2024-03-05T10:20:31.102+0000", false, "2024-03-05T10:20:31.102Z"},
		{"2024-03-06T00:30:00.000+0100", false, "2024-03-05T23:30:00Z"},
		{"2024-03-05T10:20:31Z", true, "2024-03-05T10:20:31Z"},
		{"2024-03-05", true, "2024-03-05T00:00:00Z"},
		{"2024", true, "2024-01-01T00:00:00Z"},
		{"2024-03-05T10", true, "2024-03-05T10:00:00Z"},
		{"2024-03-05T10:20:31,5-05:30", true, "2024-03-05T15:50:31.5Z"},
		{"2024-3-5T1:2:3Z", false, "2024-03-05T01:02:03Z"},
		{"2024-3-5T1:2:3Z", true, ""},
		{"2024-02-29", true, "2024-02-29T00:00:00Z"},
		{"2023-02-29", true, ""},
		{"2024-03-05T10:20:31+19:00", true, ""},
		{"2024-03-05 10:20:31", true, ""},
		{"", true, ""},
	} {
		got, ok := parseISODate([]byte(tc.in), tc.strict)
		if tc.want == "" {
			assert.False(t, ok, tc.in)
			continue
		}
		require.True(t, ok, tc.in)
		assert.Equal(t, tc.want, got.UTC().Format(time.RFC3339Nano), tc.in)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{URL: "https://wazuh-indexer:9200"}
	require.NoError(t, ok.Validate())
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"no-url", func(c *Config) { c.URL = "" }, []string{"url: required"}},
		{"bad-scheme", func(c *Config) { c.URLs = []string{"ftp://x"} }, []string{"urls[0]: \"ftp://x\": scheme must be https or http"}},
		{"credentials-in-url", func(c *Config) { c.URL = "https://admin:secret@x:9200" }, []string{"url: \"https://admin:xxxxx@x:9200\": credentials in the URL are not accepted"}},
		{"prefix", func(c *Config) { c.IndexPrefix = "Wazuh*" }, []string{"index_prefix: \"Wazuh*\": index names must be lower case", "must not contain"}},
		{"pipeline-input", func(c *Config) { c.PipelineInput = "raw" }, []string{"pipeline_input: \"raw\": expected one of [filebeat alert]"}},
		{"batch", func(c *Config) { c.Batch.MaxBytes = 10; c.Batch.MaxCount = -1; c.Batch.Workers = 1000 }, []string{"batch.max_bytes: 10: must be at least 1024", "batch.max_count", "batch.workers"}},
		{"backoff", func(c *Config) { c.Retry.InitialBackoff = time.Minute; c.Retry.MaxBackoff = time.Second }, []string{"retry.max_backoff: 1s is less than retry.initial_backoff 1m0s"}},
		{"queue", func(c *Config) { c.Queue.MaxBytes = 100 }, []string{"queue.max_bytes: 100: must be at least"}},
		{"tls", func(c *Config) { c.TLS.CertFile = "c.pem" }, []string{"tls.cert_file: tls.cert_file and tls.key_file go together"}},
		{"user-without-password", func(c *Config) { c.Auth.Username = "admin" }, []string{"auth.username: needs auth.password_env or auth.password_file"}},
		{"two-passwords", func(c *Config) { c.Auth = AuthConfig{Username: "a", PasswordEnv: "P", PasswordFile: "f"} }, []string{"auth.password_file: set only one"}},
		{"basic-and-key", func(c *Config) { c.Auth = AuthConfig{Username: "a", PasswordEnv: "P", APIKeyEnv: "K"} }, []string{"auth.api_key_env: use either basic authentication or an API key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
url: https://wazuh-indexer:9200
urls: [https://node-2:9200]
pipeline: filebeat-7.10.2-wazuh-alerts-pipeline
batch: {max_bytes: 10MiB, max_count: 2000, interval: 2s, workers: 4}
retry: {initial_backoff: 250ms, max_backoff: 1m, max_item_retries: 10}
queue: {dir: /var/lib/vpcalertd/indexer-queue, max_bytes: 2GiB, full_timeout: 1m}
dead_letter_file: /var/lib/vpcalertd/indexer-dead-letter.ndjson
tls: {ca_file: /etc/vpcalertd/root-ca.pem, cert_file: c.pem, key_file: k.pem}
auth: {username: admin, password_file: /etc/vpcalertd/indexer-password}
geoip: {database: /usr/share/GeoIP/GeoLite2-City.mmdb}
`
	var c Config
	require.NoError(t, specfile.DecodeFile("i.yml", []byte(src), &c))
	require.NoError(t, c.Validate())
	assert.Equal(t, ByteSize(10<<20), c.Batch.MaxBytes)
	assert.Equal(t, ByteSize(2<<30), c.Queue.MaxBytes)
	assert.Equal(t, 250*time.Millisecond, c.Retry.InitialBackoff)
	assert.Equal(t, []string{"https://wazuh-indexer:9200", "https://node-2:9200"}, c.urls())
	d := c.withDefaults()
	assert.Equal(t, PipelineInputFilebeat, d.PipelineInput)
	assert.Equal(t, DefaultIndexPrefix, d.IndexPrefix)

	// As the daemon's configuration reads it: strictly, with positions.
	for src, want := range map[string]string{
		"batch: {max_bytes: lots}\n": `i.yml:1:20: batch.max_bytes: invalid size "lots": expected a number of bytes or one with a unit such as 5MiB`,
		"password: x\n":              `i.yml:1:1: unknown key "password" (expected one of [auth batch`,
	} {
		err := specfile.DecodeFile("i.yml", []byte(src), new(Config))
		require.Error(t, err, src)
		assert.Contains(t, err.Error(), want)
	}
}

func TestDefaults(t *testing.T) {
	d := Config{URL: "http://x", Queue: QueueConfig{Dir: "/q"}}.withDefaults()
	assert.Equal(t, "/q/dead-letter.ndjson", d.DeadLetter)
	assert.Equal(t, ByteSize(1<<30), d.Queue.MaxBytes)
	m := Config{URL: "http://x"}.withDefaults()
	assert.Empty(t, m.DeadLetter)
	assert.Equal(t, ByteSize(64<<20), m.Queue.MaxBytes)
}

func TestSecretFileModeWarning(t *testing.T) {
	dir := t.TempDir()
	pw := dir + "/pw"
	require.NoError(t, os.WriteFile(pw, []byte("x"), 0o644))
	cfg := Config{URL: "http://127.0.0.1:1", Auth: AuthConfig{Username: "u", PasswordFile: pw}}
	log, logs := testLogger(t)
	s, err := New(cfg, log)
	require.NoError(t, err)
	defer s.Close()
	assert.Contains(t, logs.String(), "is readable by other users")
	assert.Contains(t, logs.String(), "uses plain HTTP")
	assert.NotContains(t, logs.String(), "Basic ")
}
