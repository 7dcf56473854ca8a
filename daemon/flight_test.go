package daemon

import (
	"sync"
	"testing"
	"time"
)

// TestProgressLineConsistent: a progress line reads the objects in flight
// at one moment, so the longest object's records never exceed the total
// however fast its reader counts (they were read twice, and a record
// counted in between made the line say more for one object than for all).
func TestProgressLineConsistent(t *testing.T) {
	var c counters
	f := c.flights.start("s3://b/long", nil, nil)
	other := c.flights.start("s3://b/other", nil, nil)
	other.started = f.started.Add(time.Second)
	other.watch.Records.Store(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				f.watch.Records.Add(1)
				f.watch.Bytes.Add(100)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	began := time.Now()
	for i := 0; i < 20000; i++ {
		line := map[string]any{}
		attrs := progressAttrs(&c, began)
		for j := 0; j+1 < len(attrs); j += 2 {
			line[attrs[j].(string)] = attrs[j+1]
		}
		if line["longest_object"] != "s3://b/long" {
			t.Fatalf("longest object: %v, want the first started", line["longest_object"])
		}
		recs, longest := line["records"].(int64), line["longest_object_records"].(int64)
		if longest+1 != recs {
			t.Fatalf("line %d: records %d, longest object's %d: the total is not the sum of the objects in flight", i, recs, longest)
		}
		if b, lb := line["bytes"].(int64), line["longest_object_bytes"].(int64); b != lb {
			t.Fatalf("line %d: bytes %d, longest object's %d", i, b, lb)
		}
	}
}
