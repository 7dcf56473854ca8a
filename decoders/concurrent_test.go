package decoders

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vpcalertd/vpcalertd/event"
)

// TestConcurrentStreams: one Set serves many streams at once (the pools of
// readers are shared).
func TestConcurrentStreams(t *testing.T) {
	set := loadRuleset(t)
	flow := gzipBytes(t, readFile(t, "testdata/wazuh/vpcflow-default-format.with-header.log"))
	ct := gzipBytes(t, readFile(t, "testdata/wazuh/cloudtrail-logfile-ConsoleLogin-6-failures.json"))
	want := map[string]int{"f": 3, "c": 6}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				got := decode(t, set, event.Origin{Path: "f"}, flow, OpenOptions{})
				assert.Len(t, got.events, want["f"])
				got = decode(t, set, event.Origin{Path: "c"}, ct, OpenOptions{})
				assert.Len(t, got.events, want["c"])
			}
		}()
	}
	wg.Wait()
}
