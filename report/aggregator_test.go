package report

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// day0 is 2024-03-05T00:00:00Z.
const day0 = int64(1709596800)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// background makes n flows over span seconds from t0 among many distinct
// talkers (more than a sketch holds per interval), with bytes drawn from a
// heavy-tailed distribution.
func background(r *rand.Rand, n int, t0, span int64) []Flow {
	flows := make([]Flow, n)
	for i := range flows {
		src := netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(4)), byte(r.IntN(250))})
		dst := netip.AddrFrom4([4]byte{203, 0, 113, byte(r.IntN(250))})
		action := ActionAccept
		if r.IntN(10) == 0 {
			action = ActionReject
		}
		b := int64(40 + r.ExpFloat64()*20000)
		flows[i] = Flow{Time: t0 + r.Int64N(span), Talker: Talker{Src: src, Dst: dst, DstPort: uint16(1024 + r.IntN(3000)), Proto: 6, Action: action},
			Counts: Counts{Bytes: b, Packets: 1 + b/1000, Flows: 1}, Account: []byte("123456789012"), Interface: []byte(fmt.Sprintf("eni-%d", r.IntN(30))), Region: []byte("us-east-1")}
	}
	return flows
}

func newAgg(t *testing.T, opts Options) *Aggregator {
	t.Helper()
	a, err := New(opts)
	require.NoError(t, err)
	return a
}

// truth counts flows exactly per interval of width w from start.
type truth struct {
	tot  map[int64][2]Counts
	talk map[int64]map[Talker]Counts
}

func count(flows []Flow, start, w int64) truth {
	tr := truth{tot: map[int64][2]Counts{}, talk: map[int64]map[Talker]Counts{}}
	for _, f := range flows {
		i := floorDiv(f.Time-start, w)
		t := tr.tot[i]
		side := 0
		if f.Action == ActionReject {
			side = 1
		}
		t[side].add(f.Counts)
		tr.tot[i] = t
		if tr.talk[i] == nil {
			tr.talk[i] = map[Talker]Counts{}
		}
		c := tr.talk[i][f.Talker]
		c.add(f.Counts)
		tr.talk[i][f.Talker] = c
	}
	return tr
}

func TestTotalsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	flows := background(r, 60000, day0, 2*86400) // two days: the ladder climbs to 5 min
	a := newAgg(t, Options{})
	for i := range flows {
		a.AddFlow(&flows[i])
	}
	s := a.Snapshot(Meta{})
	assert.Equal(t, 5*time.Minute, s.Width, "two days need more than 1,500 one-minute intervals")
	assert.Equal(t, 576, len(s.Intervals))
	tr := count(flows, s.Start.Unix(), int64(s.Width/time.Second))
	var sum Counts
	for i, iv := range s.Intervals {
		want := tr.tot[int64(i)]
		require.Equal(t, want[0], iv.Accept, "interval %d ACCEPT", i)
		require.Equal(t, want[1], iv.Reject, "interval %d REJECT", i)
		sum.add(iv.Accept)
		sum.add(iv.Reject)
	}
	assert.Equal(t, s.Summary.Bytes, sum.Bytes)
	assert.Equal(t, int64(len(flows)), s.Summary.Flows)
	assert.Equal(t, 30, s.Summary.Interfaces)
	assert.Equal(t, 1, s.Summary.Accounts)
}

// TestRuleCountsExact: alerts per interval and rule are exact, runs of one
// rule mixed with others and out of order, across the widening of the
// intervals (two days: 1 min, then 5 min), and each rule keeps its latest
// description.
func TestRuleCountsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a := newAgg(t, Options{})
	ids := []string{"80401", "80402", "100401"}
	type hits struct{ n, first, last int64 }
	var recs []AlertRec
	for i := range 50000 {
		id := ids[0]
		if x := r.IntN(100); x < 3 {
			id = ids[2]
		} else if x < 20 {
			id = ids[1]
		}
		tm := day0 + int64(i)*2*86400/50000 + r.Int64N(600) - 300
		recs = append(recs, AlertRec{Time: tm, RuleID: strings.Clone(id), Level: 3,
			Description: fmt.Appendf(nil, "rule %s, alert %d", id, i)})
	}
	for i := range recs {
		a.AddAlert(&recs[i])
	}
	s := a.Snapshot(Meta{})
	require.Equal(t, 5*time.Minute, s.Width)
	width := int64(s.Width / time.Second)
	want := map[int64]map[string]*hits{}
	latest := map[string]string{}
	for _, rec := range recs {
		i := (rec.Time - s.Start.Unix()) / width
		if want[i] == nil {
			want[i] = map[string]*hits{}
		}
		h := want[i][rec.RuleID]
		if h == nil {
			h = &hits{first: rec.Time, last: rec.Time}
			want[i][rec.RuleID] = h
		}
		h.n++
		h.first, h.last = min(h.first, rec.Time), max(h.last, rec.Time)
		latest[rec.RuleID] = string(rec.Description)
	}
	for i, iv := range s.Intervals {
		require.Len(t, iv.Rules, len(want[int64(i)]), "interval %d", i)
		for id, h := range want[int64(i)] {
			require.Equal(t, RuleHits{N: h.n, First: h.first, Last: h.last}, iv.Rules[id], "interval %d rule %s", i, id)
		}
	}
	for id, d := range latest {
		assert.Equal(t, d, s.Rules[id].Description, "rule %s", id)
	}
}

func TestIntervalLadder(t *testing.T) {
	for _, tc := range []struct {
		span  int64
		width time.Duration
	}{
		{3600, time.Minute},
		{86400, time.Minute},
		{3 * 86400, 5 * time.Minute},
		{10 * 86400, 10 * time.Minute},
		{30 * 86400, 30 * time.Minute},
		{365 * 86400, 6 * time.Hour},
	} {
		t.Run(fmt.Sprint(time.Duration(tc.span)*time.Second), func(t *testing.T) {
			a := newAgg(t, Options{})
			// Out of order on purpose: the end first, then the start.
			for _, ts := range []int64{day0 + tc.span - 1, day0, day0 + tc.span/2} {
				a.AddFlow(&Flow{Time: ts, Talker: Talker{Src: addr("10.0.0.1"), Dst: addr("10.0.0.2")}, Counts: Counts{Bytes: 1, Flows: 1}})
			}
			s := a.Snapshot(Meta{})
			assert.Equal(t, tc.width, s.Width)
			n := len(s.Intervals)
			assert.LessOrEqual(t, n, 1500)
			if tc.span >= 1500*60 {
				assert.GreaterOrEqual(t, n, 1500/7, "a few hundred intervals at least")
			}
			var bytes int64
			for _, iv := range s.Intervals {
				bytes += iv.Accept.Bytes
			}
			assert.Equal(t, int64(3), bytes)
		})
	}
	t.Run("explicit interval widened", func(t *testing.T) {
		a := newAgg(t, Options{Interval: 10 * time.Second})
		a.AddFlow(&Flow{Time: day0, Counts: Counts{Bytes: 1, Flows: 1}})
		a.AddFlow(&Flow{Time: day0 + 86400, Counts: Counts{Bytes: 1, Flows: 1}})
		s := a.Snapshot(Meta{})
		assert.True(t, s.Widened)
		assert.Equal(t, 80*time.Second, s.Width, "10s doubled until a day fits in 1,500")
		page, err := RenderBytes(s)
		require.NoError(t, err)
		assert.Contains(t, string(page), "The interval was widened to 1m20s")
	})
	t.Run("explicit interval kept", func(t *testing.T) {
		a := newAgg(t, Options{Interval: 7 * time.Minute})
		a.AddFlow(&Flow{Time: day0, Counts: Counts{Bytes: 1, Flows: 1}})
		a.AddFlow(&Flow{Time: day0 + 86400, Counts: Counts{Bytes: 1, Flows: 1}})
		s := a.Snapshot(Meta{})
		assert.False(t, s.Widened)
		assert.Equal(t, 7*time.Minute, s.Width)
	})
}

// plant adds a transfer of bytes from src to dst in [t0, t0+60).
func planted() Talker {
	return Talker{Src: addr("10.0.9.9"), Dst: addr("198.51.100.200"), DstPort: 443, Proto: 6, Action: ActionAccept}
}

func plant(flows []Flow, t0 int64, bytes int64) []Flow {
	k := planted()
	for i := range 10 {
		flows = append(flows, Flow{Time: t0 + int64(i), Talker: k, Counts: Counts{Bytes: bytes / 10, Packets: bytes / 10000, Flows: 1}})
	}
	return flows
}

func TestPlantedPeakComesFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("aggregates a day of 200,000 background flows; -short skips it")
	}
	r := rand.New(rand.NewPCG(3, 4))
	flows := background(r, 200000, day0, 86400) // ~140 flows a minute, among ~3M possible talkers
	peakAt := day0 + 13*3600 + 7*60
	// Ten times the bytes of a busy background minute, split over ten flows
	// each smaller than the biggest background flows.
	flows = plant(flows, peakAt, 30_000_000)
	r.Shuffle(len(flows), func(i, j int) { flows[i], flows[j] = flows[j], flows[i] })
	a := newAgg(t, Options{})
	for i := range flows {
		a.AddFlow(&flows[i])
	}
	s := a.Snapshot(Meta{})
	require.NotEmpty(t, s.Peaks)
	p := s.Peaks[0]
	assert.Equal(t, "bytes", p.Kind)
	assert.Equal(t, peakAt-peakAt%60, p.Start.Unix())
	assert.Equal(t, addr("10.0.9.9"), p.Top.Src)
	assert.Equal(t, addr("198.51.100.200"), p.Top.Dst)
	assert.True(t, p.Top.Exact, "a heavy talker stays exact in a busy interval")
	assert.Equal(t, int64(30_000_000), p.Top.Bytes)
	assert.Equal(t, int64(10), p.Top.Flows)
	whole := MergeTops([]IntervalTop{s.SpanTop}, 20)
	assert.Equal(t, planted(), whole[0].Talker, "the whole span's biggest talker")
	assert.False(t, whole[0].Approx)
	assert.Equal(t, int64(30_000_000), whole[0].Bytes)
	// Ten byte peaks, biggest first.
	var last int64 = 1 << 62
	n := 0
	for _, p := range s.Peaks {
		if p.Kind == "bytes" {
			assert.LessOrEqual(t, p.Value, last)
			last = p.Value
			n++
		}
	}
	assert.Equal(t, 10, n)
}

// checkRows asserts what the page promises of window rows against a full
// count: a row not marked approximate has its exact counts and no talker
// left out has more bytes; every row's bytes lie within [Bytes, Hi].
func checkRows(t *testing.T, rows []WindowRow, full map[Talker]Counts, k int) (approx int) {
	t.Helper()
	shown := map[Talker]bool{}
	for _, r := range rows {
		shown[r.Talker] = true
	}
	var maxHidden int64
	for key, c := range full {
		if !shown[key] {
			maxHidden = max(maxHidden, c.Bytes)
		}
	}
	for _, r := range rows {
		want := full[r.Talker]
		require.LessOrEqual(t, r.Bytes, want.Bytes, "bytes are a lower bound: %v", r.Talker)
		require.GreaterOrEqual(t, r.Hi, want.Bytes, "hi is an upper bound: %v", r.Talker)
		if r.Approx {
			approx++
			continue
		}
		require.Equal(t, want, r.Counts, "row not marked approximate must be exact: %v", r.Talker)
		require.GreaterOrEqual(t, r.Bytes, maxHidden, "a talker left out has more bytes than an exact row: %v", r.Talker)
	}
	if len(full) >= k {
		require.Len(t, rows, k)
	}
	return approx
}

func TestTopTalkersExactAndApproximate(t *testing.T) {
	t.Run("few talkers: exact", func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		var flows []Flow
		talkers := make([]Talker, 100) // fewer than the sketch holds
		for i := range talkers {
			talkers[i] = Talker{Src: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Dst: addr("10.1.0.1"), DstPort: 443, Proto: 6}
		}
		for range 20000 {
			flows = append(flows, Flow{Time: day0 + r.Int64N(600), Talker: talkers[r.IntN(len(talkers))], Counts: Counts{Bytes: r.Int64N(5000), Packets: 3, Flows: 1}})
		}
		a := newAgg(t, Options{})
		for i := range flows {
			a.AddFlow(&flows[i])
		}
		s := a.Snapshot(Meta{})
		tr := count(flows, s.Start.Unix(), 60)
		for i, iv := range s.Intervals {
			rows := MergeTops([]IntervalTop{iv.Top}, 20)
			assert.Zero(t, checkRows(t, rows, tr.talk[int64(i)], 20), "interval %d: every row exact", i)
		}
		// A window of several intervals: some rows may be flagged, and only
		// those may differ.
		var tops []IntervalTop
		full := map[Talker]Counts{}
		for i, iv := range s.Intervals {
			tops = append(tops, iv.Top)
			for k, c := range tr.talk[int64(i)] {
				x := full[k]
				x.add(c)
				full[k] = x
			}
		}
		approx := checkRows(t, MergeTops(tops, 20), full, 20)
		assert.Positive(t, approx, "with 100 talkers and 20 listed per interval, a 10-interval window has rows that could differ")
	})
	t.Run("busy intervals: bounds hold", func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		flows := background(r, 50000, day0, 3600)
		flows = plant(flows, day0+600, 5_000_000)
		a := newAgg(t, Options{Capacity: 64})
		for i := range flows {
			a.AddFlow(&flows[i])
		}
		s := a.Snapshot(Meta{})
		tr := count(flows, s.Start.Unix(), 60)
		exactRows := 0
		for i, iv := range s.Intervals {
			rows := MergeTops([]IntervalTop{iv.Top}, 20)
			approx := checkRows(t, rows, tr.talk[int64(i)], 20)
			exactRows += len(rows) - approx
		}
		assert.Positive(t, exactRows)
		// The planted talker's interval lists it exact, first.
		rows := MergeTops([]IntervalTop{s.Intervals[10].Top}, 20)
		assert.Equal(t, addr("10.0.9.9"), rows[0].Src)
		assert.False(t, rows[0].Approx)
		// The whole hour.
		var tops []IntervalTop
		full := map[Talker]Counts{}
		for i, iv := range s.Intervals {
			tops = append(tops, iv.Top)
			for k, c := range tr.talk[int64(i)] {
				x := full[k]
				x.add(c)
				full[k] = x
			}
		}
		checkRows(t, MergeTops(tops, 20), full, 20)
	})
}

func TestSketchMergeBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	flows := background(r, 30000, day0, 2000*60) // needs widening: buckets merge
	a := newAgg(t, Options{Capacity: 40})
	for i := range flows {
		a.AddFlow(&flows[i])
	}
	s := a.Snapshot(Meta{})
	require.Equal(t, 5*time.Minute, s.Width)
	tr := count(flows, s.Start.Unix(), 300)
	for i, iv := range s.Intervals {
		checkRows(t, MergeTops([]IntervalTop{iv.Top}, 20), tr.talk[int64(i)], 20)
	}
}

func TestFromToAndRollingWindow(t *testing.T) {
	a := newAgg(t, Options{From: time.Unix(day0+3600, 0), To: time.Unix(day0+7200, 0)})
	for _, ts := range []int64{day0, day0 + 3600, day0 + 7199, day0 + 7200} {
		a.AddFlow(&Flow{Time: ts, Counts: Counts{Bytes: 1, Flows: 1}})
	}
	s := a.Snapshot(Meta{})
	assert.Equal(t, int64(2), s.Summary.Flows)
	assert.Equal(t, int64(2), s.Summary.Outside)

	now := day0 + 86400
	clock := func() time.Time { return time.Unix(now, 0) }
	a = newAgg(t, Options{Window: 6 * time.Hour, Now: clock})
	a.AddFlow(&Flow{Time: now - 7*3600, Counts: Counts{Bytes: 1, Flows: 1}})
	a.AddFlow(&Flow{Time: now - 3600, Talker: Talker{Src: addr("10.0.0.1"), Dst: addr("10.0.0.2")}, Counts: Counts{Bytes: 5, Flows: 1}})
	a.AddAlert(&AlertRec{Time: now - 3600, RuleID: "80401", Level: 3, Description: []byte("d"), Addrs: []netip.Addr{addr("10.0.0.1")}})
	s = a.Snapshot(Meta{})
	assert.Equal(t, time.Minute, s.Width)
	assert.Equal(t, int64(1), s.Summary.Outside, "older than the window")
	assert.Len(t, s.Intervals, 361)
	// Six hours later the hour-old flow has left the window.
	now += 6 * 3600
	s = a.Snapshot(Meta{})
	var bytes int64
	for _, iv := range s.Intervals {
		bytes += iv.Accept.Bytes
	}
	assert.Zero(t, bytes)
	assert.Empty(t, s.AddrAlerts)
}

func TestAddressAlertsCapped(t *testing.T) {
	a := newAgg(t, Options{AlertsPerRule: 2, AlertsPerAddress: 4})
	ip := addr("198.51.100.7")
	for i := range 10 {
		a.AddAlert(&AlertRec{Time: day0 + int64(i), RuleID: "80402", Level: 4, Description: []byte("reject"), Addrs: []netip.Addr{ip}})
	}
	a.AddAlert(&AlertRec{Time: day0 + 5, RuleID: "100300", Level: 10, Description: []byte("scan"), Addrs: []netip.Addr{ip}})
	aa := a.Snapshot(Meta{}).AddrAlerts[ip]
	assert.Equal(t, int64(11), aa.N)
	assert.True(t, aa.Capped())
	require.Len(t, aa.Alerts, 3)
	assert.Equal(t, []int64{day0 + 9, day0 + 8, day0 + 5}, []int64{aa.Alerts[0].Time, aa.Alerts[1].Time, aa.Alerts[2].Time}, "newest first, the newest of each rule")
	assert.Equal(t, "100300", aa.Alerts[2].RuleID)

	a = newAgg(t, Options{MaxAddresses: 100})
	for i := range 1000 {
		a.AddAlert(&AlertRec{Time: day0, RuleID: "80401", Level: 3, Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})}})
	}
	a.AddAlert(&AlertRec{Time: day0, RuleID: "100300", Level: 10, Addrs: []netip.Addr{ip}})
	for i := range 1000 {
		a.AddAlert(&AlertRec{Time: day0, RuleID: "80401", Level: 3, Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})}})
	}
	s := a.Snapshot(Meta{})
	assert.LessOrEqual(t, len(s.AddrAlerts), 100)
	assert.Positive(t, s.AddrsDropped)
	assert.Contains(t, s.AddrAlerts, ip, "the address with the highest level is kept")
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{TopK: 5}, {Capacity: 39}, {Interval: 1500 * time.Millisecond}, {From: time.Unix(10, 0), To: time.Unix(5, 0)}} {
		_, err := New(o)
		assert.ErrorIs(t, err, ErrBadOptions)
	}
}

func TestAlertDescription(t *testing.T) {
	for line, want := range map[string]string{
		`{"timestamp":"2024-03-05T10:30:00.000+0000","rule":{"level":3,"description":"AWS VPC Flow: [ACCEPT] - Interface: eni-1 - Protocol: 6.","id":"80401"}}`: "AWS VPC Flow: [ACCEPT] - Interface: eni-1 - Protocol: 6.",
		`{"timestamp":"2024-03-05T10:30:00.000+0000","rule":{"level":12,"description":"say \"hi\"","id":"1"}}`:                                                  `say "hi"`,
		`{"rule":{"description":"elsewhere","level":3}}`: "elsewhere",
		`{"rule":{}}`: "",
	} {
		assert.Equal(t, want, string(alertDescription([]byte(line))), line)
	}
}

func TestNth(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 200 {
		v := make([]int64, 1+r.IntN(50))
		for i := range v {
			v[i] = r.Int64N(10)
		}
		sorted := append([]int64(nil), v...)
		slices.Sort(sorted)
		n := r.IntN(len(v))
		require.Equal(t, sorted[n], nth(v, n))
	}
}

// TestPageSizeBound: the page stays under 5 MB with the worst input for
// its size — 1,500 full intervals whose talkers all have addresses of their
// own, many rules, and alerts on every address.
func TestPageSizeBound(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the worst page for its size, 1,500 full intervals; -short skips it")
	}
	r := rand.New(rand.NewPCG(15, 16))
	a := newAgg(t, Options{})
	ip := func() netip.Addr {
		var b [16]byte
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return netip.AddrFrom16(b)
	}
	for i := range 1500 {
		t0 := day0 + int64(i)*60
		for range 40 {
			src, dst := ip(), ip()
			a.AddFlow(&Flow{Time: t0, Talker: Talker{Src: src, Dst: dst, DstPort: uint16(r.IntN(65536)), Proto: 6}, Counts: Counts{Bytes: 1 + r.Int64N(1<<40), Packets: 1 << 30, Flows: 1 << 20}})
			rule := fmt.Sprint(100000 + r.IntN(300))
			a.AddAlert(&AlertRec{Time: t0, RuleID: rule, Level: r.IntN(16), Description: []byte("a description of some length, as Wazuh's rules have: " + rule + " " + src.String()), Addrs: []netip.Addr{src, dst}})
		}
	}
	s := a.Snapshot(Meta{})
	require.Len(t, s.Intervals, 1500)
	page, err := RenderBytes(s)
	require.NoError(t, err)
	assert.Less(t, len(page), 5<<20, "page of %d bytes", len(page))
	t.Logf("worst-case page: %.2f MB", float64(len(page))/(1<<20))
}
