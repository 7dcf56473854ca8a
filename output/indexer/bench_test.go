package indexer

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

// BenchmarkRender is the CPU cost of one document: parse the alert, check
// every field against the template, apply the pipeline's additions, id.
func BenchmarkRender(b *testing.B) {
	for _, tc := range []struct{ name, file string }{
		{"vpcflow", constructedFiles[0]},
		{"cloudtrail", constructedFiles[2]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			a := readAlerts(b, tc.file)[0]
			bl := testBuilder()
			var buf []byte
			b.ReportAllocs()
			b.SetBytes(int64(len(a.JSON)))
			for b.Loop() {
				rec, err := bl.render(buf[:0], a)
				if err != nil {
					b.Fatal(err)
				}
				buf = rec.line
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}

// BenchmarkDeliver is alerts per second from Write to acknowledged by a
// local indexer that accepts without checking (indexertest Discard), by
// queue kind and batch size. One iteration writes and drains 20000 alerts.
func BenchmarkDeliver(b *testing.B) {
	const chunk = 20000
	for _, disk := range []bool{false, true} {
		for _, count := range []int{100, 500, 1000, 2000, 5000} {
			name := fmt.Sprintf("queue=memory/batch=%d", count)
			if disk {
				name = fmt.Sprintf("queue=disk/batch=%d", count)
			}
			b.Run(name, func(b *testing.B) {
				srv, err := indexertest.NewServer(indexertest.Options{Discard: true})
				require.NoError(b, err)
				defer srv.Close()
				cfg := fastConfig(srv.URL)
				cfg.Batch = BatchConfig{MaxCount: count, MaxBytes: 50 << 20, Interval: 10 * time.Millisecond}
				if disk {
					cfg.Queue.Dir = b.TempDir()
				}
				s, err := New(cfg, nil)
				require.NoError(b, err)
				defer s.Close()
				base := manyAlerts(b, 1)[0]
				line := 0
				b.ReportAllocs()
				for b.Loop() {
					for range chunk {
						a := *base
						line++
						a.Origin.Line = line
						if err := s.Write(&a); err != nil {
							b.Fatal(err)
						}
					}
					if err := s.Sync(); err != nil {
						b.Fatal(err)
					}
					if err := s.Drain(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*chunk)/b.Elapsed().Seconds(), "alerts/s")
				if st := srv.Stats(); st.Created != line {
					b.Fatalf("created %d of %d", st.Created, line)
				}
			})
		}
	}
}

// BenchmarkQueueWhileDown writes alerts while the indexer is down and
// reports the Go heap in use afterwards: the disk queue keeps it flat, the
// memory queue holds every document.
func BenchmarkQueueWhileDown(b *testing.B) {
	for _, tc := range []struct {
		disk bool
		n    int
	}{{true, 20000}, {true, 100000}, {false, 20000}, {false, 100000}} {
		disk, n := tc.disk, tc.n
		name := fmt.Sprintf("queue=memory/alerts=%d", n)
		if disk {
			name = fmt.Sprintf("queue=disk/alerts=%d", n)
		}
		b.Run(name, func(b *testing.B) {
			srv, err := indexertest.NewServer(indexertest.Options{Discard: true})
			require.NoError(b, err)
			defer srv.Close()
			srv.Down()
			cfg := fastConfig(srv.URL)
			cfg.CloseTimeout = time.Millisecond
			cfg.Queue.MaxBytes = 512 << 20
			base := manyAlerts(b, 1)[0]
			var heap, queued float64
			line := 0
			for b.Loop() {
				if disk {
					cfg.Queue.Dir = b.TempDir()
				}
				s, err := New(cfg, nil)
				require.NoError(b, err)
				before := heapInUse()
				for range n {
					a := *base
					line++
					a.Origin.Line = line
					if err := s.Write(&a); err != nil {
						b.Fatal(err)
					}
				}
				if disk {
					require.NoError(b, s.Sync()) // in memory, Sync would wait for the indexer
				}
				heap = float64(heapInUse()-before) / (1 << 20)
				queued = float64(s.Stats().QueuedBytes) / (1 << 20)
				_ = s.Close()
			}
			b.ReportMetric(heap, "heap-MiB")
			b.ReportMetric(queued, "queued-MiB")
		})
	}
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
