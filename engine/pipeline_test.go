package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
)

// correlationFlows returns a flow-log object of about n records that makes
// every kind of alert the shipped rules have, many times, with the
// correlating records spread over the whole object so that they fall into
// many batches: port scans (100401), bursts of rejected flows (100411),
// large transfers (100441), SSH and RDP from the internet (100421,
// 100422), threat-listed addresses (100431, 100432), the stock 80401 and
// 80402 with their firedtimes, NODATA records, bad lines, a line too long
// for the decoder and a second header line that changes the columns.
func correlationFlows(tb testing.TB, n int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewSource(16))
	var b bytes.Buffer
	b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	t := int64(1709633700)
	line := func(eni, src, dst string, sport, dport, proto, pkts, bytes int, action string) {
		fmt.Fprintf(&b, "2 123456789012 %s %s %s %d %d %d %d %d %d %d %s OK\n", eni, src, dst, sport, dport, proto, pkts, bytes, t, t+1, action)
	}
	for i := 0; i < n; i++ {
		if i%500 == 0 {
			t += 30
		}
		switch r := rng.Intn(1000); {
		case r < 5:
			// A scan: 16 ports from one source, one record each, over the
			// next records.
			src := fmt.Sprintf("198.51.100.%d", rng.Intn(250))
			for p := 0; p < 16; p++ {
				line("eni-0a1b2c3d4e5f60718", src, "10.0.1.25", 40000+p, 20+p*7, 6, 1, 44, "REJECT")
			}
		case r < 8:
			// A burst of rejects on one interface.
			for k := 0; k < 110; k++ {
				line("eni-0b0b0b0b0b0b0b0b0", fmt.Sprintf("203.0.113.%d", rng.Intn(250)), "10.0.2.9", 1024+k, 8080, 6, 1, 44, "REJECT")
			}
		case r < 10:
			line("eni-0f9e8d7c6b5a40312", "10.0.2.40", "203.0.113.200", 50000, 443, 6, 300000, 400000000, "ACCEPT")
		case r < 14:
			line("eni-0a1b2c3d4e5f60718", "198.51.100.77", "10.0.1.25", 48211, []int{22, 3389}[rng.Intn(2)], 6, 10, 840, "ACCEPT")
		case r < 16:
			line("eni-0a1b2c3d4e5f60718", "192.0.2.66", "10.0.1.25", 4444, 443, 6, 10, 840, []string{"ACCEPT", "REJECT"}[rng.Intn(2)])
		case r < 18:
			fmt.Fprintf(&b, "2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - %d %d - NODATA\n", t, t+60)
		case r < 19:
			b.WriteString("2 123456789012 eni-bad 10.0.0.1 not-an-address 1 2 6 1 40 1 2 ACCEPT OK\n")
		case r < 20:
			b.WriteString("2 123456789012 eni-bad 10.0.0.1\n")
		default:
			line(fmt.Sprintf("eni-0c%018d", rng.Intn(8)), fmt.Sprintf("10.0.%d.%d", rng.Intn(8), 1+rng.Intn(250)),
				fmt.Sprintf("203.0.%d.%d", rng.Intn(256), 1+rng.Intn(250)), 1024+rng.Intn(60000), 443, 6, 1+rng.Intn(50), 40+rng.Intn(100000),
				[]string{"ACCEPT", "ACCEPT", "ACCEPT", "REJECT"}[rng.Intn(4)])
		}
		if i == n/2 {
			b.WriteString(strings.Repeat("x", 70<<10) + "\n")
			b.WriteString("version interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status account-id\n")
			b.WriteString("2 eni-0a1b2c3d4e5f60718 198.51.100.78 10.0.1.26 48212 22 6 10 840 1709633700 1709633760 ACCEPT OK 123456789012\n")
			b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(b.Bytes())
	require.NoError(tb, err)
	require.NoError(tb, zw.Close())
	return gz.Bytes()
}

// consoleFailures returns a CloudTrail file of n failed console logins by
// a few users, which makes the stock frequency rule 80255 fire with its
// previous_output.
func consoleFailures(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"Records":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"user%d"},"eventTime":"2024-03-05T10:%02d:%02dZ","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.%d","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},"eventID":"e%d","eventType":"AwsConsoleSignIn","recipientAccountId":"123456789012"}`,
			i%3, i/60%60, i%60, i%7, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// runAt replays files with GOMAXPROCS set to procs and returns everything
// the caller can see: the alerts, the error reports, the observer's calls
// correlationFile writes correlationFlows(t, n) as one gzip'd object in a
// new directory and returns it as the files to replay.
func correlationFile(t *testing.T, n int) []collector.File {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flows.log.gz"), correlationFlows(t, n), 0o644))
	files, err := collector.Local([]string{dir}, collector.LocalOptions{})
	require.NoError(t, err)
	return files
}

// and the stats.
func runAt(t *testing.T, procs int, files []collector.File, mod func(*Options)) string {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	rec := &recorder{}
	e, errs := newTestEngine(t, func(o *Options) {
		o.Observer = rec
		o.IDOffset = 1234
		if mod != nil {
			mod(o)
		}
	})
	var out bytes.Buffer
	total, err := e.Replay(context.Background(), files, output.NewStream(&out), ReplayOptions{})
	require.NoError(t, err)
	return fmt.Sprintf("alerts:\n%s\nerrors:\n%s\nobserver:\n%s\nstats: %+v\nrule errors: %v\n",
		out.String(), errs.String(), strings.Join(rec.calls, "\n"), total, e.RuleErrors())
}

// TestPipelineOutputIndependentOfCores: the repository's samples and
// generated objects full of correlation alerts give the same bytes —
// alerts with their ids, error reports, observer calls, counts — on one
// core and on several.
func TestPipelineOutputIndependentOfCores(t *testing.T) {
	if testing.Short() {
		t.Skip("processes 20,000 correlation flows and every sample on one core and on several; -short skips it")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flows.log.gz"), correlationFlows(t, 20000), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "logins.json"), consoleFailures(400), 0o644))
	var paths []string
	for _, g := range []string{"../testdata/alerts/*.log", "../testdata/alerts/*.json", "../testdata/alerts/*.gz"} {
		m, err := filepath.Glob(g)
		require.NoError(t, err)
		for _, p := range m {
			if !strings.Contains(p, ".golden.") {
				paths = append(paths, p)
			}
		}
	}
	paths = append(paths, "../testdata/buckets", dir)
	files, err := collector.Local(paths, collector.LocalOptions{})
	require.NoError(t, err)
	withErrors := func(o *Options) { o.UserRulesets = []fs.FS{errorRules} }

	want := runAt(t, 1, files, withErrors)
	for _, id := range []string{`"id":"100401"`, `"id":"100411"`, `"id":"100441"`, `"id":"100421"`, `"id":"100432"`, `"id":"80255"`, `"previous_output"`} {
		require.Contains(t, want, id, "the input makes this alert")
	}
	require.Contains(t, want, "line longer than")
	require.Contains(t, want, "condition failed at run time")
	for _, procs := range []int{2, 3, 8} {
		got := runAt(t, procs, files, withErrors)
		if got != want {
			g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("GOMAXPROCS=%d: line %d differs:\n got  %.300s\n want %.300s", procs, i, g[i], w[i])
				}
			}
			t.Fatalf("GOMAXPROCS=%d: %d lines, want %d", procs, len(g), len(w))
		}
	}
}

// A sink error or a cancelled context ends Process early on several cores
// as on one: the alerts before the failure are written, nothing after, and
// no goroutine is left behind.
func TestPipelineStopsEarly(t *testing.T) {
	data := correlationFlows(t, 5000)
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: "k", Path: "k"}
	for _, procs := range []int{1, 4} {
		t.Run(fmt.Sprint("procs=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			before := runtime.NumGoroutine()
			e, _ := newTestEngine(t, nil)
			_, err := e.Process(context.Background(), origin, bytes.NewReader(data), refusing{line: 3000})
			var se *SinkError
			require.ErrorAs(t, err, &se)

			// Stopped while the read stage is still reading (an object
			// far larger than the batches in flight), many times: the
			// stages that stop first must not close what another still
			// sends on.
			for range 20 {
				_, err := e.Process(context.Background(), origin, newLineSource(16<<20), refusing{line: 50})
				require.ErrorAs(t, err, &se)
			}

			ctx, cancel := context.WithCancel(context.Background())
			sink := &cancelAfter{n: 1000, cancel: cancel}
			_, err = e.Process(ctx, origin, bytes.NewReader(data), sink)
			require.ErrorIs(t, err, context.Canceled)
			assert.GreaterOrEqual(t, sink.seen, 1000)

			for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					buf := make([]byte, 1<<20)
					t.Fatalf("goroutines left behind (%d before):\n%s", before, buf[:runtime.Stack(buf, true)])
				}
			}
		})
	}
}

// cancelAfter cancels its context after n alerts.
type cancelAfter struct {
	alert.Discard
	n, seen int
	cancel  func()
}

func (s *cancelAfter) Write(*alert.Alert) error {
	if s.seen++; s.seen == s.n {
		s.cancel()
	}
	return nil
}

// TestConcurrentCallsBoundTheirWorkers: Process calls that run at once keep
// to about GOMAXPROCS goroutines that work — six objects at once on four
// cores, the later five waiting for their turns, run the first one's four
// workers and two for each of the others (lookahead), not four each — and
// an object waiting for its turn reads only lookahead batches ahead, so
// that the objects queued behind the one the rules are busy with hold
// little memory.
func TestConcurrentCallsBoundTheirWorkers(t *testing.T) {
	const procs, calls = 4, 6
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	e, _ := newTestEngine(t, nil)
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: "k.log", Path: "k.log"}
	before := runtime.NumGoroutine()
	order := NewOrder()
	release := make(chan struct{})
	srcs := make([]*countingReader, calls)
	errs := make(chan error, calls)
	for i := range calls {
		srcs[i] = &countingReader{r: newLineSource(4 << 20)}
		ctx := WithObject(context.Background(), Object{Turn: order.Next("")})
		var sink alert.Sink = alert.Discard{}
		if i == 0 {
			// The first object stops at its first alert: every call is
			// then in flight, the later ones waiting for their turns.
			sink = &blockingSink{release: release}
		}
		go func() {
			_, err := e.Process(ctx, origin, srcs[i], sink)
			errs <- err
		}()
	}
	// Wait until every call has started its stages and they all wait: the
	// number of goroutines stops changing.
	n, stable := 0, 0
	for deadline := time.Now().Add(20 * time.Second); stable < 25; time.Sleep(20 * time.Millisecond) {
		require.False(t, time.Now().After(deadline), "the calls did not settle: %d goroutines", n)
		m := runtime.NumGoroutine()
		if m != n || srcs[calls-1].n.Load() == 0 {
			n, stable = m, 0
			continue
		}
		stable++
	}
	var read []int64
	for _, s := range srcs {
		read = append(read, s.n.Load())
	}
	close(release)
	for range calls {
		require.NoError(t, <-errs)
	}
	t.Logf("%d goroutines for %d calls on %d cores; bytes read by each call: %v", n-before, calls, procs, read)

	// Per waiting call: its caller's goroutine and lookahead workers; the
	// call with the turn: its caller's and procs workers (and 2 to spare:
	// the runtime may run one of its own meanwhile).
	assert.LessOrEqual(t, n-before, calls*3+procs+2, "goroutines of %d calls at once on %d cores", calls, procs)
	// A waiting call has read lookahead batches (≤ 512 lines of 112
	// bytes each) and what its buffers hold (64 KiB and a line).
	for i := 1; i < calls; i++ {
		assert.LessOrEqual(t, read[i], int64(lookahead*512*112+(64<<10)+4096), "bytes read by call %d before its turn", i)
	}
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// blockingSink blocks its first Write until release is closed.
type blockingSink struct {
	alert.Discard
	release chan struct{}
}

func (s *blockingSink) Write(*alert.Alert) error {
	<-s.release
	return nil
}
