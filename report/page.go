package report

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"
)

//go:embed page.html page.js page.css assets/uplot/uPlot.iife.min.js assets/uplot/uPlot.min.css assets/uplot/VERSION
var assets embed.FS

var pageTemplate = template.Must(template.ParseFS(assets, "page.html"))

// MaxPageAlerts bounds the per-address alerts a page carries in all, so that
// the page stays small whatever the input; addresses shown in the top-talker
// lists come first, then those with the highest levels.
const MaxPageAlerts = 25000

// maxPageData bounds the page's JSON: with the script and the chart library
// the page stays under 5 MB. The rules of each interval are cut to the most
// frequent (the rest summed as "other rules"), and the per-address alerts
// fill what room is left.
const maxPageData = 4_700_000

// maxRulesPerInterval is how many rules an interval lists by name before
// the budget asks for fewer.
const maxRulesPerInterval = 30

// pageData is the JSON the page's script reads. Times are Unix seconds;
// talker rows are arrays [src, dst, dstport, proto, action, bytes, packets,
// flows, hi, exact] with addresses as indexes into addrs.
type pageData struct {
	Title       string      `json:"title"`
	Source      string      `json:"source"`
	AlertedOnly bool        `json:"alertedOnly"`
	Inputs      []string    `json:"inputs"`
	Notes       []string    `json:"notes"`
	Generated   int64       `json:"generated"`
	Width       int64       `json:"width"`
	Start       int64       `json:"start"`
	N           int         `json:"n"`
	Summary     summaryJSON `json:"summary"`
	Series      seriesJSON  `json:"series"`
	Addrs       []string    `json:"addrs"`
	// Top holds per interval [rest, row...]; RejectTop likewise.
	Top      [][]any          `json:"top"`
	SpanTop  []any            `json:"spanTop"`  // [rest, row...] of the whole span, or null
	Rules    [][3]any         `json:"rules"`    // [id, level, description]
	RuleHits [][][4]int64     `json:"ruleHits"` // per interval [rule index (-1: other rules), count, first, last], times from the interval's start
	Peaks    []peakJSON       `json:"peaks"`
	IPAlerts map[string]ipAJS `json:"ipAlerts"`
	Descs    []string         `json:"descs"`
	Dropped  int64            `json:"addrsDropped"`
	MaxAddrs int              `json:"maxAddrs"`
	PageCap  bool             `json:"pageCapped"`
	// RulesCapped, when not 0, is how many rules an interval lists by name.
	RulesCapped int    `json:"rulesCapped"`
	PerRule     int    `json:"perRule"`
	UPlotVers   string `json:"uplot"`
}

type summaryJSON struct {
	Records, Flows, Bytes, Packets, Alerts, BadLines, Outside int64
	First, Last                                               int64
	Accounts, Interfaces, Regions                             int
}

type seriesJSON struct {
	BytesA, BytesR, PktsA, PktsR, FlowsA, FlowsR []int64
	Alerts                                       [4][]int64
}

type peakJSON struct {
	Kind  string `json:"kind"`
	I     int    `json:"i"`
	Value int64  `json:"value"`
	Top   []any  `json:"top"`
}

type ipAJS struct {
	N int64      `json:"n"`
	A [][3]int64 `json:"a"` // [time, rule index, description index]
}

// dict numbers strings in order of first use.
type dict struct {
	idx  map[string]int
	list []string
}

func (d *dict) id(s string) int {
	if i, ok := d.idx[s]; ok {
		return i
	}
	if d.idx == nil {
		d.idx = map[string]int{}
	}
	d.idx[s] = len(d.list)
	d.list = append(d.list, s)
	return len(d.list) - 1
}

// rowJSON encodes a talker row as [src, dst, dstport, proto, action
// (0 ACCEPT, 1 REJECT, 2 other), bytes, packets, flows, hi], where hi is 0
// for an exact row and otherwise the upper bound of its bytes (-1 for 0).
func rowJSON(addrs *dict, r Row) []any {
	var hi int64
	if !r.Exact {
		hi = r.Hi
		if hi == 0 {
			hi = -1
		}
	}
	return []any{addrs.id(r.Src.String()), addrs.id(r.Dst.String()), r.DstPort, r.Proto, int(r.Action),
		r.Bytes, r.Packets, r.Flows, hi}
}

// Render writes the page of s to w.
func Render(w io.Writer, s *Snapshot) error {
	data, err := buildPageData(s)
	if err != nil {
		return err
	}
	js, err := json.Marshal(data) // escapes <, > and &: safe inside <script>
	if err != nil {
		return fmt.Errorf("report: page data: %w", err)
	}
	read := func(name string) string {
		b, err := assets.ReadFile(name)
		if err != nil {
			panic(err) // embedded at build time
		}
		return string(b)
	}
	return pageTemplate.Execute(w, map[string]any{
		"Title":     s.Title,
		"Data":      template.JS(js),
		"UPlot":     template.JS(read("assets/uplot/uPlot.iife.min.js")),
		"UPlotCSS":  template.CSS(read("assets/uplot/uPlot.min.css")),
		"PageJS":    template.JS(read("page.js")),
		"PageCSS":   template.CSS(read("page.css")),
		"Generated": s.Generated.UTC().Format(time.RFC3339),
	})
}

// RenderBytes returns the page of s.
func RenderBytes(s *Snapshot) ([]byte, error) {
	var b bytes.Buffer
	err := Render(&b, s)
	return b.Bytes(), err
}

func buildPageData(s *Snapshot) (*pageData, error) {
	n := len(s.Intervals)
	d := &pageData{Title: s.Title, Source: s.Source, AlertedOnly: s.AlertedOnly, Inputs: s.Inputs, Notes: s.Notes,
		Generated: s.Generated.Unix(), Width: int64(s.Width / time.Second), N: n,
		Summary: summaryJSON(s.Summary), Top: make([][]any, n), RuleHits: make([][][4]int64, n),
		IPAlerts: map[string]ipAJS{}, Dropped: s.AddrsDropped, MaxAddrs: s.MaxAddresses,
		UPlotVers: strings.TrimSpace(readVersion())}
	if d.Inputs == nil {
		d.Inputs = []string{}
	}
	if d.Notes == nil {
		d.Notes = []string{}
	}
	if s.Widened {
		d.Notes = append(d.Notes, fmt.Sprintf("The interval was widened to %s: the span needs at most 1,500 intervals of it.", s.Width))
	}
	if n > 0 {
		d.Start = s.Start.Unix()
	}
	ruleIdx := pageRules(d, s)
	var addrs dict
	onPage := map[netip.Addr]bool{}
	pageIntervals(d, s, ruleIdx, &addrs, onPage)
	pageTops(d, s, &addrs, onPage)
	d.Addrs = addrs.list
	if err := pageAddrAlerts(d, s, ruleIdx, onPage); err != nil {
		return nil, err
	}
	if d.Addrs == nil {
		d.Addrs = []string{}
	}
	d.PerRule = 5
	return d, nil
}

// pageRules lists the rules in rule order and returns each one's index
// in that list.
func pageRules(d *pageData, s *Snapshot) map[string]int {
	ruleIDs := make([]string, 0, len(s.Rules))
	for id := range s.Rules {
		ruleIDs = append(ruleIDs, id)
	}
	sort.Slice(ruleIDs, func(i, j int) bool { return ruleLess(ruleIDs[i], ruleIDs[j]) })
	ruleIdx := map[string]int{}
	d.Rules = [][3]any{}
	for i, id := range ruleIDs {
		ruleIdx[id] = i
		r := s.Rules[id]
		d.Rules = append(d.Rules, [3]any{id, r.Level, r.Description})
	}
	return ruleIdx
}

// pageIntervals fills the time series, each interval's top talkers and
// its rule hits; the addresses shown are marked in onPage.
func pageIntervals(d *pageData, s *Snapshot, ruleIdx map[string]int, addrs *dict, onPage map[netip.Addr]bool) {
	n := len(s.Intervals)
	se := &d.Series
	for _, p := range []*[]int64{&se.BytesA, &se.BytesR, &se.PktsA, &se.PktsR, &se.FlowsA, &se.FlowsR,
		&se.Alerts[0], &se.Alerts[1], &se.Alerts[2], &se.Alerts[3]} {
		*p = make([]int64, n)
	}
	for i := range s.Intervals {
		iv := &s.Intervals[i]
		se.BytesA[i], se.BytesR[i] = iv.Accept.Bytes, iv.Reject.Bytes
		se.PktsA[i], se.PktsR[i] = iv.Accept.Packets, iv.Reject.Packets
		se.FlowsA[i], se.FlowsR[i] = iv.Accept.Flows, iv.Reject.Flows
		for b := range iv.Alerts {
			se.Alerts[b][i] = iv.Alerts[b]
		}
		top := []any{iv.Top.Rest}
		for _, r := range iv.Top.Rows {
			top = append(top, rowJSON(addrs, r))
			onPage[r.Src], onPage[r.Dst] = true, true
		}
		d.Top[i] = top
		start := d.Start + int64(i)*d.Width
		hits := make([][4]int64, 0, len(iv.Rules))
		for id, h := range iv.Rules {
			hits = append(hits, [4]int64{int64(ruleIdx[id]), h.N, h.First - start, h.Last - start})
		}
		sort.Slice(hits, func(a, b int) bool { return hits[a][0] < hits[b][0] })
		d.RuleHits[i] = hits
	}
}

// pageTops fills the whole span's top talkers and the peaks.
func pageTops(d *pageData, s *Snapshot, addrs *dict, onPage map[netip.Addr]bool) {
	if len(s.SpanTop.Rows) > 0 {
		d.SpanTop = []any{s.SpanTop.Rest}
		for _, r := range s.SpanTop.Rows {
			d.SpanTop = append(d.SpanTop, rowJSON(addrs, r))
			onPage[r.Src], onPage[r.Dst] = true, true
		}
	}
	d.Peaks = []peakJSON{}
	for _, p := range s.Peaks {
		pj := peakJSON{Kind: p.Kind, I: p.Index, Value: p.Value}
		if p.Top.Src.IsValid() {
			pj.Top = rowJSON(addrs, p.Top)
			onPage[p.Top.Src], onPage[p.Top.Dst] = true, true
		}
		d.Peaks = append(d.Peaks, pj)
	}
}

// pageAddrAlerts fills the per-address alerts within MaxPageAlerts and
// maxPageData: addresses on the page first, then by level and count;
// PageCap says some were left out.
func pageAddrAlerts(d *pageData, s *Snapshot, ruleIdx map[string]int, onPage map[netip.Addr]bool) error {
	ips := make([]netip.Addr, 0, len(s.AddrAlerts))
	maxLevel := map[netip.Addr]int{}
	for ip, aa := range s.AddrAlerts {
		ips = append(ips, ip)
		for _, a := range aa.Alerts {
			maxLevel[ip] = max(maxLevel[ip], a.Level)
		}
	}
	sort.Slice(ips, func(i, j int) bool {
		a, b := ips[i], ips[j]
		if onPage[a] != onPage[b] {
			return onPage[a]
		}
		if maxLevel[a] != maxLevel[b] {
			return maxLevel[a] > maxLevel[b]
		}
		if na, nb := s.AddrAlerts[a].N, s.AddrAlerts[b].N; na != nb {
			return na > nb
		}
		return a.Less(b)
	})
	var descs dict
	size, err := capRules(d)
	if err != nil {
		return err
	}
	budget := MaxPageAlerts
	for _, ip := range ips {
		aa := s.AddrAlerts[ip]
		cost := len(ip.String()) + 16 + 32*len(aa.Alerts)
		if len(aa.Alerts) > budget || size+cost > maxPageData {
			d.PageCap = true
			break
		}
		budget -= len(aa.Alerts)
		size += cost
		j := ipAJS{N: aa.N, A: make([][3]int64, len(aa.Alerts))}
		for i, a := range aa.Alerts {
			ri, ok := ruleIdx[a.RuleID]
			if !ok {
				return fmt.Errorf("report: alert of unknown rule %s", a.RuleID)
			}
			di := descs.id(a.Description)
			if di == len(descs.list)-1 {
				size += len(a.Description) + 3
			}
			j.A[i] = [3]int64{a.Time, int64(ri), int64(di)}
		}
		d.IPAlerts[ip.String()] = j
	}
	d.Descs = descs.list
	if d.Descs == nil {
		d.Descs = []string{}
	}
	return nil
}

// capRules keeps the page data within maxPageData (leaving room for the
// per-address alerts) by listing fewer rules per interval, the most
// frequent first, the others summed as rule index -1; it returns the size
// of the data so far.
func capRules(d *pageData) (int, error) {
	size := func() (int, error) {
		b, err := json.Marshal(d)
		if err != nil {
			return 0, fmt.Errorf("report: page data: %w", err)
		}
		return len(b), nil
	}
	n, err := size()
	if err != nil {
		return 0, err
	}
	for limit := maxRulesPerInterval; n > maxPageData*9/10 && limit > 1; limit /= 2 {
		for i, hits := range d.RuleHits {
			if len(hits) <= limit {
				continue
			}
			hs := append([][4]int64(nil), hits...)
			sort.SliceStable(hs, func(a, b int) bool { return hs[a][1] > hs[b][1] })
			other := [4]int64{-1, 0, 1 << 62, -(1 << 62)}
			for _, h := range hs[limit-1:] {
				other[1] += h[1]
				other[2] = min(other[2], h[2])
				other[3] = max(other[3], h[3])
			}
			kept := append(hs[:limit-1:limit-1], other)
			sort.Slice(kept, func(a, b int) bool { return kept[a][0] < kept[b][0] })
			d.RuleHits[i] = kept
		}
		d.RulesCapped = limit
		if n, err = size(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// ruleLess orders rule ids numerically when they are numbers.
func ruleLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func readVersion() string {
	b, _ := assets.ReadFile("assets/uplot/VERSION")
	return string(b)
}
