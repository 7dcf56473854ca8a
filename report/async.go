package report

import (
	"net/netip"
	"sync"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// AsyncObserver is an Observer that counts on a goroutine of its own: the
// engine's goroutine only reads the fields the report needs and queues them
// in batches, and the counting (sketches, rules, address lists) overlaps
// the engine's work on another core. `vpcalertd report` uses it. Flush
// waits until everything queued is counted; Close flushes and stops the
// goroutine, and must be called.
type AsyncObserver struct {
	obs     *Observer
	mu      sync.Mutex // guards cur and closed
	cur     *batch
	closed  bool
	work    chan *batch
	free    chan *batch
	pending sync.WaitGroup // batches queued, not counted yet
	done    chan struct{}  // closed when the goroutine has ended
	// last is what Event read of the record whose alerts come next (the
	// engine calls Alert right after Event for the same event).
	last lastEvent
}

// lastEvent identifies an event and holds its addresses and time.
type lastEvent struct {
	ev     *event.Event
	line   int
	offset int64
	key    string
	time   int64
	naddrs int
	addrs  [3]netip.Addr
}

func (l *lastEvent) is(ev *event.Event) bool {
	return l.ev == ev && l.line == ev.Origin.Line && l.offset == ev.Origin.Offset && l.key == ev.Origin.Key
}

// batchSize is the number of flows, alerts and records queued at once.
const batchSize = 2048

// flowItem is a queued flow; byte fields are [start, end) in the arena.
type flowItem struct {
	time                 int64
	key                  tkey
	c                    Counts
	acct, iface, region  [2]int32
	acctName, regionName string
}

// alertItem is a queued alert.
type alertItem struct {
	time   int64
	rule   string
	level  int
	desc   [2]int32
	naddrs int
	addrs  [3]netip.Addr
}

type batch struct {
	flows   []flowItem
	alerts  []alertItem
	records int64
	arena   []byte
}

func (b *batch) size() int { return len(b.flows) + len(b.alerts) + int(b.records) }

func (b *batch) keep(v []byte) [2]int32 {
	start := int32(len(b.arena))
	b.arena = append(b.arena, v...)
	return [2]int32{start, int32(len(b.arena))}
}

func (b *batch) bytes(r [2]int32) []byte { return b.arena[r[0]:r[1]] }

// NewAsyncObserver returns an AsyncObserver counting into agg.
func NewAsyncObserver(agg *Aggregator) *AsyncObserver {
	o := &AsyncObserver{obs: NewObserver(agg), work: make(chan *batch, 4), free: make(chan *batch, 6), done: make(chan struct{})}
	go o.count()
	return o
}

func (o *AsyncObserver) count() {
	defer close(o.done)
	agg := o.obs.agg
	var rec AlertRec
	for b := range o.work {
		agg.mu.Lock()
		agg.sum.Records += b.records
		var f Flow
		for i := range b.flows {
			it := &b.flows[i]
			f = Flow{Time: it.time, Talker: Talker{Action: it.key.action}, Counts: it.c, Account: b.bytes(it.acct), Interface: b.bytes(it.iface), Region: b.bytes(it.region),
				AccountName: it.acctName, RegionName: it.regionName}
			agg.addFlow(&f, it.key)
		}
		for i := range b.alerts {
			it := &b.alerts[i]
			rec = AlertRec{Time: it.time, RuleID: it.rule, Level: it.level, Description: b.bytes(it.desc), Addrs: it.addrs[:it.naddrs]}
			agg.addAlert(&rec)
		}
		agg.mu.Unlock()
		b.flows, b.alerts, b.records, b.arena = b.flows[:0], b.alerts[:0], 0, b.arena[:0]
		select {
		case o.free <- b:
		default:
		}
		o.pending.Done()
	}
}

// current returns the batch being filled. Called with o.mu held.
func (o *AsyncObserver) current() *batch {
	if o.cur == nil {
		select {
		case o.cur = <-o.free:
		default:
			o.cur = &batch{flows: make([]flowItem, 0, batchSize), alerts: make([]alertItem, 0, batchSize)}
		}
	}
	return o.cur
}

// queue hands the current batch to the counting goroutine when it is full,
// or at once with force. Called with o.mu held.
func (o *AsyncObserver) queue(force bool) {
	if o.cur == nil || o.cur.size() == 0 || !force && o.cur.size() < batchSize {
		return
	}
	o.pending.Add(1)
	o.work <- o.cur
	o.cur = nil
}

// Event queues a decoded record.
func (o *AsyncObserver) Event(ev *event.Event) {
	p := o.obs.planFor(ev)
	var f Flow
	isFlow := flowOf(ev, p, &f)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	b := o.current()
	o.last = lastEvent{}
	if !isFlow {
		b.records++
	} else {
		o.last = lastEvent{ev: ev, line: ev.Origin.Line, offset: ev.Origin.Offset, key: ev.Origin.Key, time: f.Time, naddrs: 2, addrs: [3]netip.Addr{f.Src, f.Dst}}
		b.flows = append(b.flows, flowItem{time: f.Time, key: keyOf(f.Talker), c: f.Counts,
			acct: b.keep(f.Account), iface: b.keep(f.Interface), region: b.keep(f.Region),
			acctName: ev.Origin.AccountID, regionName: ev.Origin.Region})
	}
	o.queue(false)
}

// Alert queues an alert with the addresses its event carries.
func (o *AsyncObserver) Alert(ev *event.Event, a *alert.Alert) {
	var it alertItem
	it.rule, it.level = a.RuleID, a.Level
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if o.last.is(ev) {
		// A flow: its addresses and start were read by Event.
		it.time, it.naddrs, it.addrs = o.last.time, o.last.naddrs, o.last.addrs
	} else {
		p := o.obs.planFor(ev)
		for _, k := range [...]int{fSrc, fDst, fSourceIP} {
			if ip, ok := parseAddr(p.get(ev, k)); ok {
				it.addrs[it.naddrs] = ip
				it.naddrs++
			}
		}
		it.time = alertTime(ev, p, a)
	}
	b := o.current()
	it.desc = b.keep(descriptionOf(a))
	b.alerts = append(b.alerts, it)
	o.queue(false)
}

// Flush returns once everything observed so far is counted.
func (o *AsyncObserver) Flush() {
	o.mu.Lock()
	if !o.closed {
		o.queue(true)
	}
	o.mu.Unlock()
	o.pending.Wait()
}

// Snapshot flushes and returns the aggregator's snapshot.
func (o *AsyncObserver) Snapshot(meta Meta) *Snapshot {
	o.Flush()
	return o.obs.agg.Snapshot(meta)
}

// Close counts what is queued and stops the goroutine; later calls are
// dropped.
func (o *AsyncObserver) Close() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.queue(true)
	o.closed = true
	close(o.work)
	o.mu.Unlock()
	<-o.done
}
