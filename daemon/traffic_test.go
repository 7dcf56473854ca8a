package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/report/reporttest"
)

// TestTrafficPage: the daemon serves the report page at /traffic on its
// metrics listener, fed by the objects it reads, over a rolling window of
// record times.
func TestTrafficPage(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	ec2 := ec2Server(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "traffic-it")
	now := time.Now().UTC()
	day := now.Format("2006-01-02")
	var body bytes.Buffer
	body.WriteString(flowHeader + "\n")
	recent, old := now.Add(-time.Hour).Unix(), now.Add(-48*time.Hour).Unix()
	for i := range 20 {
		fmt.Fprintf(&body, "2 111111111111 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 %d 443 6 12 1000 %d %d ACCEPT OK\n", 40000+i, recent, recent+60)
	}
	for i := range 5 {
		fmt.Fprintf(&body, "2 111111111111 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 %d 443 6 12 1000 %d %d ACCEPT OK\n", 50000+i, old, old+60)
	}
	srv.Put(t, bucket, flowKey("111111111111", "us-east-1", day, "fl-0a1b2c3d4e5f60718", 1), gz(t, body.Bytes()))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
interval: 1h
log: {format: json}
metrics: {listen: "127.0.0.1:0", traffic_window: 24h}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: %s, only_logs_after: %s, service_endpoint: %q, ec2_endpoint: %q}
`, bucket, now.Format("2006-Jan-02"), srv.Endpoint, ec2.URL))
	p := startMain(t, cfg, Options{})
	base := metricsURL(t, p.stderr)
	alerts := filepath.Join(dir, "alerts.json")
	require.Eventually(t, func() bool { return len(readAllAlerts(t, alerts)) == 25 }, 60*time.Second, 50*time.Millisecond, p.stderr.String())

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(base + "/traffic")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	d := trafficData(t, page)
	s := d["summary"].(map[string]any)
	assert.EqualValues(t, 20, s["Flows"], "the flows of the last 24 hours")
	assert.EqualValues(t, 20000, s["Bytes"])
	assert.EqualValues(t, 10, s["Outside"], "the 5 old flows and their 5 alerts are outside the window")
	assert.EqualValues(t, "live", d["source"])
	assert.EqualValues(t, 60, d["width"], "one-minute intervals over a day")
	assert.Equal(t, []any{"s3://" + bucket}, d["inputs"])

	// The same page in a browser: it loads without error or other request.
	b := reporttest.NewPage(t)
	require.NoError(t, chromedp.Do(b.Ctx, chromedp.Navigate(base+"/traffic"), chromedp.WaitReady(`body[data-ready="1"]`)))
	talkers, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('[data-role="top-talkers"] tbody tr')).map(r => r.dataset.src + ">" + r.dataset.dst + ":" + r.dataset.bytes)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.1.25>203.0.113.45:20000"}, talkers)
	assert.Empty(t, b.Errors())
	for _, u := range b.Requests() {
		assert.Contains(t, []string{"about:blank", base + "/traffic"}, u)
	}
	b.Close()
	require.Equal(t, 0, p.stop(t), p.stderr.String())
}

func trafficData(t *testing.T, page []byte) map[string]any {
	t.Helper()
	const open = `<script type="application/json" id="report-data">`
	_, rest, ok := strings.Cut(string(page), open)
	require.True(t, ok)
	data, _, ok := strings.Cut(rest, "</script>")
	require.True(t, ok)
	var d map[string]any
	require.NoError(t, json.Unmarshal([]byte(data), &d))
	return d
}
