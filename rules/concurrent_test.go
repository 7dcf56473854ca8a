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
	failing := mustEvent(t, fail) // events are built here: require stops the test only from its goroutine
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
			ev := withSyms(s, failing.Clone())
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

// The packs' passes share their aggregate windows between goroutines: a
// scan spread over four workers is seen once (run with -race).
func TestConcurrentEvalAllAggregates(t *testing.T) {
	s := shipped(t)
	const workers = 4
	ports := []string{"21", "22", "23", "25", "53", "80", "110", "135", "139", "143", "443", "445", "993", "1433", "3306", "3389"}
	var wg sync.WaitGroup
	fired := make([]int, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			e := s.NewEvaluator()
			for i := w; i < len(ports); i += workers {
				ev, err := testDecode(TestInput{Log: "2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.23 10.0.1.25 40000 " + ports[i] + " 6 1 44 1709633700 1709633701 REJECT OK"})
				if !assert.NoError(t, err) {
					return
				}
				for _, m := range e.EvalAll(withSyms(s, ev), t0, nil) {
					if m.Rule != nil && m.Rule.ID() == "100401" {
						fired[w]++
					}
				}
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, 1, fired[0]+fired[1]+fired[2]+fired[3], "15 distinct ports over four workers fire the scan rule once (cooldown)")
}
