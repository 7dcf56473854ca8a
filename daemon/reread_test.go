package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// newIndexer starts a test indexer with Wazuh's template, in this process:
// it outlives the daemons a test starts and kills.
func newIndexer(t *testing.T, opts indexertest.Options) *indexertest.Server {
	t.Helper()
	tpl, err := os.ReadFile("../output/indexer/testdata/wazuh-template.alerts-4.x.v4.14.7.json")
	require.NoError(t, err)
	opts.Templates = append(opts.Templates, tpl)
	ix, err := indexertest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(ix.Close)
	return ix
}

// indexedDoc is one document of the test indexer.
type indexedDoc struct {
	index, id string
	raw       []byte
	alertID   string // the alert's "id"
	timestamp string
}

// indexerDocs returns every document, by index and _id.
func indexerDocs(t *testing.T, ix *indexertest.Server) map[string]indexedDoc {
	t.Helper()
	out := map[string]indexedDoc{}
	for _, name := range ix.Indices() {
		for id, raw := range ix.Docs(name) {
			var d struct {
				ID        string `json:"id"`
				Timestamp string `json:"timestamp"`
			}
			require.NoError(t, json.Unmarshal(raw, &d))
			out[name+"/"+id] = indexedDoc{index: name, id: id, raw: raw, alertID: d.ID, timestamp: d.Timestamp}
		}
	}
	return out
}

// fileAlert is one line of the alerts file, with what the indexer copies.
type fileAlert struct {
	id, timestamp string
}

func fileAlerts(t *testing.T, paths ...string) []fileAlert {
	t.Helper()
	var out []fileAlert
	for _, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var a struct {
				ID        string `json:"id"`
				Timestamp string `json:"timestamp"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &a), line)
			out = append(out, fileAlert{id: a.ID, timestamp: a.Timestamp})
		}
	}
	return out
}

// checkFileMatchesIndexer: the indexer holds one document per alert of the
// files, no other, each with the alert's id and timestamp, in the index of
// the timestamp's UTC day. It reports the first few differences and how
// many there are.
func checkFileMatchesIndexer(t *testing.T, ix *indexertest.Server, files []string) map[string]indexedDoc {
	t.Helper()
	docs := indexerDocs(t, ix)
	alerts := fileAlerts(t, files...)
	byID := map[string]fileAlert{}
	for _, a := range alerts {
		_, dup := byID[a.id]
		require.False(t, dup, "alert id %s twice in the file", a.id)
		byID[a.id] = a
	}
	var problems []string
	seen := map[string]bool{}
	for key, d := range docs {
		a, ok := byID[d.alertID]
		ts, err := time.Parse("2006-01-02T15:04:05.000-0700", d.timestamp)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("document %s: alert %s is not in the file: %.300s", key, d.alertID, d.raw))
		case seen[d.alertID]:
			problems = append(problems, fmt.Sprintf("alert %s indexed twice (%s)", d.alertID, key))
		case a.timestamp != d.timestamp:
			problems = append(problems, fmt.Sprintf("document %s: timestamp %s, in the file %s", key, d.timestamp, a.timestamp))
		case err != nil || d.index != "wazuh-alerts-4.x-"+ts.UTC().Format("2006.01.02"):
			problems = append(problems, fmt.Sprintf("document %s: in %s, dated %s", key, d.index, d.timestamp))
		}
		seen[d.alertID] = true
	}
	if len(problems) > 3 {
		problems = append(problems[:3], fmt.Sprintf("… %d more", len(problems)-3))
	}
	assert.Empty(t, problems)
	assert.Equal(t, len(alerts), len(docs), "one document per alert of the file")
	return docs
}

// TestReReadAcrossMidnight: the daemon is killed just before UTC midnight,
// after the indexer took the alerts of its first objects but before those
// objects were marked done; it is started again after midnight. The
// objects are read again and give the same alerts — same id, same
// timestamp, so the same daily index and _id — as those the indexer
// holds: each alert is one document, the alerts file and the indexer hold
// the same alerts, and the objects read for the first time after midnight
// are dated (and indexed) on the new day.
func TestReReadAcrossMidnight(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	ix := newIndexer(t, indexertest.Options{})
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "reread-it")
	want := crashBucket(t, srv, bucket, 40, 50)
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
# Objects one at a time, no pack: firedtimes (which is in the alerts, so in
# their length, so in their ids) then depends only on the objects' order.
# Correlation under the default concurrency is TestCrashCampaign's.
concurrency: 1
disabled_packs: [all]
outputs:
  file: {path: alerts.json}
  indexer:
    url: %s
    queue: {dir: indexer-queue}
    batch: {interval: 20ms}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, ix.URL, bucket, srv.Endpoint))

	// Before midnight: the first commit waits long enough for the
	// indexer to take the alerts already written; the daemon dies then.
	beforeMidnight := clockEnv(time.Date(2024, 3, 5, 23, 59, 30, 0, time.UTC))
	p := startDaemonEnv(t, []string{beforeMidnight, "VPCALERTD_TEST_COMMIT_DELAY=1m"}, cfg, "--once")
	deadline := time.Now().Add(time.Minute)
	for ix.Count() == 0 {
		require.False(t, p.exited(), p.stderr.String())
		require.True(t, time.Now().Before(deadline), "the indexer got nothing:\n%s", p.stderr.String())
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // let it deliver more
	p.kill(t)
	before := indexerDocs(t, ix)
	require.NotEmpty(t, before)
	for k, d := range before {
		require.Equal(t, "wazuh-alerts-4.x-2024.03.05", d.index, k)
	}

	// After midnight: read everything.
	afterMidnight := clockEnv(time.Date(2024, 3, 6, 0, 0, 30, 0, time.UTC))
	p = startDaemonEnv(t, []string{afterMidnight}, cfg, "--once")
	require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
	checkExactlyOnce(t, dir, want)
	ixStats := ix.Stats()
	require.Positive(t, ixStats.Conflicts, "the re-read sent documents the indexer had")
	after := checkFileMatchesIndexer(t, ix, alertFiles(t, dir))
	for k, d := range before {
		assert.Equal(t, string(d.raw), string(after[k].raw), "document %s unchanged by the re-read", k)
	}
	days := map[string]int{}
	for _, d := range after {
		days[d.index]++
	}
	assert.Len(t, days, 2, "objects first read after midnight are on the new day: %v", days)
	t.Logf("%d documents before the kill, %d after (%v); %d re-sent and refused as already there",
		len(before), len(after), days, ixStats.Conflicts)
}
