package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
)

// What exactly-once costs (docs/indexer.md, "Every alert exactly once"):
// the write-ahead record before each object, and the correlation snapshot
// of each commit. The fsyncs make these depend on the disk of the temporary
// directory (TMPDIR): run them where the state file lives.

// BenchmarkWriteAhead: one write-ahead record (state.Reading) per op, by
// one reader and by four at once (bbolt's Batch shares one fsync between
// the readers of the moment).
func BenchmarkWriteAhead(b *testing.B) {
	for _, readers := range []int{1, 4} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			st, err := state.Open(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			rec := state.Reading{Started: time.Now(), IDs: []int64{1 << 24}, Tries: 1}
			var n atomic.Int64
			b.SetParallelism(readers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := state.ObjectID{Bucket: "bench", Key: fmt.Sprintf("AWSLogs/%08d.log.gz", n.Add(1)), ETag: "e"}
					if err := st.PutReading(id, rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkReadOver: the write-ahead records of objects read one after the
// other by each reader, without and with the note that a read is over
// (readOver: written in the background when the object was read, waited
// for by the committer before it writes the object's alerts). One op is
// one object: its write-ahead record, then, with over=true, its note,
// which shares a transaction and fsync with the next objects' write-ahead
// records (bbolt's Batch); a committer goroutine waits for each note in
// turn, as the daemon's does, and the readers hand over to it through an
// unbuffered channel.
func BenchmarkReadOver(b *testing.B) {
	for _, over := range []bool{false, true} {
		for _, readers := range []int{1, 4} {
			b.Run(fmt.Sprintf("over=%v/readers=%d", over, readers), func(b *testing.B) {
				st, err := state.Open(filepath.Join(b.TempDir(), "state.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				rec := state.Reading{Started: time.Now(), IDs: []int64{1 << 24}, Tries: 1}
				results := make(chan chan error)
				committed := make(chan struct{})
				go func() {
					defer close(committed)
					for done := range results {
						if err := <-done; err != nil {
							b.Error(err)
						}
					}
				}()
				var n atomic.Int64
				b.SetParallelism(readers)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := state.ObjectID{Bucket: "bench", Key: fmt.Sprintf("AWSLogs/%08d.log.gz", n.Add(1)), ETag: "e"}
						if err := st.PutReading(id, rec); err != nil {
							b.Error(err)
							return
						}
						done := make(chan error, 1)
						if over {
							go func() { done <- st.EndReading(id, rec.Tries) }()
						} else {
							done <- nil
						}
						results <- done
					}
				})
				close(results)
				<-committed
			})
		}
	}
}

// campaignEngine returns an engine that has read the campaign's objects
// (campaignObjects of them, a scan across each boundary): its correlation
// state is that of a commit after them.
func campaignEngine(b *testing.B) *engine.Engine {
	b.Helper()
	keys, bodies := scanObjectsN(campaignObjects)
	local := b.TempDir()
	for i, k := range keys {
		p := filepath.Join(local, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, bodies[i], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := config.Load(writeConfig(b, b.TempDir(), "state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: bench-bucket}]\n"))
	if err != nil {
		b.Fatal(err)
	}
	proc, err := NewEngine(cfg, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := proc.(*engine.Engine)
	files, err := collector.Local([]string{local}, collector.LocalOptions{Bucket: "bench-bucket"})
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(b.TempDir(), "alerts.json"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := e.Replay(context.Background(), files, output.NewStream(f), engine.ReplayOptions{}); err != nil {
		b.Fatal(err)
	}
	return e
}

// floodEngine returns an engine that has read one object in which each of
// sources addresses was rejected on 14 ports within a minute: a port-scan
// window (and the pack's other per-source windows) open for every source,
// the most state the rules keep per source.
func floodEngine(b *testing.B, sources int) *engine.Engine {
	b.Helper()
	var body bytes.Buffer
	body.WriteString(flowHeader + "\n")
	t0 := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC).Unix()
	for p := 0; p < 14; p++ {
		for s := 0; s < sources; s++ {
			t := t0 + int64(p*4)
			fmt.Fprintf(&body, "2 123456789012 eni-0a1b2c3d4e5f60718 10.%d.%d.%d 10.0.1.25 40000 %d 6 1 44 %d %d REJECT OK\n", s>>16, (s>>8)&255, s&255, 20+p, t, t+1)
		}
	}
	cfg, err := config.Load(writeConfig(b, b.TempDir(), "state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: bench-bucket}]\n"))
	if err != nil {
		b.Fatal(err)
	}
	proc, err := NewEngine(cfg, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	e := proc.(*engine.Engine)
	origin := event.Origin{Type: event.LogTypeVPCFlow, Path: "flood.log", AccountID: "123456789012", Region: "us-east-1", Bucket: "bench-bucket", Key: flowKey("123456789012", "us-east-1", "2024-03-05", "fl-1", 0)}
	if _, err := e.Process(context.Background(), origin, &body, output.NewStream(io.Discard)); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkCorrelationSnapshot: taking the rules' correlation state (each
// commit does, between two objects) and putting it back (each start does).
// Reports the snapshot's size.
func BenchmarkCorrelationSnapshot(b *testing.B) {
	cases := []struct {
		name string
		e    func() *engine.Engine
	}{
		{"campaign", func() *engine.Engine { return campaignEngine(b) }},
		{"flood-10k-sources", func() *engine.Engine { return floodEngine(b, 10000) }},
	}
	for _, c := range cases {
		e := c.e()
		snap := e.Snapshot()
		b.Run(c.name+"/snapshot", func(b *testing.B) {
			for b.Loop() {
				snap = e.Snapshot()
			}
			b.ReportMetric(float64(len(snap)), "bytes")
		})
		b.Run(c.name+"/restore", func(b *testing.B) {
			for b.Loop() {
				if _, err := e.Restore(snap); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommit: one commit of 64 marks (a commit batch) without the
// correlation snapshot, with the campaign's and with the 10,000-source
// flood's in its transaction.
func BenchmarkCommit(b *testing.B) {
	snaps := map[string][]byte{"none": nil, "campaign": campaignEngine(b).Snapshot(), "flood-10k-sources": floodEngine(b, 10000).Snapshot()}
	for _, name := range []string{"none", "campaign", "flood-10k-sources"} {
		snap := snaps[name]
		b.Run("snapshot="+name, func(b *testing.B) {
			st, err := state.Open(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			n := 0
			for b.Loop() {
				c := state.Commit{Meta: map[string][]byte{}}
				for range 64 {
					n++
					c.Marks = append(c.Marks, state.Mark{ObjectID: state.ObjectID{Bucket: "bench", Key: fmt.Sprintf("AWSLogs/%08d.log.gz", n), ETag: "e"}, Scope: "s", At: time.Now()})
				}
				if snap != nil {
					c.Meta[metaCorrelation] = snap
				}
				if err := st.Commit(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
