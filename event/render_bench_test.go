package event

import (
	"strings"
	"testing"
)

// datagramEvents returns the events of a datagram file, as a decoder would
// produce them.
func datagramEvents(tb testing.TB, path string) []*Event {
	tb.Helper()
	var out []*Event
	for _, line := range readLines(tb, path) {
		out = append(out, flatten(tb, []byte(strings.TrimPrefix(line, "1:Wazuh-AWS:"))))
	}
	return out
}

// BenchmarkDataWriter renders the data object of flow-log records of one
// layout (the writer's fast path) and of CloudTrail records (a new layout
// every record).
func BenchmarkDataWriter(b *testing.B) {
	for _, c := range []struct{ name, file string }{
		{"vpcflow", "testdata/vpcflow-default-format.datagrams.txt"},
		{"cloudtrail", "testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt"},
	} {
		b.Run(c.name, func(b *testing.B) {
			evs := datagramEvents(b, c.file)
			if c.name == "vpcflow" {
				evs = evs[1:] // the header line is no record
				for _, ev := range evs {
					ev.Layout = 1
				}
			}
			var w DataWriter
			buf := make([]byte, 0, 8192)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				buf = w.Append(buf[:0], evs[n%len(evs)])
				n++
			}
		})
	}
}

// BenchmarkAppendDataJSON renders a CloudTrail record's data without a
// writer.
func BenchmarkAppendDataJSON(b *testing.B) {
	evs := datagramEvents(b, "testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt")
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		buf = evs[n%len(evs)].AppendDataJSON(buf[:0])
		n++
	}
}

// TestDataWriterZeroAllocs: once a DataWriter has seen a layout, rendering
// costs no allocation, whether the layout is reused (flow logs) or every
// record has its own (CloudTrail), and also when the keys need the tree
// (names equal but for case).
func TestDataWriterZeroAllocs(t *testing.T) {
	flow := datagramEvents(t, "testdata/vpcflow-default-format.datagrams.txt")[1:]
	for _, ev := range flow {
		ev.Layout = 1
	}
	trail := datagramEvents(t, "testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt")
	cased := []*Event{fields("Net.a", "1", "x", "[1, 2]", "net.b", "2", "NET", "3"), fields("Net.a", "1", "net.b", "2", "zone", "[7] ")}
	for _, c := range []struct {
		name string
		evs  []*Event
	}{{"vpcflow", flow}, {"cloudtrail", trail}, {"case", cased}} {
		t.Run(c.name, func(t *testing.T) {
			var w DataWriter
			buf := make([]byte, 0, 8192)
			for _, ev := range c.evs { // warm up
				buf = w.Append(buf[:0], ev)
			}
			n := 0
			allocs := testing.AllocsPerRun(1000, func() {
				buf = w.Append(buf[:0], c.evs[n%len(c.evs)])
				n++
			})
			if allocs != 0 {
				t.Errorf("%v allocations per event", allocs)
			}
		})
	}
}

// TestDataWriterAdoptsNewLayout: a writer that learnt one object's layout
// and meets the same keys under another layout id (the next object, read
// by a new stream) keeps its learnt fragments, renders the same bytes as
// AppendDataJSON, and from then on knows the events by the new id, so it no
// longer compares their keys one by one.
func TestDataWriterAdoptsNewLayout(t *testing.T) {
	first := datagramEvents(t, "testdata/vpcflow-default-format.datagrams.txt")[1:]
	second := datagramEvents(t, "testdata/vpcflow-default-format.datagrams.txt")[1:]
	for _, ev := range first {
		ev.Layout = 1
	}
	for _, ev := range second {
		ev.Layout = 2
	}
	var w DataWriter
	for i, ev := range append(append([]*Event{}, first...), second...) {
		got := w.Append(nil, ev)
		if want := ev.AppendDataJSON(nil); string(got) != string(want) {
			t.Fatalf("event %d (layout %d):\n got: %s\nwant: %s", i, ev.Layout, got, want)
		}
		if w.layout != ev.Layout {
			t.Fatalf("event %d: the writer knows layout %d, the event has %d", i, w.layout, ev.Layout)
		}
	}
}
