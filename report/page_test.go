package report_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/report"
	"github.com/vpcalertd/vpcalertd/report/reporttest"
)

// day0 is 2024-03-05T00:00:00Z; the fixture spans 12:00 to 15:00.
const day0 = int64(1709596800)

var (
	planted = report.Talker{Src: netip.MustParseAddr("10.0.9.9"), Dst: netip.MustParseAddr("198.51.100.200"), DstPort: 443, Proto: 6}
	scanner = netip.MustParseAddr("198.51.100.66")
	peakAt  = day0 + 13*3600 + 7*60  // 13:07
	burstAt = day0 + 14*3600 + 20*60 // 14:20
)

// fixture builds three hours of busy traffic with a planted transfer at
// 13:07, a REJECT burst at 14:20, and alerts carrying the scanner.
func fixture(t *testing.T) *report.Snapshot {
	t.Helper()
	agg, err := report.New(report.Options{})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(11, 12))
	for range 60000 {
		f := report.Flow{Time: day0 + 12*3600 + r.Int64N(3*3600),
			Talker: report.Talker{Src: netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(250))}), Dst: netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(250))}), DstPort: uint16(1024 + r.IntN(3000)), Proto: 6},
			Counts: report.Counts{Bytes: int64(40 + r.ExpFloat64()*20000), Packets: 3, Flows: 1}, Account: []byte("123456789012"), Interface: []byte("eni-1"), Region: []byte("us-east-1")}
		agg.AddFlow(&f)
		agg.AddAlert(&report.AlertRec{Time: f.Time, RuleID: "80401", Level: 3, Description: []byte("AWS VPC Flow: [ACCEPT] - Interface: eni-1 - Protocol: 6."), Addrs: []netip.Addr{f.Src, f.Dst}})
	}
	for i := range 10 {
		agg.AddFlow(&report.Flow{Time: peakAt + int64(i), Talker: planted, Counts: report.Counts{Bytes: 3_000_000, Packets: 2000, Flows: 1}})
	}
	for i := range 200 {
		k := report.Talker{Src: scanner, Dst: netip.MustParseAddr("10.0.1.25"), DstPort: uint16(20 + i), Proto: 6, Action: report.ActionReject}
		agg.AddFlow(&report.Flow{Time: burstAt + int64(i%50), Talker: k, Counts: report.Counts{Bytes: 44, Packets: 1, Flows: 1}})
		agg.AddAlert(&report.AlertRec{Time: burstAt + int64(i%50), RuleID: "80402", Level: 4, Description: []byte("AWS VPC Flow: [REJECT] - Interface: eni-1 - Protocol: 6."), Addrs: []netip.Addr{scanner, k.Dst}})
	}
	agg.AddAlert(&report.AlertRec{Time: peakAt + 30, RuleID: "100250", Level: 12, Description: []byte("large transfer to a public address"), Addrs: []netip.Addr{planted.Src, planted.Dst}})
	agg.AddAlert(&report.AlertRec{Time: burstAt + 40, RuleID: "100300", Level: 10, Description: []byte("port scan from 198.51.100.66"), Addrs: []netip.Addr{scanner}})
	agg.AddAlert(&report.AlertRec{Time: burstAt + 600, RuleID: "80254", Level: 5, Description: []byte("AWS Cloudtrail: signin.amazonaws.com - ConsoleLogin - User login failed."), Addrs: []netip.Addr{scanner}})
	return agg.Snapshot(report.Meta{Source: "replay", Inputs: []string{"fixture"}, Generated: time.Unix(day0+86400, 0)})
}

func writePage(t *testing.T, s *report.Snapshot) string {
	t.Helper()
	b, err := report.RenderBytes(s)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return "file://" + path
}

func iso(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

// eval runs a JavaScript expression in the page and returns its value.
func eval[T any](t *testing.T, p *reporttest.Page, js string) T {
	t.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

func open(t *testing.T, p *reporttest.Page, url string) {
	t.Helper()
	require.NoError(t, chromedp.Do(p.Ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(url), chromedp.WaitReady(`body[data-ready="1"]`)))
}

// talkerRow is a row of the top-talker table as the page shows it.
type talkerRow struct {
	Src, Dst string
	Bytes    string
	Approx   string
}

const rowsJS = `Array.from(document.querySelectorAll('[data-role="top-talkers"] tbody tr')).map(r => ({Src: r.dataset.src, Dst: r.dataset.dst, Bytes: r.dataset.bytes, Approx: r.dataset.approx}))`

func wantRows(rows []report.WindowRow) []talkerRow {
	out := make([]talkerRow, len(rows))
	for i, r := range rows {
		a := "0"
		if r.Approx {
			a = "1"
		}
		out[i] = talkerRow{Src: r.Src.String(), Dst: r.Dst.String(), Bytes: fmt.Sprint(r.Bytes), Approx: a}
	}
	return out
}

func TestPageInChromium(t *testing.T) {
	s := fixture(t)
	url := writePage(t, s)
	p := reporttest.NewPage(t)
	open(t, p, url)

	t.Run("peaks", func(t *testing.T) {
		type peak struct{ From, To, Talker string }
		peaks := eval[[]peak](t, p, `Array.from(document.querySelectorAll('[data-role="peak"][data-kind="bytes"]')).map(e => ({From: e.dataset.from, To: e.dataset.to, Talker: e.querySelector('[data-role="peak-talker"]').textContent}))`)
		require.Len(t, peaks, 10)
		assert.Equal(t, iso(peakAt-peakAt%60), peaks[0].From, "the planted transfer is the biggest peak")
		assert.Equal(t, iso(peakAt-peakAt%60+60), peaks[0].To)
		assert.Equal(t, "10.0.9.9 → 198.51.100.200:443 (30.0 MB)", peaks[0].Talker)
		var goPeaks []string
		for _, gp := range s.Peaks {
			if gp.Kind == "bytes" {
				goPeaks = append(goPeaks, gp.Start.Format(time.RFC3339))
			}
		}
		var pagePeaks []string
		for _, pk := range peaks {
			pagePeaks = append(pagePeaks, pk.From)
		}
		assert.Equal(t, goPeaks, pagePeaks, "biggest first, as the aggregator ranks them")
		rej := eval[[]peak](t, p, `Array.from(document.querySelectorAll('[data-role="peak"][data-kind="reject"]')).map(e => ({From: e.dataset.from, Talker: e.querySelector('[data-role="peak-talker"]').textContent}))`)
		require.NotEmpty(t, rej)
		assert.Equal(t, iso(burstAt), rej[0].From)
		assert.Contains(t, rej[0].Talker, "198.51.100.66 → 10.0.1.25:")
	})

	t.Run("whole span talkers come from the span's own list", func(t *testing.T) {
		rows := report.MergeTops([]report.IntervalTop{s.SpanTop}, 20)
		assert.Equal(t, wantRows(rows), eval[[]talkerRow](t, p, rowsJS))
		assert.Equal(t, talkerRow{Src: "10.0.9.9", Dst: "198.51.100.200", Bytes: "30000000", Approx: "0"}, wantRows(rows)[0], "exact over the whole span")
		assert.Equal(t, "", eval[string](t, p, `document.querySelector('[data-role="window"]').dataset.from === "`+s.Start.Format(time.RFC3339)+`" ? "" : "wrong"`))
	})

	t.Run("clicking a peak selects its window and updates the talkers", func(t *testing.T) {
		require.NoError(t, chromedp.Do(p.Ctx, chromedp.Click(`[data-role="peak"][data-kind="bytes"]`)))
		from := iso(peakAt - peakAt%60)
		to := iso(peakAt - peakAt%60 + 60)
		assert.Equal(t, from, eval[string](t, p, `document.querySelector('[data-role="window"]').dataset.from`))
		assert.Equal(t, to, eval[string](t, p, `document.querySelector('[data-role="window"]').dataset.to`))
		assert.Equal(t, "#from="+from+"&to="+to, eval[string](t, p, `location.hash`))
		rows := eval[[]talkerRow](t, p, rowsJS)
		require.NotEmpty(t, rows)
		assert.Equal(t, talkerRow{Src: "10.0.9.9", Dst: "198.51.100.200", Bytes: "30000000", Approx: "0"}, rows[0])
		assert.Contains(t, eval[string](t, p, `document.querySelector('[data-role="window"]').textContent`), "13:07–13:08 UTC")
		type ruleRow struct{ Rule, Count, First string }
		rules := eval[[]ruleRow](t, p, `Array.from(document.querySelectorAll('[data-role="rules"] tbody tr')).map(r => ({Rule: r.dataset.rule, Count: r.dataset.count, First: r.children[4].textContent}))`)
		require.NotEmpty(t, rules)
		assert.Equal(t, ruleRow{Rule: "100250", Count: "1", First: time.Unix(peakAt+30, 0).UTC().Format("2006-01-02 15:04:05")}, rules[0], "highest level first")
	})

	t.Run("the URL hash selects a window on load", func(t *testing.T) {
		from, to := day0+14*3600, day0+14*3600+30*60
		open(t, p, url+"#from="+iso(from)+"&to="+iso(to))
		assert.Equal(t, iso(from), eval[string](t, p, `document.querySelector('[data-role="window"]').dataset.from`))
		assert.Equal(t, iso(to), eval[string](t, p, `document.querySelector('[data-role="window"]').dataset.to`))
		i0 := int((from - s.Start.Unix()) / 60)
		var tops []report.IntervalTop
		for _, iv := range s.Intervals[i0 : i0+30] {
			tops = append(tops, iv.Top)
		}
		want := wantRows(report.MergeTops(tops, 20))
		assert.Equal(t, want, eval[[]talkerRow](t, p, rowsJS), "the page merges the window as report.MergeTops does")
		require.NotEmpty(t, want)
	})

	t.Run("clicking an address filters and lists its alerts", func(t *testing.T) {
		open(t, p, url+"#from="+iso(peakAt-peakAt%60)+"&to="+iso(peakAt-peakAt%60+60))
		sel := `[data-role="top-talkers"] button[data-ip="10.0.9.9"]`
		require.True(t, eval[bool](t, p, `!!document.querySelector('`+sel+`')`))
		require.NoError(t, chromedp.Do(p.Ctx, chromedp.Click(sel)))
		assert.Contains(t, eval[string](t, p, `location.hash`), "&ip=10.0.9.9")
		assert.False(t, eval[bool](t, p, `document.querySelector('[data-role="ip-alerts"]').hidden`))
		assert.Equal(t, []string{"100250"}, eval[[]string](t, p, `Array.from(document.querySelectorAll('[data-role="ip-alerts"] tbody tr')).map(r => r.dataset.rule)`))
		for _, x := range eval[[]string](t, p, `Array.from(document.querySelectorAll('[data-role="top-talkers"] tbody tr')).map(r => r.dataset.src + ">" + r.dataset.dst)`) {
			assert.Contains(t, x, "10.0.9.9")
		}
	})

	t.Run("ip in the URL hash selects an address on load", func(t *testing.T) {
		open(t, p, url+"#from="+iso(burstAt)+"&to="+iso(burstAt+60)+"&ip=198.51.100.66")
		assert.Equal(t, "198.51.100.66", eval[string](t, p, `document.querySelector('[data-role="ip-alerts"]').dataset.ip`))
		rules := eval[[]string](t, p, `Array.from(document.querySelectorAll('[data-role="ip-alerts"] tbody tr')).map(r => r.dataset.rule)`)
		assert.Equal(t, []string{"80254", "80402", "80402", "80402", "80402", "80402", "100300"}, rules, "newest first, the newest 5 of each rule")
		assert.True(t, eval[bool](t, p, `!!document.querySelector('[data-role="ip-alerts-capped"]')`), "the page says the list is capped")
	})

	t.Run("metric switch", func(t *testing.T) {
		require.NoError(t, chromedp.Do(p.Ctx, chromedp.Click(`[data-metric="packets"]`)))
		assert.Equal(t, "true", eval[string](t, p, `document.querySelector('[data-metric="packets"]').getAttribute("aria-pressed")`))
	})

	t.Run("dragging across the timeline selects a window", func(t *testing.T) {
		open(t, p, url)
		type box struct{ X, Y, W, H float64 }
		b := eval[box](t, p, `(() => { const r = document.querySelector('#chart .u-over').getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`)
		y := b.Y + b.H/2
		x1, x2 := b.X+b.W*0.25, b.X+b.W*0.5
		require.NoError(t, chromedp.Do(p.Ctx,
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x1, y),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x1, y, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, (x1+x2)/2, y, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x2, y, chromedp.ButtonLeft),
			chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x2, y, chromedp.ButtonLeft)))
		hash := eval[string](t, p, `location.hash`)
		require.True(t, strings.HasPrefix(hash, "#from="), hash)
		from, err := time.Parse(time.RFC3339, eval[string](t, p, `document.querySelector('[data-role="window"]').dataset.from`))
		require.NoError(t, err)
		// A quarter of the way into the three hours, give or take an interval.
		assert.InDelta(t, float64(day0+12*3600+45*60), float64(from.Unix()), 180)
	})

	assert.Empty(t, p.Errors(), "console errors")
	for _, u := range p.Requests() {
		if u == "about:blank" {
			continue
		}
		assert.True(t, strings.HasPrefix(u, url), "the page requested %s", u)
	}
}

func TestEmptyPageInChromium(t *testing.T) {
	agg, err := report.New(report.Options{})
	require.NoError(t, err)
	url := writePage(t, agg.Snapshot(report.Meta{Source: "replay", Inputs: []string{"empty"}}))
	p := reporttest.NewPage(t)
	open(t, p, url)
	assert.Equal(t, "No flow records in the input: there is no traffic to chart.", eval[string](t, p, `document.getElementById("empty").textContent`))
	assert.Equal(t, "0", eval[string](t, p, `document.querySelector('[data-role="summary"] [data-field="flows"] dd').textContent`))
	assert.Empty(t, p.Errors())
}
