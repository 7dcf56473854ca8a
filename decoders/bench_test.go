package decoders

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/vpcalertd/vpcalertd/event"
)

// flowLogLines writes a realistic default-format flow-log body: the header
// line, then n records over a ten-minute window from several ENIs and
// addresses, about 70% ACCEPT, 28% REJECT and 2% NODATA. The output is the
// same for the same n.
func flowLogLines(w io.Writer, n int) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	enis := []string{"eni-0a1b2c3d4e5f60718", "eni-0123456789abcdef0", "eni-0fedcba9876543210", "eni-00aa11bb22cc33dd4",
		"eni-0b7c8d9e0f1a2b3c4", "eni-05f4e3d2c1b0a9f8e", "eni-0c0ffee0c0ffee000", "eni-0d15ea5e0d15ea5e0"}
	local := []string{"10.0.1.25", "10.0.1.26", "10.0.2.17", "10.0.3.200", "172.31.16.139", "172.31.9.69"}
	remote := []string{"203.0.113.45", "198.51.100.77", "192.0.2.10", "52.95.128.179", "203.0.113.12", "198.51.100.6",
		"2001:db8:1234:a100:8d6e:3477:df66:f105"}
	ports := []int{22, 80, 443, 3389, 53, 123, 8080, 5432}
	fmt.Fprintln(bw, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status")
	t0 := int64(1709633700)
	for i := 0; i < n; i++ {
		start := t0 + int64(i*600/n)
		end := start + 30 + int64(rng.IntN(31))
		eni := enis[rng.IntN(len(enis))]
		x := rng.IntN(100)
		if x < 2 {
			fmt.Fprintf(bw, "2 123456789012 %s - - - - - - - %d %d - NODATA\n", eni, start, end)
			continue
		}
		src, dst := local[rng.IntN(len(local))], remote[rng.IntN(len(remote))]
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

const benchLines = 200_000

var benchData = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	flowLogLines(zw, benchLines)
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

func benchSet(b *testing.B) *Set {
	set, err := Load(os.DirFS("../ruleset"), "decoders")
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkDecode decodes a gzip'd default-format flow-log file of
// benchLines lines into events.
func BenchmarkDecode(b *testing.B) {
	benchDecode(b, benchData())
}

// BenchmarkDecodePlain decodes the same lines from plain text: decoding
// alone, with no gzip and no rules, the measure published flow-log decoders
// quote.
func BenchmarkDecodePlain(b *testing.B) {
	var buf bytes.Buffer
	flowLogLines(&buf, benchLines)
	benchDecode(b, buf.Bytes())
}

func benchDecode(b *testing.B, data []byte) {
	set := benchSet(b)
	syms := event.NewSymbols()
	for _, k := range []string{"aws.srcaddr", "aws.dstaddr", "aws.action", "aws.dstport", "aws.source"} {
		syms.Intern(k)
	}
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "my-vpc-flowlogs", AccountID: "123456789012",
		Key: "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz"}
	var ev event.Event
	lines := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	cpu0 := cpuTime()
	for b.Loop() {
		st, err := set.Open(origin, bytes.NewReader(data), OpenOptions{Symbols: syms})
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := st.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			lines++
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(lines), "cpu-ns/line")
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

// BenchmarkFloor is the floor under BenchmarkDecode: the same gunzip and
// the same cut into lines, nothing else.
func BenchmarkFloor(b *testing.B) {
	data := benchData()
	lines := 0
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	zr := new(gzip.Reader)
	br := bufio.NewReaderSize(nil, defaultBufSize)
	for b.Loop() {
		if err := zr.Reset(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		br.Reset(zr)
		for {
			_, err := br.ReadSlice('\n')
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			lines++
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

var cloudTrailBenchData = sync.OnceValue(func() []byte {
	data, err := os.ReadFile("testdata/wazuh/cloudtrail-logfile-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	if err != nil {
		panic(err)
	}
	body := bytes.TrimSuffix(bytes.TrimSpace(bytes.TrimPrefix(data, []byte("{\"Records\":[\n"))), []byte("]}"))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[`))
	for i := 0; i < 500; i++ {
		if i > 0 {
			zw.Write([]byte(","))
		}
		zw.Write(bytes.TrimSpace(body))
	}
	zw.Write([]byte("]}"))
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

// BenchmarkDecodeCloudTrail decodes a gzip'd CloudTrail file of 2000
// records (the four sample records repeated).
func BenchmarkDecodeCloudTrail(b *testing.B) {
	set := benchSet(b)
	data := cloudTrailBenchData()
	origin := event.Origin{Type: event.LogTypeCloudTrail, Bucket: "b", Key: "k", AccountID: "123456789012"}
	var ev event.Event
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		st, err := set.Open(origin, bytes.NewReader(data), OpenOptions{})
		if err != nil {
			b.Fatal(err)
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
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
