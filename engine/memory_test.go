package engine

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/internal/heappeak"
)

// lineSource is an io.Reader producing a default-format flow log of a given
// size without holding it in memory.
type lineSource struct {
	remaining int64
	line      []byte
	off       int
	header    bool
}

func newLineSource(size int64) *lineSource {
	return &lineSource{remaining: size, line: []byte("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n")}
}

func (s *lineSource) Read(p []byte) (int, error) {
	if !s.header {
		s.header = true
		return copy(p, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"), nil
	}
	n := 0
	for n < len(p) && s.remaining > 0 {
		c := copy(p[n:], s.line[s.off:])
		n += c
		s.off = (s.off + c) % len(s.line)
		s.remaining -= int64(c)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// TestMemoryFlatInFileSize processes an 8 MiB and a 48 MiB flow log and
// checks that the larger one needs no more heap than the smaller one: nothing
// in the path holds a file, its lines or its alerts. On one core the stages
// run in turn on one batch, and the two peaks are within 1 MiB; on four, up
// to 11 batches are in flight and the peak moves with how full they happen
// to be, so the bound is 8 MiB (the 48 MiB input writes 400 MB of alerts).
func TestMemoryFlatInFileSize(t *testing.T) {
	if testing.Short() {
		t.Skip("processes 56 MiB of flow logs on one core and on four; -short skips it")
	}
	for _, c := range []struct {
		procs int
		slack int64
	}{{1, 1 << 20}, {4, 8 << 20}} {
		t.Run(fmt.Sprint("procs=", c.procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.procs))
			e, _ := newTestEngine(t, nil)
			run := func(size int64) (uint64, Stats) {
				var st Stats
				peak := heappeak.During(5*time.Millisecond, func() {
					var err error
					st, err = e.Process(context.Background(), event.Origin{Type: event.LogTypeVPCFlow, Key: "k"}, newLineSource(size), &countingSink{})
					require.NoError(t, err)
				})
				return peak, st
			}
			run(8 << 20) // warm pools and caches
			small, sst := run(8 << 20)
			large, lst := run(48 << 20)
			require.Greater(t, lst.Alerts, 5*sst.Alerts)
			t.Logf("peak heap: 8 MiB input %d KiB, 48 MiB input %d KiB", small>>10, large>>10)
			assert.Less(t, int64(large)-int64(small), c.slack, "peak heap grew with the input size")
		})
	}
}
