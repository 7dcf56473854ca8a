package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/vpcalertd/vpcalertd/event"
)

// The benchmarks behind docs/sizing.md. Run them with -cpu 1,2 (one core,
// two cores); on a shared machine compare the cpu-ns/record of paired
// -count runs with benchstat rather than the wall clock.

// sizingLines is the size of the object docs/sizing.md's figures are for.
const sizingLines = 500_000

var (
	sizingOnce sync.Once
	sizingObj  []byte
)

// sizingObject returns flowFile's object of sizingLines lines, made once.
func sizingObject(b *testing.B) []byte {
	sizingOnce.Do(func() { sizingObj = flowFile(b, sizingLines) })
	return sizingObj
}

// gzipCost is what `gzip -dc` of an object costs: the best of three runs.
type gzipCost struct {
	wall, cpu time.Duration
}

// measureGzip runs the system's gzip -dc on data three times. ok is false
// (and the benchmark says why) when there is no gzip to run.
func measureGzip(b *testing.B, data []byte) (gc gzipCost, ok bool) {
	path, err := exec.LookPath("gzip")
	if err != nil {
		b.Logf("no ratio to gzip -dc: %v", err)
		return gc, false
	}
	for i := 0; i < 3; i++ {
		cmd := exec.Command(path, "-dc")
		cmd.Stdin = bytes.NewReader(data)
		cmd.Stdout = io.Discard
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("gzip -dc: %v", err)
		}
		wall := time.Since(start)
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if i == 0 || wall < gc.wall {
			gc.wall = wall
		}
		if i == 0 || cpu < gc.cpu {
			gc.cpu = cpu
		}
	}
	return gc, true
}

// BenchmarkSizing processes a 500,000-line gzip'd flow-log object with the
// default ruleset (the Wazuh rules and the packs; every ACCEPT and REJECT
// record alerts, as in Wazuh): one object, the same with every pack off,
// and four such objects at once. It reports records/s, the CPU time per
// record, and the time relative to `gzip -dc` of the same object measured
// in the same run (wall clock and CPU time).
//
// The four objects at once are the daemon with `concurrency: 4`: four
// Process calls on one engine, each with its turn in one Order, taken in
// the order the calls are started (the daemon's sequence, one key for the
// whole daemon: daemon/sequence.go). Their records reach the correlation
// rules one object after the other, while reading, gunzip, decoding and
// the stateless rules of the later objects run ahead. (Replay reads its
// files one after the other: that is the one-object case, repeated.)
func BenchmarkSizing(b *testing.B) {
	data := sizingObject(b)
	gz, haveGzip := measureGzip(b, data)
	run := func(b *testing.B, objects int, mod func(*Options)) {
		e, _ := newTestEngine(b, mod)
		origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012", Region: "us-east-1",
			Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz"}
		b.SetBytes(int64(objects * len(data)))
		records := int64(0)
		order := NewOrder()
		cpu0 := cpuTime()
		for b.Loop() {
			records += processAtOnce(b, e, order, origin, data, objects)
		}
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
		if haveGzip {
			perObject := float64(objects * b.N)
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(gz.wall), "x-gzip-wall")
			b.ReportMetric(float64(cpu)/perObject/float64(gz.cpu), "x-gzip-cpu")
		}
	}
	b.Run("default", func(b *testing.B) { run(b, 1, nil) })
	b.Run("packs-off", func(b *testing.B) { run(b, 1, func(o *Options) { o.DisabledPacks = []string{"all"} }) })
	b.Run("4-objects", func(b *testing.B) { run(b, 4, nil) })
}

// processAtOnce processes the given number of copies of data at once, each
// in its own Process call, with turns in order when there are several (the
// daemon's `concurrency`), and returns the records read.
func processAtOnce(b *testing.B, e *Engine, order *Order, origin event.Origin, data []byte, objects int) int64 {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		records int64
	)
	for range objects {
		ctx := context.Background()
		if objects > 1 {
			ctx = WithObject(ctx, Object{Turn: order.Next("")})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := e.Process(ctx, origin, bytes.NewReader(data), &countingSink{})
			if err != nil {
				b.Error(err)
			}
			mu.Lock()
			records += st.Records
			mu.Unlock()
		}()
	}
	wg.Wait()
	return records
}

// BenchmarkSizingCores measures, in one process, what a record costs in
// CPU time on one core and on two, with the cases in alternation so that
// a load that comes and goes on a shared machine weighs on all of them
// alike (separate runs minutes apart differ by ±30 % there): a
// 100,000-line object on one core (GOMAXPROCS=1), the same object on two
// cores, and four such objects at once with turns (the daemon's
// `concurrency: 4`, as BenchmarkSizing/4-objects) on two cores. Each
// round runs every case once, in a random order, object by object; the
// first round warms the engine and is left out. It reports each case's
// median CPU time per record (cpu-ns/record-…) and wall-clock rate
// (records/s-…; meaningful on an idle machine only), and the CPU time of
// two cores over one (x-cpu-2-cores, x-cpu-4-objects: 1.0 means the
// second core costs nothing per record). Run it with -benchtime 1x;
// -cpu is ignored (each case sets GOMAXPROCS).
func BenchmarkSizingCores(b *testing.B) {
	const lines, rounds = 100_000, 9
	data := flowFile(b, lines)
	e, _ := newTestEngine(b, nil)
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", Key: "k.log.gz"}
	type sizingCase struct {
		name           string
		procs, objects int
		cpu, wall      []float64 // per record, one per round
	}
	cases := []*sizingCase{{name: "1-core", procs: 1, objects: 1}, {name: "2-cores", procs: 2, objects: 1}, {name: "4-objects-2-cores", procs: 2, objects: 4}}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	order := NewOrder()
	rng := rand.New(rand.NewSource(1))
	for b.Loop() {
		for round := range rounds {
			for _, i := range rng.Perm(len(cases)) {
				c := cases[i]
				runtime.GOMAXPROCS(c.procs)
				cpu0, start := cpuTime(), time.Now()
				records := processAtOnce(b, e, order, origin, data, c.objects)
				wall, cpu := time.Since(start), cpuTime()-cpu0
				if round > 0 {
					c.cpu = append(c.cpu, float64(cpu.Nanoseconds())/float64(records))
					c.wall = append(c.wall, float64(wall.Nanoseconds())/float64(records))
				}
			}
		}
	}
	median := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, c := range cases {
		b.ReportMetric(median(c.cpu), "cpu-ns/record-"+c.name)
		b.ReportMetric(1e9/median(c.wall), "records/s-"+c.name)
		b.Logf("%s: cpu-ns/record %.0f (%.0f–%.0f), records/s %.0f", c.name, median(c.cpu), slices.Min(c.cpu), slices.Max(c.cpu), 1e9/median(c.wall))
	}
	b.ReportMetric(median(cases[1].cpu)/median(cases[0].cpu), "x-cpu-2-cores")
	b.ReportMetric(median(cases[2].cpu)/median(cases[0].cpu), "x-cpu-4-objects")
}

// rssChildEnv makes the test binary a child of BenchmarkSizingRSS: the
// number of lines it processes.
const rssChildEnv = "VPCALERTD_SIZING_RSS_LINES"

// TestSizingRSSChild is the child process of BenchmarkSizingRSS: it
// processes a gzip'd flow-log object of the given number of lines, made
// as it is read (the object is never in memory), and prints its peak
// resident set size.
func TestSizingRSSChild(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(rssChildEnv))
	if err != nil {
		t.Skipf("run by BenchmarkSizingRSS only (%s is not set)", rssChildEnv)
	}
	pr, pw := io.Pipe()
	go func() {
		zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
		err := writeFlows(zw, n)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err)
	}()
	e, _ := newTestEngine(t, nil)
	st, err := e.Process(context.Background(), event.Origin{Type: event.LogTypeVPCFlow, Key: "k.log.gz"}, pr, &countingSink{})
	if err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("sizing: records %d alerts %d maxrss-kib %d\n", st.Records, st.Alerts, ru.Maxrss)
}

// BenchmarkSizingRSS runs a child process that processes a 2,000,000-line
// object with GOMAXPROCS set by -cpu, and reports its peak resident set
// size (getrusage's ru_maxrss: the whole process, runtime and the ruleset
// included).
func BenchmarkSizingRSS(b *testing.B) {
	const lines = 2_000_000
	var maxKiB int64
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSizingRSSChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), rssChildEnv+"="+strconv.Itoa(lines), "GOMAXPROCS="+strconv.Itoa(runtime.GOMAXPROCS(0)))
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("child: %v\n%s", err, out)
		}
		var records, alerts, kib int64
		i := strings.Index(string(out), "sizing: ")
		if i < 0 {
			b.Fatalf("child printed no figures:\n%s", out)
		}
		if _, err := fmt.Sscanf(string(out[i:]), "sizing: records %d alerts %d maxrss-kib %d", &records, &alerts, &kib); err != nil {
			b.Fatalf("child's figures: %v\n%s", err, out)
		}
		if records < lines {
			b.Fatalf("child processed %d records, want %d (and the header)", records, lines)
		}
		maxKiB = max(maxKiB, kib)
	}
	b.ReportMetric(float64(maxKiB)/1024, "MiB-rss")
}
