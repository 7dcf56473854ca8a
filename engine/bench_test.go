package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// flowFile returns a realistic default-format flow-log object of n lines,
// gzip'd as AWS delivers it: a header, mostly ACCEPT and some REJECT records
// across a few interfaces and many addresses and ports, and some NODATA.
func flowFile(tb testing.TB, n int) []byte {
	tb.Helper()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if err := writeFlows(zw, n); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return gz.Bytes()
}

// writeFlows writes flowFile's lines, uncompressed, to w.
func writeFlows(w io.Writer, n int) error {
	rng := rand.New(rand.NewSource(1))
	plain := bufio.NewWriterSize(w, 64<<10)
	plain.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	ports := []int{22, 80, 443, 3389, 5432, 8080, 53, 123}
	for i := 0; i < n; i++ {
		eni := fmt.Sprintf("eni-0a1b2c3d4e5f6%04d", rng.Intn(12))
		start := 1709633700 + i/50
		if rng.Intn(100) == 0 {
			fmt.Fprintf(plain, "2 123456789012 %s - - - - - - - %d %d - NODATA\n", eni, start, start+60)
			continue
		}
		action := "ACCEPT"
		if rng.Intn(5) == 0 {
			action = "REJECT"
		}
		proto := 6
		if rng.Intn(10) == 0 {
			proto = 17
		}
		pk := 1 + rng.Intn(200)
		fmt.Fprintf(plain, "2 123456789012 %s 10.0.%d.%d 203.0.%d.%d %d %d %d %d %d %d %d %s OK\n",
			eni, rng.Intn(8), 1+rng.Intn(250), rng.Intn(256), 1+rng.Intn(250),
			1024+rng.Intn(60000), ports[rng.Intn(len(ports))], proto, pk, pk*(40+rng.Intn(1400)), start, start+60, action)
	}
	return plain.Flush()
}

const benchLines = 100_000

// BenchmarkFloor is the physical floor of a replay: gunzip and split into
// lines, nothing else. Compare its ns/line with BenchmarkReplay's.
func BenchmarkFloor(b *testing.B) {
	data := flowFile(b, benchLines)
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(nil, 64<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	lines := 0
	cpu0 := cpuTime()
	for b.Loop() {
		if err := zr.Reset(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		br.Reset(zr)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				lines++
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	reportLines(b, lines)
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(lines), "cpu-ns/line")
}

// countingSink counts alerts and bytes the way a file sink would write them.
type countingSink struct {
	alerts, bytes int
	w             io.Writer
}

func (s *countingSink) Write(a *alert.Alert) error {
	s.alerts++
	s.bytes += len(a.JSON) + 1
	if s.w != nil {
		s.w.Write(a.JSON)
	}
	return nil
}
func (s *countingSink) Sync() error  { return nil }
func (s *countingSink) Close() error { return nil }

// BenchmarkReplay is the whole replay path with the stock ruleset: gunzip,
// decode, rules, and every ACCEPT/REJECT record rendered as alerts.json
// bytes.
func BenchmarkReplay(b *testing.B) {
	benchReplay(b, nil)
}

// benchReplay replays the benchmark file through an engine built with mod.
func benchReplay(b *testing.B, mod func(*Options)) {
	data := flowFile(b, benchLines)
	e, _ := newTestEngine(b, mod)
	sink := &countingSink{}
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012", Region: "us-east-1",
		Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz"}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	lines := 0
	cpu0 := cpuTime()
	for b.Loop() {
		st, err := e.Process(context.Background(), origin, bytes.NewReader(data), sink)
		if err != nil {
			b.Fatal(err)
		}
		lines += int(st.Records)
	}
	reportLines(b, lines)
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(lines), "cpu-ns/line")
	b.ReportMetric(float64(sink.bytes)/float64(sink.alerts), "bytes/alert")
}

func reportLines(b *testing.B, lines int) {
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(lines), "ns/line")
}

// cpuTime is the CPU time the process has used (user and system, every
// thread, GC included): on a shared machine it varies much less than the
// wall clock, and per line it is what one core spends.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
