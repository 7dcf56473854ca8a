package decoders

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// TestConcurrentStreams: one Set serves many streams at once (the pools of
// readers are shared).
func TestConcurrentStreams(t *testing.T) {
	set := loadRuleset(t)
	flow := gzipBytes(t, readFile(t, "testdata/wazuh/vpcflow-default-format.with-header.log"))
	ct := gzipBytes(t, readFile(t, "testdata/wazuh/cloudtrail-logfile-ConsoleLogin-6-failures.json"))
	want := map[string]int{"f": 3, "c": 6}
	// Each goroutine counts the events of every stream it reads; the test
	// goroutine checks the counts (require may only stop the test from it).
	const workers, rounds = 8, 20
	counts := make([][]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < rounds && errs[i] == nil; j++ {
				for _, in := range []struct {
					path string
					data []byte
				}{{"f", flow}, {"c", ct}} {
					n, err := countEvents(set, event.Origin{Path: in.path}, in.data)
					if err != nil {
						errs[i] = fmt.Errorf("%s: %w", in.path, err)
						break
					}
					counts[i] = append(counts[i], n)
				}
			}
		}()
	}
	wg.Wait()
	for i := range workers {
		require.NoError(t, errs[i], "worker %d", i)
		require.Len(t, counts[i], 2*rounds)
		for j, n := range counts[i] {
			assert.Equal(t, want[[]string{"f", "c"}[j%2]], n, "worker %d, stream %d", i, j)
		}
	}
}

// countEvents reads a whole stream and returns its number of events; a
// record or stream error is an error.
func countEvents(set *Set, origin event.Origin, data []byte) (int, error) {
	st, err := set.Open(origin, bytes.NewReader(data), OpenOptions{})
	if err != nil {
		return 0, err
	}
	var ev event.Event
	for n := 0; ; n++ {
		switch err := st.Next(&ev); {
		case err == io.EOF:
			return n, nil
		case err != nil:
			return n, err
		}
	}
}
