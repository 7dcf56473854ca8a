package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/rules"
	"github.com/vpcalertd/vpcalertd/rules/redisstore"
	"github.com/vpcalertd/vpcalertd/rules/redisstore/redistest"
)

// TestSharedStoreSameOutput: with the correlation state in Redis, Process
// writes byte for byte what it writes with the state in memory — every
// correlation alert of the shipped rules, previous_output, firedtimes,
// ids, run-time error reports — on one core and on several.
func TestSharedStoreSameOutput(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flows.log.gz"), correlationFlows(t, 20000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "logins.json"), consoleFailures(400), 0o644))
	files, err := collector.Local([]string{"../testdata/buckets", dir}, collector.LocalOptions{})
	require.NoError(t, err)
	withErrors := func(o *Options) { o.UserRulesets = []fs.FS{errorRules} }
	want := runAt(t, 1, files, withErrors)
	for _, id := range []string{`"id":"100401"`, `"id":"100411"`, `"id":"100421"`, `"id":"80255"`, `"previous_output"`} {
		require.Contains(t, want, id, "the input makes this alert")
	}
	for i, procs := range []int{1, 3} {
		store := redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 10 * time.Second,
			Batch: rules.SharedOptions{KeyPrefix: "run" + string(rune('a'+i)) + ":"}})
		t.Cleanup(func() { store.Close() })
		require.True(t, store.Available())
		got := runAt(t, procs, files, func(o *Options) {
			withErrors(o)
			o.Correlation = store
		})
		if got != want {
			g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("GOMAXPROCS=%d: line %d differs:\n got  %.300s\n want %.300s", procs, i, g[i], w[i])
				}
			}
			t.Fatalf("GOMAXPROCS=%d: %d lines, want %d", procs, len(g), len(w))
		}
		require.Zero(t, store.Status().LocalEvents, "every event went to the store")
		st := store.Stats()
		require.Positive(t, st.Optimistic, "flow batches (aggregates only) took the optimistic path")
		require.Positive(t, st.Exact, "CloudTrail batches (a frequency rule) went to the interpreter")
		keys, err := srv.Client.Keys(t.Context(), "run"+string(rune('a'+i))+":*").Result()
		require.NoError(t, err)
		require.NotEmpty(t, keys, "the state is in Redis")
	}
}

// TestSharedStoreRounds: on one core the store gets one call per round of
// roundBatches batches, not one per batch, and a round is still applied
// once: an object read twice (a re-read after a crash: same key, same
// processing time) gets the same alerts the second time, answered from the
// store's records, and the object after it correlates as after one read —
// both as with the state in memory.
func TestSharedStoreRounds(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	srv := redistest.Start(t)
	gz := correlationFlows(t, 20000)
	lines := strings.SplitAfter(gunzipString(t, gz), "\n")
	head := lines[0]
	half := len(lines) / 2
	first, second := strings.Join(lines[:half], ""), head+strings.Join(lines[half:], "")
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", AccountID: "123456789012", Region: "us-east-1",
		Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/x.log"}
	now := time.Date(2024, 3, 5, 11, 0, 0, 0, time.UTC)
	process := func(e *Engine, key, data string) (string, Stats) {
		var out bytes.Buffer
		ctx := WithObject(context.Background(), Object{Key: key, Now: now})
		sink := output.NewStream(&out)
		st, err := e.Process(ctx, origin, strings.NewReader(data), sink)
		require.NoError(t, err)
		require.NoError(t, sink.Close())
		return out.String(), st
	}
	mem, _ := newTestEngine(t, nil)
	want1, st := process(mem, "b/one#1", first)
	want2, _ := process(mem, "b/two#1", second)
	require.Contains(t, want1+want2, `"id":"100401"`, "the input makes correlation alerts")

	count := &countingStore{Store: redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 10 * time.Second,
		Batch: rules.SharedOptions{KeyPrefix: "rounds:"}})}
	t.Cleanup(func() { count.Close() })
	e, _ := newTestEngine(t, func(o *Options) { o.Correlation = count })
	got1, _ := process(e, "b/one#1", first)
	sameLines(t, got1, want1, "first read")
	calls := count.calls.Load()
	batches := (st.Records + 511) / 512
	require.Less(t, calls, batches/2, "%d calls for about %d batches: rounds of several batches", calls, batches)
	// The re-read and what follows it differ from memory only by the
	// process's own counts: alert ids and firedtimes run on.
	again, _ := process(e, "b/one#1", first)
	sameLines(t, withoutCounts(again), withoutCounts(want1), "a re-read gets the alerts of the first read")
	got2, _ := process(e, "b/two#1", second)
	sameLines(t, withoutCounts(got2), withoutCounts(want2), "the object after the re-read correlates as after one read")
	require.Zero(t, count.Status().LocalEvents)
}

var countsRE = regexp.MustCompile(`"firedtimes":\d+,|"id":"\d+\.\d+",`)

// withoutCounts removes alert ids and firedtimes from alert lines.
func withoutCounts(s string) string { return countsRE.ReplaceAllString(s, "") }

// sameLines fails with the first line where got and want differ.
func sameLines(t *testing.T, got, want, what string) {
	t.Helper()
	if got == want {
		return
	}
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			t.Fatalf("%s: line %d differs:\n got  %.400s\n want %.400s", what, i, g[i], w[i])
		}
	}
	t.Fatalf("%s: %d lines, want %d", what, len(g), len(w))
}

// gunzipString returns the text of a gzip stream.
func gunzipString(t *testing.T, gz []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(b)
}

// BenchmarkSharedStore answers issue 18's question — records per second of
// one instance on one core with the default ruleset and its correlation
// state in a local Redis — and gives docs/sqs.md's sizing figures. Two
// objects: "flows", flowFile's records (the realistic mix of the sizing
// benchmarks, every record reaches an aggregate of the flow pack), and
// "correlation", correlationFlows (port scans and bursts that fire, odd
// records). Each is processed as the daemon does (a named object, so that
// the store keeps the records of its batches; an engine that has processed
// an object before, so that its batches are reused), in memory and in
// Redis, starting with an empty store and the rules' state as new each
// time. Besides records/s (wall clock,
// the pipeline on one core with GOMAXPROCS=1) it reports the CPU time of
// the process per record (getrusage: steadier than the wall clock on a
// shared machine), the CPU time of redis-server per record (its INFO cpu:
// the server is single-threaded, so 1e9 / redis-cpu-ns/record is how many
// records per second all instances together can send one server), the
// store's calls per record, the parts that went to the interpreter and
// the refused commits per batch, and the server's memory after the object
// (per rule in the log).
func BenchmarkSharedStore(b *testing.B) {
	srv := redistest.Start(b)
	objects := map[string][]byte{"flows": flowFile(b, sharedFlowLines), "correlation": correlationFlows(b, 50000)}
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012", Region: "us-east-1",
		Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz"}
	run := 0
	for _, name := range []string{"flows", "correlation"} {
		for _, store := range []string{"memory", "redis"} {
			b.Run(name+"/"+store, func(b *testing.B) {
				data := objects[name]
				var records int64
				var wall, cpu, server time.Duration
				var count countingStore
				var stats redisstore.Stats
				prefix := ""
				for b.Loop() {
					run++
					var cs CorrelationStore
					if store == "redis" {
						prefix = fmt.Sprintf("bench%d:", run)
						st := redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 10 * time.Second,
							Batch: rules.SharedOptions{KeyPrefix: prefix}})
						defer st.Close()
						count.Store = st
						cs = &count
					}
					e, _ := newTestEngine(b, func(o *Options) {
						if cs != nil {
							o.Correlation = cs
						}
					})
					// The engine is warm, as a daemon's is after its first
					// object (its batches are reused): the object is processed
					// once unmeasured, then the store is emptied and the
					// rules' state put back.
					snap := e.rules.Snapshot()
					calls, events := count.calls.Load(), count.events.Load()
					wctx := WithObject(context.Background(), Object{Key: fmt.Sprintf("%s/%s#warm%d", origin.Bucket, origin.Key, run)})
					_, err := e.Process(wctx, origin, bytes.NewReader(data), &countingSink{})
					require.NoError(b, err)
					_, err = e.rules.Restore(snap)
					require.NoError(b, err)
					require.NoError(b, srv.Client.FlushDB(context.Background()).Err())
					count.calls.Store(calls)
					count.events.Store(events)
					before := redisstore.Stats{}
					if count.Store != nil {
						before = count.Stats()
					}
					ctx := WithObject(context.Background(), Object{Key: fmt.Sprintf("%s/%s#%d", origin.Bucket, origin.Key, run)})
					s0, c0, t0 := redisCPU(b, srv), cpuTime(), time.Now()
					st, err := e.Process(ctx, origin, bytes.NewReader(data), &countingSink{})
					wall += time.Since(t0)
					cpu += cpuTime() - c0
					server += redisCPU(b, srv) - s0
					require.NoError(b, err)
					records += st.Records
					if count.Store != nil {
						x := count.Stats()
						stats.Optimistic += x.Optimistic - before.Optimistic
						stats.Exact += x.Exact - before.Exact
						stats.Refused += x.Refused - before.Refused
						stats.Reads += x.Reads - before.Reads
					}
				}
				b.ReportMetric(float64(records)/wall.Seconds(), "records/s")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
				if store != "redis" {
					return
				}
				b.ReportMetric(float64(server.Nanoseconds())/float64(records), "redis-cpu-ns/record")
				b.ReportMetric(float64(count.calls.Load())/float64(records), "calls/record")
				b.ReportMetric(float64(count.events.Load())/float64(records), "sent/record")
				if n := stats.Optimistic + stats.Exact; n > 0 {
					b.ReportMetric(float64(stats.Exact)/float64(count.calls.Load()), "interpreted/batch")
					b.ReportMetric(float64(stats.Refused)/float64(count.calls.Load()), "refused/batch")
					b.ReportMetric(float64(stats.Reads)/float64(count.calls.Load()), "reads/batch")
				}
				mem := redisMemory(b, srv, prefix)
				total := int64(0)
				for _, m := range mem {
					total += m.bytes
				}
				b.ReportMetric(float64(total)/1024, "redis-KiB")
				for _, k := range slices.Sorted(maps.Keys(mem)) {
					b.Logf("%s: %s: %d keys, %d KiB", name, k, mem[k].keys, mem[k].bytes/1024)
				}
			})
		}
	}
}

// sharedFlowLines is the size of BenchmarkSharedStore's flows object.
const sharedFlowLines = 200_000

// redisCPU is the CPU time redis-server has used (INFO cpu).
func redisCPU(tb testing.TB, srv *redistest.Server) time.Duration {
	info, err := srv.Client.Info(context.Background(), "cpu").Result()
	require.NoError(tb, err)
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(tb, err)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// keyMemory is the memory of the store's keys of one kind.
type keyMemory struct {
	keys, bytes int64
}

// redisMemory returns the memory (MEMORY USAGE) of the keys under prefix,
// by kind: "rule <id>" for a rule's groups, index and state, "batch
// records" for the records of applied batches.
func redisMemory(tb testing.TB, srv *redistest.Server, prefix string) map[string]keyMemory {
	ctx := context.Background()
	out := map[string]keyMemory{}
	iter := srv.Client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		n, err := srv.Client.MemoryUsage(ctx, key, 0).Result()
		require.NoError(tb, err)
		kind, rest, _ := strings.Cut(strings.TrimPrefix(key, prefix), ":")
		what := "batch records"
		if kind != "done" {
			id, _, _ := strings.Cut(rest, ":")
			what = "rule " + id
		}
		m := out[what]
		m.keys++
		m.bytes += n
		out[what] = m
	}
	require.NoError(tb, iter.Err())
	return out
}

// countingStore counts the calls to a store and the events sent.
type countingStore struct {
	*redisstore.Store
	calls, events atomic.Int64
}

func (c *countingStore) Run(ctx context.Context, b *rules.SharedBatch) error {
	c.calls.Add(1)
	c.events.Add(int64(b.Len()))
	return c.Store.Run(ctx, b)
}

// TestSharedStoreOutage: Redis stops while objects are read, and is
// unreachable when the store opens. Ingestion never stops and never
// loses an alert: each object's alerts are those of the memory run
// (correlated in the process meanwhile, which on one instance is the same);
// the outage is a WARN naming the server, the local events are counted,
// and once the server is back (retried) correlation goes to it again.
func TestSharedStoreOutage(t *testing.T) {
	srv := redistest.Start(t)
	files := correlationFile(t, 5000)
	want := runAt(t, 1, files, nil)
	require.Contains(t, want, `"id":"100401"`)

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	store := redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 5 * time.Second, Retry: 100 * time.Millisecond,
		Logger: log, Batch: rules.SharedOptions{KeyPrefix: "outage:"}})
	t.Cleanup(func() { store.Close() })
	require.True(t, store.Available())
	srv.Stop()
	got := runAt(t, 1, files, func(o *Options) { o.Correlation = store })
	require.Equal(t, want, got, "the alerts of an outage are those of the process's own correlation")
	st := store.Status()
	require.False(t, st.Available)
	require.Positive(t, st.LocalEvents, "events correlated in the process are counted")
	require.Equal(t, int64(1), st.Outages)
	require.Contains(t, logs.String(), `level=WARN msg="correlation store unavailable: correlating in this process until it is back`)
	require.Contains(t, logs.String(), "address="+srv.Addr)

	srv.Restart(t)
	require.Eventually(t, store.Available, 30*time.Second, 20*time.Millisecond, "the store is tried again")
	require.Contains(t, logs.String(), `level=INFO msg="correlation store available again`)
	local := store.Status().LocalEvents
	got = runAt(t, 1, files, func(o *Options) { o.Correlation = store })
	require.Equal(t, want, got)
	require.Equal(t, local, store.Status().LocalEvents, "back in the store")
	keys, err := srv.Client.Keys(t.Context(), "outage:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)

	// Unreachable when the daemon starts: it starts, warns, correlates
	// locally, and connects once the server is there.
	srv.Stop()
	var logs2 syncBuffer
	late := redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: time.Second, Retry: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs2, nil)), Batch: rules.SharedOptions{KeyPrefix: "late:"}})
	t.Cleanup(func() { late.Close() })
	require.False(t, late.Available())
	require.Contains(t, logs2.String(), "correlation store unavailable")
	require.Equal(t, want, runAt(t, 1, files, func(o *Options) { o.Correlation = late }))
	srv.Restart(t)
	require.Eventually(t, late.Available, 30*time.Second, 20*time.Millisecond)
}

// syncBuffer is a bytes.Buffer safe for a logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stopAt calls stop once the write stage has seen n events.
type stopAt struct {
	n, seen int
	stop    func()
}

func (s *stopAt) Event(*event.Event) {
	if s.seen++; s.seen == s.n {
		s.stop()
	}
}

func (s *stopAt) Alert(*event.Event, *alert.Alert) {}

var ruleIDRe = regexp.MustCompile(`"rule":\{.*?"id":"(\d+)"`)

// alertsByRule returns the alerts of out (alerts.json lines) as rule id
// and data, counted.
func alertsByRule(out string) map[string]int {
	m := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		id := ruleIDRe.FindStringSubmatch(l)
		_, data, _ := strings.Cut(l, `"data":`)
		m[id[1]+" "+data]++
	}
	return m
}

// TestSharedStoreKilledMidRun: Redis dies in the middle of an object. The
// rest of the object is correlated in the process; every alert of a rule
// without correlation state is written exactly as without the outage, and
// only correlation alerts whose windows straddle the outage may differ
// (docs/sqs.md, "When Redis is unreachable").
func TestSharedStoreKilledMidRun(t *testing.T) {
	srv := redistest.Start(t)
	files := correlationFile(t, 20000)
	replay := func(mod func(*Options)) string {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		e, _ := newTestEngine(t, mod)
		var out bytes.Buffer
		_, err := e.Replay(context.Background(), files, output.NewStream(&out), ReplayOptions{})
		require.NoError(t, err)
		return out.String()
	}
	want := alertsByRule(replay(nil))
	var logs syncBuffer
	store := redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 5 * time.Second, Retry: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Batch: rules.SharedOptions{KeyPrefix: "killed:"}})
	t.Cleanup(func() { store.Close() })
	killer := &stopAt{n: 10000, stop: func() { _ = syscall.Kill(srv.Pid(), syscall.SIGKILL) }}
	got := alertsByRule(replay(func(o *Options) { o.Correlation = store; o.Observer = killer }))
	st := store.Status()
	require.False(t, st.Available)
	require.Positive(t, st.LocalEvents)
	require.Contains(t, logs.String(), "correlation store unavailable")
	correlation := map[string]bool{"100401": true, "100411": true, "100441": true}
	var kept, differ int
	for k, n := range want {
		id, _, _ := strings.Cut(k, " ")
		if correlation[id] {
			if got[k] == n {
				kept++
			} else {
				differ++
			}
			continue
		}
		require.Equal(t, n, got[k], "alert %.200s", k)
	}
	for k, n := range got {
		id, _, _ := strings.Cut(k, " ")
		if !correlation[id] {
			require.Equal(t, want[k], n, "alert %.200s", k)
		}
	}
	t.Logf("correlation alerts: %d as without the outage, %d differ", kept, differ)
	require.Positive(t, kept)
}

// TestSharedStoreCallOverlapsNextRound: on one core a round's call to the
// store runs while the next round is read, prepared and planned. The store
// here answers a round's call only once the process has planned an event
// of the next round (the clock is read for it), or after 5 seconds: every
// call but the last is answered without the wait, and the output is the
// memory store's.
func TestSharedStoreCallOverlapsNextRound(t *testing.T) {
	srv := redistest.Start(t)
	files := correlationFile(t, 40000)
	want := runAt(t, 1, files, nil)
	require.Contains(t, want, `"id":"100401"`)

	var clock atomic.Int64
	store := &awaitNextRound{clock: &clock, Store: redisstore.Open(redisstore.Options{Address: srv.Addr, Timeout: 10 * time.Second,
		Batch: rules.SharedOptions{KeyPrefix: "overlap:"}})}
	t.Cleanup(func() { store.Close() })
	got := runAt(t, 1, files, func(o *Options) {
		o.Correlation = store
		o.Now = func() time.Time {
			clock.Add(1)
			return goldenNow
		}
	})
	sameLines(t, got, want, "with the calls overlapped")
	require.Zero(t, store.Status().LocalEvents)
	calls, waited := store.calls.Load(), store.waited.Load()
	require.GreaterOrEqual(t, calls, int64(4), "rounds of the object")
	require.LessOrEqual(t, waited, int64(1), "%d of %d calls ran without the next round being planned meanwhile", waited, calls)
}

// awaitNextRound is a store whose calls wait, up to 5 seconds, until the
// clock has been read after the call began.
type awaitNextRound struct {
	*redisstore.Store
	clock         *atomic.Int64
	calls, waited atomic.Int64
}

func (s *awaitNextRound) Run(ctx context.Context, b *rules.SharedBatch) error {
	s.calls.Add(1)
	at := s.clock.Load()
	for end := time.Now().Add(5 * time.Second); s.clock.Load() == at; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(end) {
			s.waited.Add(1)
			break
		}
	}
	return s.Store.Run(ctx, b)
}
