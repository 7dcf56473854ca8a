package decoders

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// TestFlowZeroAllocsPerLine: once a stream runs, a flow-log line costs no
// allocation.
func TestFlowZeroAllocsPerLine(t *testing.T) {
	set := loadRuleset(t)
	var body bytes.Buffer
	flowLogLines(&body, 5000)
	for _, variant := range []struct {
		name string
		data []byte
	}{{"plain", body.Bytes()}, {"gzip", gzipBytes(t, body.Bytes())}} {
		t.Run(variant.name, func(t *testing.T) {
			syms := event.NewSymbols()
			syms.Intern("aws.srcaddr")
			st, err := set.Open(flowOrigin("m"), bytes.NewReader(variant.data), OpenOptions{Symbols: syms})
			require.NoError(t, err)
			var ev event.Event
			require.NoError(t, st.Next(&ev)) // first line: the plan is built
			allocs := testing.AllocsPerRun(4000, func() {
				if err := st.Next(&ev); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

// lineGenerator produces n default-format flow-log lines without holding
// them: an io.Reader over a file of any size.
type lineGenerator struct {
	n, i int
	buf  []byte
}

func (g *lineGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i == g.n {
			return 0, io.EOF
		}
		g.buf = fmt.Appendf(g.buf[:0], "2 123456789012 eni-0a1b2c3d4e5f6%05d 10.0.%d.%d 203.0.113.45 443 %d 6 12 4392 1709633700 1709633760 ACCEPT OK\n",
			g.i%100000, g.i%250, g.i%200, 1024+g.i%60000)
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// peakHeap decodes the generated stream and returns the largest heap in
// use seen every 64k lines.
func peakHeap(t *testing.T, set *Set, lines int) (peak uint64, n int) {
	st, err := set.Open(flowOrigin("big"), &lineGenerator{n: lines}, OpenOptions{})
	require.NoError(t, err)
	var ev event.Event
	var ms runtime.MemStats
	for {
		err := st.Next(&ev)
		if err == io.EOF {
			return peak, n
		}
		require.NoError(t, err)
		if n++; n%(1<<16) == 1 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
}

// TestFlowMemoryFlat: decoding ~300 MB takes no more heap than 1 MB does.
func TestFlowMemoryFlat(t *testing.T) {
	set := loadRuleset(t)
	small, n1 := peakHeap(t, set, 10_000)    // ~1 MB
	large, n2 := peakHeap(t, set, 3_000_000) // ~300 MB
	require.Equal(t, 10_000, n1)
	require.Equal(t, 3_000_000, n2)
	t.Logf("heap in use: %d KiB for %d lines, %d KiB for %d lines", small>>10, n1, large>>10, n2)
	assert.Less(t, large, small+4<<20, "heap grows with the file")
}

// TestCloudTrailMemoryFlat: a CloudTrail file is streamed record by record.
func TestCloudTrailMemoryFlat(t *testing.T) {
	set := loadRuleset(t)
	record := readFile(t, "testdata/wazuh/cloudtrail-logfile-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	record = bytes.TrimSuffix(bytes.TrimSpace(bytes.TrimPrefix(record, []byte("{\"Records\":[\n"))), []byte("]}"))
	record = bytes.TrimSpace(bytes.SplitN(record, []byte("\n"), 2)[0]) // one record and its comma
	peak := func(records int) uint64 {
		r := io.MultiReader(bytes.NewReader([]byte(`{"Records":[`)), &repeatReader{b: record, n: records - 1},
			bytes.NewReader(bytes.TrimSuffix(record, []byte(","))), bytes.NewReader([]byte(`]}`)))
		st, err := set.Open(ctOrigin("big.json"), r, OpenOptions{})
		require.NoError(t, err)
		var ev event.Event
		var ms runtime.MemStats
		var peak uint64
		for n := 0; ; n++ {
			err := st.Next(&ev)
			if err == io.EOF {
				require.Equal(t, records, n)
				return peak
			}
			require.NoError(t, err)
			if n%(1<<13) == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}
	small := peak(1_000)  // ~1 MB
	large := peak(60_000) // ~85 MB
	t.Logf("heap in use: %d KiB small, %d KiB large", small>>10, large>>10)
	assert.Less(t, large, small+4<<20, "heap grows with the file")
}

// repeatReader reads b n times.
type repeatReader struct {
	b   []byte
	n   int
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	c := copy(p, r.b[r.off:])
	if r.off += c; r.off == len(r.b) {
		r.off = 0
		r.n--
	}
	return c, nil
}
