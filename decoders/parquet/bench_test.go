package parquet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	pq "github.com/parquet-go/parquet-go"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
)

// benchRecords is the size of the benchmarks' object: the 500,000
// records (about 50 MB of text, 13 MB gzip'd).
const benchRecords = 500_000

// realisticText writes n default-format records as AWS delivers them from
// a busy VPC: a header line, a few interfaces, many addresses and ports,
// 70% ACCEPT, 28% REJECT, 2% NODATA, over ten minutes.
func realisticText(w io.Writer, n int) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	enis := []string{"eni-0a1b2c3d4e5f60718", "eni-0123456789abcdef0", "eni-0fedcba9876543210", "eni-00aa11bb22cc33dd4",
		"eni-0b7c8d9e0f1a2b3c4", "eni-05f4e3d2c1b0a9f8e", "eni-0c0ffee0c0ffee000", "eni-0d15ea5e0d15ea5e0"}
	fmt.Fprintln(bw, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")
	ports := []int{22, 80, 443, 3389, 53, 123, 8080, 5432}
	t0 := 1709633700
	for i := 0; i < n; i++ {
		start := t0 + i*600/n
		end := start + 30 + rng.IntN(31)
		eni := enis[rng.IntN(len(enis))]
		x := rng.IntN(100)
		if x < 2 {
			fmt.Fprintf(bw, "2 123456789012 %s - - - - - - - %d %d - NODATA\n", eni, start, end)
			continue
		}
		src := fmt.Sprintf("10.0.%d.%d", rng.IntN(4), 1+rng.IntN(250))
		dst := fmt.Sprintf("%d.%d.%d.%d", []int{203, 198, 192, 52}[rng.IntN(4)], rng.IntN(256), rng.IntN(256), 1+rng.IntN(250))
		sport, dport := ports[rng.IntN(len(ports))], 1024+rng.IntN(64000)
		if rng.IntN(2) == 0 {
			src, dst, sport, dport = dst, src, dport, sport
		}
		proto := []int{6, 6, 6, 17, 17, 1}[rng.IntN(6)]
		if proto == 1 {
			sport, dport = 0, 0
		}
		action := "ACCEPT"
		if x < 30 {
			action = "REJECT"
		}
		pk := 1 + rng.IntN(200)
		fmt.Fprintf(bw, "2 123456789012 %s %s %s %d %d %d %d %d %d %d %s OK\n",
			eni, src, dst, sport, dport, proto, pk, pk*(40+rng.IntN(1400)), start, end, action)
	}
}

// benchObjects are the benchmark's object as gzip'd text and as Parquet
// (written as AWS writes it: Gzip, dictionary pages, row groups of 128 MB,
// so one row group here). With VPCALERTD_BENCH_OBJECTS set to a folder they
// are kept there and read back by the next runs: writing them takes
// seconds, minutes under valgrind, where instructions are counted (empty
// the folder when realisticText or WriteText change).
var benchObjects = sync.OnceValues(func() (textGz, pq []byte) {
	dir := os.Getenv("VPCALERTD_BENCH_OBJECTS")
	name := filepath.Join(dir, fmt.Sprintf("bench-%d.log", benchRecords))
	if dir != "" {
		textGz, err1 := os.ReadFile(name + ".gz")
		pq, err2 := os.ReadFile(name + ".parquet")
		if err1 == nil && err2 == nil {
			return textGz, pq
		}
	}
	textGz, pq = writeBenchObjects()
	if dir != "" {
		err1 := os.WriteFile(name+".gz", textGz, 0o644)
		err2 := os.WriteFile(name+".parquet", pq, 0o644)
		if err := errors.Join(err1, err2); err != nil {
			panic(fmt.Sprintf("VPCALERTD_BENCH_OBJECTS: %v", err))
		}
	}
	return textGz, pq
})

func writeBenchObjects() (textGz, pq []byte) {
	var text bytes.Buffer
	realisticText(&text, benchRecords)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(text.Bytes())
	zw.Close()
	var p bytes.Buffer
	if err := WriteText(&p, bytes.NewReader(text.Bytes()), WriteOptions{}); err != nil {
		panic(err)
	}
	return gz.Bytes(), p.Bytes()
}

func benchFormats() []struct {
	name, key string
	data      []byte
} {
	gz, pq := benchObjects()
	const base = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e"
	return []struct {
		name, key string
		data      []byte
	}{{"format=text.gz", base + ".log.gz", gz}, {"format=parquet", base + ".log.parquet", pq}}
}

// BenchmarkDecodeObject decodes one object of benchRecords flow records into
// events, as gzip'd text and as Parquet: decoding alone, no rules, record
// by record (Next) and in batches (ReadBatch and Decode, as the engine
// reads, here on one goroutine).
func BenchmarkDecodeObject(b *testing.B) {
	set, err := decoders.Load(os.DirFS("../../ruleset"), "decoders")
	if err != nil {
		b.Fatal(err)
	}
	syms := event.NewSymbols()
	for _, k := range []string{"aws.srcaddr", "aws.dstaddr", "aws.action", "aws.dstport", "aws.source"} {
		syms.Intern(k)
	}
	for _, f := range benchFormats() {
		for _, batches := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/batches=%t", f.name, batches), func(b *testing.B) {
				origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012", Key: f.key}
				var ev event.Event
				var batch decoders.Batch
				records := 0
				b.ReportAllocs()
				b.SetBytes(int64(len(f.data)))
				cpu0 := settledCPUTime()
				for b.Loop() {
					st, err := set.Open(origin, bytes.NewReader(f.data), decoders.OpenOptions{Symbols: syms, OpenTable: Open})
					if err != nil {
						b.Fatal(err)
					}
					if batches {
						records += decodeBatches(b, st, &batch)
						continue
					}
					for {
						err := st.Next(&ev)
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						records++
					}
				}
				if records != b.N*benchRecords {
					b.Fatalf("%d records decoded, want %d", records, b.N*benchRecords)
				}
				reportRecords(b, records, cpuTime()-cpu0)
			})
		}
	}
}

// decodeBatches reads st to its end in batches and returns the number of
// records decoded.
func decodeBatches(b *testing.B, st *decoders.Stream, batch *decoders.Batch) int {
	n := 0
	for {
		err := st.ReadBatch(batch)
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
		st.Decode(batch)
		for i := 0; i < batch.Len(); i++ {
			if rec := batch.Record(i); rec.Err != nil {
				b.Fatal(rec.Err)
			}
		}
		n += batch.Len()
	}
}

// BenchmarkReplayObject is the replay path end to end on one object file of
// benchRecords records: open the file, decode, the whole ruleset, every
// alert rendered as an alerts.json line.
func BenchmarkReplayObject(b *testing.B) {
	for _, f := range benchFormats() {
		b.Run(f.name, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, filepath.FromSlash(f.key))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, f.data, 0o644); err != nil {
				b.Fatal(err)
			}
			files, err := collector.Local([]string{dir}, collector.LocalOptions{Bucket: "my-vpc-flowlogs"})
			if err != nil || len(files) != 1 {
				b.Fatal(files, err)
			}
			e, err := engine.New(engine.Options{ManagerName: "wazuh-manager", OpenTable: Open})
			if err != nil {
				b.Fatal(err)
			}
			sink := &countingSink{}
			records := 0
			b.ReportAllocs()
			b.SetBytes(int64(len(f.data)))
			cpu0 := settledCPUTime()
			for b.Loop() {
				st, err := e.Replay(context.Background(), files, sink, engine.ReplayOptions{})
				if err != nil || st.BadLines > 0 {
					b.Fatal(st, err)
				}
				records += int(st.Events)
			}
			reportRecords(b, records, cpuTime()-cpu0)
			b.ReportMetric(float64(sink.alerts)/float64(records), "alerts/record")
		})
	}
}

// countingSink counts alerts.
type countingSink struct{ alerts int }

func (s *countingSink) Write(*alert.Alert) error { s.alerts++; return nil }
func (s *countingSink) Sync() error              { return nil }
func (s *countingSink) Close() error             { return nil }

func reportRecords(b *testing.B, records int, cpu time.Duration) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(records), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
}

// settledCPUTime collects the garbage of the benchmark's setup (the
// objects written, half a GB allocated) and returns its memory to the
// system before returning cpuTime: else that collection, and the
// runtime's returning of that memory on another thread, run during the
// first sub-benchmark and count in its CPU time.
func settledCPUTime() time.Duration {
	runtime.GC()
	debug.FreeOSMemory()
	return cpuTime()
}

// cpuTime is the CPU time the process has used (user and system, every
// thread, GC included): on a shared machine it varies much less than the
// wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemoryObject reads the benchmark's records with the engine, as
// the daemon does (engine.Process from a file, the whole ruleset, alerts
// counted): as gzip'd text, and as Parquet files of 1, 10 and 50 row groups.
// Every 20,000 alerts it collects garbage and reads the heap still in use:
// it reports the most seen over what was in use before the object (the
// engine, its rules, the benchmark's data), against the size of the file's
// largest row group, stored and uncompressed. What an object holds should
// not grow with its number of row groups, and stay below one uncompressed
// row group.
func BenchmarkMemoryObject(b *testing.B) {
	const base = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e"
	type object struct {
		name, key, path         string
		groupBytes, groupStored int64
	}
	dir := b.TempDir()
	var objects []object
	{
		var text bytes.Buffer
		realisticText(&text, benchRecords)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(text.Bytes())
		zw.Close()
		path := filepath.Join(dir, "text.gz")
		if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		objects = append(objects, object{name: "format=text.gz", key: base + ".log.gz", path: path})
		for _, groups := range []int64{1, 10, 50} {
			var p bytes.Buffer
			if err := WriteText(&p, bytes.NewReader(text.Bytes()), WriteOptions{RowGroupRows: benchRecords / groups}); err != nil {
				b.Fatal(err)
			}
			o := object{name: fmt.Sprintf("format=parquet/groups=%d", groups), key: base + ".log.parquet",
				path: filepath.Join(dir, fmt.Sprintf("%d.parquet", groups))}
			f, err := pq.OpenFile(bytes.NewReader(p.Bytes()), int64(p.Len()))
			if err != nil {
				b.Fatal(err)
			}
			for _, rg := range f.Metadata().RowGroups {
				o.groupBytes = max(o.groupBytes, rg.TotalByteSize)
				var stored int64
				for _, col := range rg.Columns {
					stored += col.MetaData.TotalCompressedSize
				}
				o.groupStored = max(o.groupStored, stored)
			}
			if err := os.WriteFile(o.path, p.Bytes(), 0o644); err != nil {
				b.Fatal(err)
			}
			objects = append(objects, o)
		}
	}
	for _, o := range objects {
		b.Run(o.name, func(b *testing.B) {
			e, err := engine.New(engine.Options{ManagerName: "wazuh-manager", OpenTable: Open})
			if err != nil {
				b.Fatal(err)
			}
			origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012", Key: o.key}
			var held, before uint64
			for b.Loop() {
				f, err := os.Open(o.path)
				if err != nil {
					b.Fatal(err)
				}
				sink := &liveHeapSink{every: 20_000}
				before = liveHeap()
				st, err := e.Process(context.Background(), origin, f, sink)
				f.Close()
				if err != nil || st.BadLines > 0 || st.Events != benchRecords {
					b.Fatal(st, err)
				}
				held = max(held, sink.peak-min(sink.peak, before))
			}
			b.ReportMetric(float64(before)/(1<<20), "MB-before")
			b.ReportMetric(float64(held)/(1<<20), "MB-held")
			b.ReportMetric(float64(o.groupStored)/(1<<20), "MB-row-group-stored")
			b.ReportMetric(float64(o.groupBytes)/(1<<20), "MB-row-group")
		})
	}
}

// liveHeapSink counts alerts, and every so many reads the heap in use
// after a collection.
type liveHeapSink struct {
	countingSink
	every int
	peak  uint64
}

func (s *liveHeapSink) Write(a *alert.Alert) error {
	if s.alerts++; s.alerts%s.every == 0 {
		s.peak = max(s.peak, liveHeap())
	}
	return nil
}

// liveHeap collects garbage and returns the heap still in use.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
