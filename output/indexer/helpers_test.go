package indexer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// constructedFiles are the alerts.json samples copied from
// reference/samples/wazuh/alerts-constructed (testdata/SOURCES.md).
var constructedFiles = []string{
	"testdata/vpcflow.alerts.CONSTRUCTED.jsonl",
	"testdata/vpcflow-agent-forwarded-cluster-enabled.alert.CONSTRUCTED.jsonl",
	"testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied.alerts.CONSTRUCTED.jsonl",
	"testdata/cloudtrail-ConsoleLogin-bruteforce-80254x5-80255.alerts.CONSTRUCTED.jsonl",
}

// readAlerts reads alerts.json lines and gives each the origin the engine
// would: bucket and key from data.aws.log_info, the line number in the
// file, the rule id.
func readAlerts(t testing.TB, path string) []*alert.Alert {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	var out []*alert.Alert
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		out = append(out, alertFromLine(t, line, n))
	}
	require.NoError(t, sc.Err())
	return out
}

func alertFromLine(t testing.TB, line []byte, n int) *alert.Alert {
	var a struct {
		Timestamp string `json:"timestamp"`
		Rule      struct {
			ID    string `json:"id"`
			Level int    `json:"level"`
		} `json:"rule"`
		Data struct {
			AWS struct {
				LogInfo struct {
					LogFile  string `json:"log_file"`
					S3Bucket string `json:"s3bucket"`
				} `json:"log_info"`
			} `json:"aws"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(line, &a), "line %d", n)
	ts, err := time.Parse("2006-01-02T15:04:05.000-0700", a.Timestamp)
	require.NoError(t, err)
	return &alert.Alert{
		JSON:   append([]byte(nil), line...),
		RuleID: a.Rule.ID, Level: a.Rule.Level, Time: ts,
		Origin: event.Origin{Bucket: a.Data.AWS.LogInfo.S3Bucket, Key: a.Data.AWS.LogInfo.LogFile, Line: n},
	}
}

// allSampleAlerts returns the constructed samples plus every golden alert
// of the repository's testdata/alerts.
func allSampleAlerts(t testing.TB) map[string][]*alert.Alert {
	out := map[string][]*alert.Alert{}
	for _, f := range constructedFiles {
		out[f] = readAlerts(t, f)
	}
	golden, err := filepath.Glob("../../testdata/alerts/*.golden.json")
	require.NoError(t, err)
	for _, f := range golden {
		out[f] = readAlerts(t, f)
	}
	return out
}

// manyAlerts makes n distinct alerts from the constructed VPC sample, each
// from its own line of one object.
func manyAlerts(t testing.TB, n int) []*alert.Alert {
	base := readAlerts(t, "testdata/vpcflow.alerts.CONSTRUCTED.jsonl")[0]
	out := make([]*alert.Alert, n)
	for i := range out {
		a := *base
		a.Origin.Line = i + 1
		a.Origin.ETag = "etag-1"
		out[i] = &a
	}
	return out
}

func loadTemplate(t testing.TB) []byte {
	raw, err := os.ReadFile(templateFile)
	require.NoError(t, err)
	return raw
}

// newServer starts a test indexer with Wazuh's template.
func newServer(t testing.TB, opts indexertest.Options) *indexertest.Server {
	t.Helper()
	opts.Templates = append(opts.Templates, loadTemplate(t))
	srv, err := indexertest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// fastConfig retries quickly so tests do not wait.
func fastConfig(url string) Config {
	return Config{
		URL:          url,
		Timeout:      5 * time.Second,
		CloseTimeout: 5 * time.Second,
		Batch:        BatchConfig{Interval: 20 * time.Millisecond},
		Retry:        RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
	}
}

// logBuffer collects a sink's log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

func newSink(t testing.TB, cfg Config) (*Sink, *logBuffer) {
	t.Helper()
	log, lb := testLogger(t)
	s, err := New(cfg, log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, lb
}

func writeAll(t testing.TB, s *Sink, alerts []*alert.Alert) {
	t.Helper()
	for _, a := range alerts {
		require.NoError(t, s.Write(a))
	}
}

// expectedIDs returns index/_id for each alert.
func expectedIDs(alerts []*alert.Alert) map[string]bool {
	out := map[string]bool{}
	for _, a := range alerts {
		out[docID(a)] = true
	}
	return out
}

// storedIDs lists every _id the server holds, failing on one stored twice.
func storedIDs(t testing.TB, srv *indexertest.Server) map[string]bool {
	out := map[string]bool{}
	for _, ix := range srv.Indices() {
		for id := range srv.Docs(ix) {
			require.False(t, out[id], "id %s stored in two indices", id)
			out[id] = true
		}
	}
	return out
}

func mustJSON(t testing.TB, b []byte) any {
	var v any
	require.NoError(t, json.Unmarshal(b, &v), string(b))
	return v
}

func describe(a *alert.Alert) string {
	return fmt.Sprintf("%s:%d rule %s", a.Origin.Key, a.Origin.Line, a.RuleID)
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
