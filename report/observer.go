package report

import (
	"bytes"
	"net/netip"
	"sync"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// Observer feeds an Aggregator from the engine: it implements
// engine.Observer (Options.Observer) and is safe for concurrent use.
type Observer struct {
	agg   *Aggregator
	mu    sync.Mutex // guards plans
	plans map[uint64]*plan
	recs  sync.Pool // of *alertBuf, so that an alert allocates nothing
}

type alertBuf struct {
	rec   AlertRec
	addrs [3]netip.Addr
}

// NewObserver returns an Observer counting into agg.
func NewObserver(agg *Aggregator) *Observer {
	return &Observer{agg: agg, plans: map[uint64]*plan{}}
}

// Snapshot returns the aggregator's snapshot (Handler serves it).
func (o *Observer) Snapshot(meta Meta) *Snapshot { return o.agg.Snapshot(meta) }

// The event fields the report reads (Wazuh's names).
const (
	fSrc = iota
	fDst
	fDstPort
	fProto
	fAction
	fBytes
	fPackets
	fStart
	fAccount
	fInterface
	fRegion
	fSourceIP
	fAWSRegion
	nFields
)

var fieldKeys = [nFields]string{
	fSrc: "aws.srcaddr", fDst: "aws.dstaddr", fDstPort: "aws.dstport", fProto: "aws.protocol",
	fAction: "aws.action", fBytes: "aws.bytes", fPackets: "aws.packets", fStart: "aws.start",
	fAccount: "aws.account_id", fInterface: "aws.interface_id", fRegion: "aws.region",
	fSourceIP: "aws.sourceIPAddress", fAWSRegion: "aws.awsRegion",
}

// plan is where the wanted fields sit in events of one layout.
type plan struct {
	n   int
	idx [nFields]int16
}

func makePlan(ev *event.Event) *plan {
	p := &plan{n: len(ev.Fields)}
	for i := range p.idx {
		p.idx[i] = -1
	}
	for i := range ev.Fields {
		if i > 32767 {
			break
		}
		for w, k := range fieldKeys {
			if p.idx[w] < 0 && ev.Fields[i].Key == k {
				p.idx[w] = int16(i)
			}
		}
	}
	return p
}

// planFor returns the field plan of ev, cached by layout (bounded).
func (o *Observer) planFor(ev *event.Event) *plan {
	if ev.Layout == 0 {
		return makePlan(ev)
	}
	o.mu.Lock()
	p := o.plans[ev.Layout]
	o.mu.Unlock()
	if p != nil && p.n == len(ev.Fields) {
		return p
	}
	p = makePlan(ev)
	o.mu.Lock()
	if len(o.plans) >= 1024 {
		clear(o.plans)
	}
	o.plans[ev.Layout] = p
	o.mu.Unlock()
	return p
}

func (p *plan) get(ev *event.Event, f int) []byte {
	i := p.idx[f]
	if i < 0 {
		return nil
	}
	fl := &ev.Fields[i]
	if fl.Kind == event.Null || fl.Kind == event.EmptyObject {
		return nil
	}
	return fl.Value
}

// Event counts a decoded record: a flow when it has addresses and an
// action, else a record only.
func (o *Observer) Event(ev *event.Event) {
	p := o.planFor(ev)
	var f Flow
	if !flowOf(ev, p, &f) {
		o.agg.AddRecord()
		return
	}
	f.AccountName, f.RegionName = ev.Origin.AccountID, ev.Origin.Region
	o.agg.AddFlow(&f)
}

// flowOf fills f from a flow event; false when ev is no flow with data
// (NODATA and SKIPDATA lines have "-" addresses).
func flowOf(ev *event.Event, p *plan, f *Flow) bool {
	src, ok1 := parseAddr(p.get(ev, fSrc))
	dst, ok2 := parseAddr(p.get(ev, fDst))
	action := p.get(ev, fAction)
	if !ok1 || !ok2 || len(action) == 0 {
		return false
	}
	f.Src, f.Dst = src, dst
	f.Action = actionOf(action)
	port, _ := atoi(p.get(ev, fDstPort))
	proto, _ := atoi(p.get(ev, fProto))
	f.DstPort, f.Proto = uint16(port), uint8(proto)
	f.Bytes, _ = atoi(p.get(ev, fBytes))
	f.Packets, _ = atoi(p.get(ev, fPackets))
	f.Flows = 1
	if t, ok := parseUTC(p.get(ev, fStart)); ok {
		f.Time = t
	} else {
		f.Time = ev.Time
	}
	f.Account = p.get(ev, fAccount)
	f.Interface = p.get(ev, fInterface)
	f.Region = p.get(ev, fRegion)
	return true
}

// Alert counts an alert with the addresses its event carries.
func (o *Observer) Alert(ev *event.Event, a *alert.Alert) {
	p := o.planFor(ev)
	buf, _ := o.recs.Get().(*alertBuf)
	if buf == nil {
		buf = new(alertBuf)
	}
	defer o.recs.Put(buf)
	n := 0
	for _, k := range [...]int{fSrc, fDst, fSourceIP} {
		if ip, ok := parseAddr(p.get(ev, k)); ok {
			buf.addrs[n] = ip
			n++
		}
	}
	buf.rec = AlertRec{Time: alertTime(ev, p, a), RuleID: a.RuleID, Level: a.Level, Description: descriptionOf(a),
		Addrs: buf.addrs[:n]}
	o.agg.AddAlert(&buf.rec)
}

// alertTime is the time of the record behind a: a flow's start, else the
// event's own time, else the alert's.
func alertTime(ev *event.Event, p *plan, a *alert.Alert) int64 {
	if s, ok := parseUTC(p.get(ev, fStart)); ok {
		return s
	}
	if ev.Time != 0 {
		return ev.Time
	}
	return a.Time.Unix()
}

func actionOf(b []byte) Action {
	switch string(b) {
	case "ACCEPT":
		return ActionAccept
	case "REJECT":
		return ActionReject
	}
	return ActionOther
}

// parseAddr parses an IPv4 address without allocating, else any address.
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) == 1 && b[0] == '-' {
		return netip.Addr{}, false
	}
	var v4 [4]byte
	part, n, digits := 0, 0, 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9' && digits < 3:
			n = n*10 + int(c-'0')
			digits++
		case c == '.' && digits > 0 && part < 3 && n <= 255:
			v4[part] = byte(n)
			part++
			n, digits = 0, 0
		default:
			ip, err := netip.ParseAddr(string(b))
			return ip, err == nil
		}
	}
	if part != 3 || digits == 0 || n > 255 {
		ip, err := netip.ParseAddr(string(b))
		return ip, err == nil
	}
	v4[3] = byte(n)
	return netip.AddrFrom4(v4), true
}

// atoi parses a non-negative decimal; false for anything else ("-").
func atoi(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseUTC parses "YYYY-MM-DDTHH:MM:SSZ" (flow starts once converted, as
// Wazuh writes them) into Unix seconds.
func parseUTC(b []byte) (int64, bool) {
	if len(b) != 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z' {
		return 0, false
	}
	num := func(s []byte) (int64, bool) { return atoi(s) }
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return 0, false
	}
	return daysFromCivil(y, mo, d)*86400 + h*3600 + mi*60 + s, true
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// descriptionOf returns a's rule.description: the engine's Description,
// else read from its JSON.
func descriptionOf(a *alert.Alert) []byte {
	if a.Description != nil || a.JSON == nil {
		return a.Description
	}
	return alertDescription(a.JSON)
}

// alertDescription returns rule.description of an alert line. The engine
// writes {"timestamp":"<28 characters>","rule":{"level":N,"description":"…
// so it is found at once; anything else is searched for.
func alertDescription(b []byte) []byte {
	const head = `{"timestamp":"2024-03-05T10:20:31.102+0000","rule":{"level":`
	const desc = `,"description":"`
	i := len(head)
	if len(b) > i+2+len(desc) && string(b[i-8:i]) == `"level":` {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if len(b) > i+len(desc) && string(b[i:i+len(desc)]) == desc {
			rest := b[i+len(desc):]
			if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
				return rest[:j]
			}
		}
	}
	return jsonStringAfter(b, `"description":"`)
}

// jsonStringAfter returns the JSON string value that follows the first
// occurrence of prefix in b, unescaped when needed; nil when absent.
func jsonStringAfter(b []byte, prefix string) []byte {
	i := indexOf(b[:min(len(b), 512)], prefix) // near the start in an alert
	if i < 0 {
		i = indexOf(b, prefix)
	}
	if i < 0 {
		return nil
	}
	rest := b[i+len(prefix):]
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '"':
			return rest[:j]
		case '\\':
			return unquoteJSON(rest)
		}
	}
	return nil
}
