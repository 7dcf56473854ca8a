package rules

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Eval is safe for concurrent use: counters and correlation memory are
// shared, everything else is per evaluation (run with -race).
func TestConcurrentEval(t *testing.T) {
	s := shipped(t)
	fail := `{"integration":"aws","aws":{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Failure"},"source":"cloudtrail"}}`
	const workers, n = 4, 300
	var wg sync.WaitGroup
	counts := make([]map[string]int, workers)
	for w := 0; w < workers; w++ {
		counts[w] = map[string]int{}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			flow, err := splitV2(benchFlow)
			if !assert.NoError(t, err) {
				return
			}
			withSyms(s, flow)
			ev := withSyms(s, mustEvent(t, fail))
			for i := 0; i < n; i++ {
				m := s.Eval(flow, t0, nil)
				counts[w][m.Rule.ID()]++
				m = s.Eval(ev, t0, nil)
				counts[w][m.Rule.ID()]++
			}
		}(w)
	}
	wg.Wait()
	total := map[string]int{}
	for _, c := range counts {
		for k, v := range c {
			total[k] += v
		}
	}
	require.Equal(t, workers*n, total["80401"])
	assert.Equal(t, workers*n, total["80254"]+total["80255"])
	assert.Positive(t, total["80255"])
	m := s.Eval(withSyms(s, mustEvent(t, fail)), t0, nil)
	assert.Equal(t, total[m.Rule.ID()]+1, m.Firedtimes, "firedtimes counted every match")
}
