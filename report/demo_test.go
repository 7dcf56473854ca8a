package report_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/internal/golden"
	"github.com/vpcalertd/vpcalertd/report"
	"github.com/vpcalertd/vpcalertd/report/internal/flowgen"
	"github.com/vpcalertd/vpcalertd/report/reporttest"
)

const (
	demoDir    = "../testdata/buckets/demo-vpc-flowlogs"
	trailDir   = "../testdata/buckets/my-cloudtrail-bucket"
	screenshot = "../docs/report-screenshot.png"
)

var demoDay = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)

// reportOf runs the engine over dirs (bucket mirrors) into a fresh
// aggregator through an AsyncObserver and without alert JSON, as
// `vpcalertd report` does.
func reportOf(t testing.TB, inputs []string, dirs ...string) *report.Snapshot {
	return reportWith(t, true, inputs, dirs...)
}

// reportWith is reportOf, or with async false as the daemon's /traffic
// counts: a synchronous Observer beside a sink that takes alert lines.
func reportWith(t testing.TB, async bool, inputs []string, dirs ...string) *report.Snapshot {
	t.Helper()
	agg, err := report.New(report.Options{})
	require.NoError(t, err)
	files, err := collector.Local(dirs, collector.LocalOptions{})
	require.NoError(t, err)
	var obs engine.Observer = report.NewObserver(agg)
	if async {
		ao := report.NewAsyncObserver(agg)
		defer ao.Close()
		obs = ao
	}
	e, err := engine.New(engine.Options{ManagerName: "wazuh-manager", Now: func() time.Time { return demoDay.Add(36 * time.Hour) }, Observer: obs, NoJSON: async})
	require.NoError(t, err)
	st, err := e.Replay(context.Background(), files, alert.Discard{}, engine.ReplayOptions{})
	require.NoError(t, err)
	agg.SetBadLines(st.BadLines)
	meta := report.Meta{Source: "replay", Inputs: inputs, Generated: demoDay.Add(36 * time.Hour)}
	if ao, ok := obs.(*report.AsyncObserver); ok {
		return ao.Snapshot(meta)
	}
	return agg.Snapshot(meta)
}

// TestAsyncObserverCountsAsSync: queueing to a goroutine, and taking the
// alerts' descriptions from the engine instead of their JSON lines (which
// vpcalertd report does not render), change nothing of what is counted.
func TestAsyncObserverCountsAsSync(t *testing.T) {
	dirs := []string{demoDir, trailDir}
	sync := reportWith(t, false, nil, dirs...)
	async := reportWith(t, true, nil, dirs...)
	assert.Equal(t, sync.Summary, async.Summary)
	require.Equal(t, len(sync.Intervals), len(async.Intervals))
	for i := range sync.Intervals {
		require.Equal(t, sync.Intervals[i], async.Intervals[i], "interval %d", i)
	}
	assert.Equal(t, sync.SpanTop, async.SpanTop)
	assert.Equal(t, sync.Peaks, async.Peaks)
	assert.Equal(t, sync.Rules, async.Rules)
	assert.Equal(t, sync.AddrAlerts, async.AddrAlerts)
	for id, r := range async.Rules {
		assert.NotEmpty(t, r.Description, "rule %s", id)
	}
}

// TestDemoPage: the demo data tells its story on the page — the planted
// transfer is the first peak, the port scan the first REJECT burst, and the
// scanner's address leads to its CloudTrail alerts. With -update it rebuilds
// the demo data and the screenshot of docs/report.md from them.
func TestDemoPage(t *testing.T) {
	if golden.Update() {
		require.NoError(t, os.RemoveAll(demoDir))
		require.NoError(t, flowgen.Write(demoDir, demoDay, 12000, 1))
	}
	s := reportOf(t, []string{"testdata/buckets/demo-vpc-flowlogs", "testdata/buckets/my-cloudtrail-bucket"}, demoDir, trailDir)
	require.NotEmpty(t, s.Peaks)
	p := s.Peaks[0]
	assert.Equal(t, "bytes", p.Kind)
	assert.Equal(t, demoDay.Add(13*time.Hour+7*time.Minute), p.Start)
	assert.Equal(t, "10.0.2.40", p.Top.Src.String())
	assert.Equal(t, "192.0.2.66", p.Top.Dst.String())
	var firstReject *report.Peak
	for i := range s.Peaks {
		if s.Peaks[i].Kind == "reject" {
			firstReject = &s.Peaks[i]
			break
		}
	}
	require.NotNil(t, firstReject)
	assert.Equal(t, "203.0.113.99", firstReject.Top.Src.String())
	assert.Equal(t, 3, firstReject.Start.Hour())
	rules := map[string]bool{}
	for ip, aa := range s.AddrAlerts {
		if ip.String() == "203.0.113.99" {
			for _, a := range aa.Alerts {
				rules[a.RuleID] = true
			}
		}
	}
	assert.True(t, rules["80203"] || rules["80202"] || rules["80250"], "the scanner's CloudTrail alerts: %v", rules)
	page, err := report.RenderBytes(s)
	require.NoError(t, err)
	assert.Less(t, len(page), 5<<20)
	if !golden.Update() {
		return
	}
	path := filepath.Join(t.TempDir(), "demo.html")
	require.NoError(t, os.WriteFile(path, page, 0o644))
	b := reporttest.NewPage(t)
	url := "file://" + path + "#from=2024-03-05T12:00:00Z&to=2024-03-05T14:00:00Z&ip=10.0.2.40"
	require.NoError(t, chromedp.Do(b.Ctx, chromedp.Navigate(url), chromedp.WaitReady(`body[data-ready="1"]`)))
	png, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NotEmpty(t, png)
	require.NoError(t, os.WriteFile(screenshot, png, 0o644))
	assert.Empty(t, b.Errors())
}
