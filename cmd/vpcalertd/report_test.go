package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pageData extracts the JSON a report page carries.
func pageData(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	const open = `<script type="application/json" id="report-data">`
	i := bytes.Index(b, []byte(open))
	require.GreaterOrEqual(t, i, 0, "no page data in %s", path)
	rest := b[i+len(open):]
	j := bytes.Index(rest, []byte("</script>"))
	require.Greater(t, j, 0)
	var d map[string]any
	require.NoError(t, json.Unmarshal(rest[:j], &d))
	return d
}

func summaryOf(t *testing.T, d map[string]any) map[string]any {
	t.Helper()
	s, ok := d["summary"].(map[string]any)
	require.True(t, ok)
	return s
}

func TestReportWritesPage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	code, stdout, errs := run(t, "", "report", "--quiet", "--out", out, "../../testdata/buckets/my-vpc-flowlogs", "../../testdata/buckets/my-cloudtrail-bucket", "../../testdata/alerts/vpcflow-pack-behaviour.log")
	require.Equal(t, 0, code, errs)
	assert.Equal(t, out+": 49 records, 37 flows, 1373481128 bytes, 53 alerts, 36 intervals of 1m0s, 2024-03-05 10:00 to 2024-03-05 10:35 UTC, 0 bad lines\n", stdout)
	d := pageData(t, out)
	s := summaryOf(t, d)
	assert.EqualValues(t, 37, s["Flows"])
	assert.EqualValues(t, 2, s["Interfaces"])
	assert.EqualValues(t, "replay", d["source"])
	assert.Equal(t, false, d["alertedOnly"])
	st, err := os.Stat(out)
	require.NoError(t, err)
	assert.Less(t, st.Size(), int64(5<<20))
}

func TestReportUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "yesterday"}, `--from "yesterday": want an RFC 3339 time such as 2024-03-05T10:00:00Z, or a date such as 2024-03-05`},
		{[]string{"--to", "2024-13-01"}, `--to "2024-13-01": want an RFC 3339 time`},
		{[]string{"--from", "2024-03-06", "--to", "2024-03-05"}, "--from 2024-03-06 is not before --to 2024-03-05"},
		{[]string{"--interval", "1500ms"}, "--interval 1.5s: want a positive whole number of seconds"},
		{[]string{"--type", "parquet"}, "expected one of [vpcflow cloudtrail]"},
	} {
		code, _, errs := run(t, "", append(append([]string{"report", "--out", filepath.Join(t.TempDir(), "x.html")}, tc.args...), mirror)...)
		assert.Equal(t, 2, code, tc.args)
		assert.Contains(t, errs, tc.want)
	}
	code, _, _ := run(t, "", "report")
	assert.Equal(t, 2, code)
}

func TestReportNoFlows(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	code, stdout, errs := run(t, "", "report", "--quiet", "--out", out, "../../testdata/buckets/my-cloudtrail-bucket")
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "no flow records in the input; the page says so")
	assert.Contains(t, stdout, "0 flows")
	d := pageData(t, out)
	assert.EqualValues(t, 0, summaryOf(t, d)["Flows"])
	assert.NotEmpty(t, d["rules"], "CloudTrail alerts are still on the page")
}

func TestReportFromAlerts(t *testing.T) {
	dir := t.TempDir()
	alerts := filepath.Join(dir, "alerts.json")
	code, _, errs := run(t, "", "replay", "--quiet", "--out", alerts, "--now", "2024-03-05T11:00:00Z", "../../testdata/buckets/my-vpc-flowlogs", "../../testdata/buckets/my-cloudtrail-bucket", "../../testdata/alerts/vpcflow-pack-behaviour.log")
	require.Equal(t, 0, code, errs)
	// The same alerts gzipped, with lines that are not alerts in between.
	plain, err := os.ReadFile(alerts)
	require.NoError(t, err)
	lines := strings.SplitAfter(string(plain), "\n")
	mixed := lines[0] + "not json\n" + `{"hello":"world"}` + "\n" + strings.Join(lines[1:], "")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(mixed))
	require.NoError(t, zw.Close())
	gzPath := filepath.Join(dir, "alerts.json.gz")
	require.NoError(t, os.WriteFile(gzPath, gz.Bytes(), 0o644))

	for _, in := range []string{alerts, gzPath} {
		out := filepath.Join(dir, "r.html")
		code, _, errs := run(t, "", "report", "--alerts", "--out", out, in)
		require.Equal(t, 0, code, errs)
		d := pageData(t, out)
		s := summaryOf(t, d)
		// 37 flows in the logs, and every flow has an alert (80401/80402):
		// a flow that several rules alerted on counts once.
		assert.EqualValues(t, 37, s["Flows"], in)
		assert.EqualValues(t, 1373481128, s["Bytes"], in)
		assert.Equal(t, true, d["alertedOnly"])
		assert.EqualValues(t, "alerts", d["source"])
		if in == gzPath {
			assert.Contains(t, errs, "alerts.json.gz:2: not an alert: invalid JSON")
			assert.Contains(t, errs, "alerts.json.gz:3: not an alert: no rule.id or timestamp")
			assert.EqualValues(t, 2, s["BadLines"])
		} else {
			assert.EqualValues(t, 0, s["BadLines"])
		}
		ipa, ok := d["ipAlerts"].(map[string]any)
		require.True(t, ok)
		assert.Contains(t, ipa, "198.51.100.23", "the CloudTrail caller's address lists its alerts")
	}
}

// TestReportFromWazuhAlerts reads alerts.json lines as Wazuh 4.14.7 writes
// them (constructed from analysisd's source).
func TestReportFromWazuhAlerts(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	code, _, errs := run(t, "", "report", "--quiet", "--alerts", "--out", out,
		"../../testdata/wazuh-parity/vpcflow.alerts.CONSTRUCTED.jsonl",
		"../../testdata/wazuh-parity/cloudtrail-CreateVpc-ok-denied-CreateUser-denied.alerts.CONSTRUCTED.jsonl")
	require.Equal(t, 0, code, errs)
	d := pageData(t, out)
	s := summaryOf(t, d)
	assert.EqualValues(t, 3, s["Flows"])
	assert.EqualValues(t, 8824, s["Bytes"])
	var ids []string
	for _, r := range d["rules"].([]any) {
		ids = append(ids, r.([]any)[0].(string))
	}
	assert.Subset(t, ids, []string{"80401", "80402", "80202"})
}
