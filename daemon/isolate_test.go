package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIsolationOrder: jobs come to the gate in their order whatever order
// the workers reach it in; a suspect is read after the jobs before it and
// before the jobs after it; a job after it that waits for the suspect's
// turn in the sequence does not block it (no deadlock).
func TestIsolationOrder(t *testing.T) {
	for _, withSeq := range []bool{true, false} {
		var seq *sequence
		if withSeq {
			seq = newSequence()
		}
		g := newIsolation()
		jobs := make([]*job, 4)
		for i := range jobs {
			jobs[i] = &job{}
			g.place(jobs[i], seq)
		}
		suspect := 1
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var mu sync.Mutex
		var events []string
		log := func(s string) {
			mu.Lock()
			events = append(events, s)
			mu.Unlock()
		}
		var wg sync.WaitGroup
		// The workers reach the gate last job first.
		for i := len(jobs) - 1; i >= 0; i-- {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				j := jobs[i]
				leave, err := g.enter(ctx, j, i == suspect)
				if !assert.NoError(t, err) {
					return
				}
				log("in " + string(rune('A'+i)))
				if j.turn != nil { // the engine waits for the turn, then ends it
					assert.NoError(t, j.turn.Wait(ctx))
				}
				time.Sleep(20 * time.Millisecond)
				if j.turn != nil {
					j.turn.Done()
				}
				log("out " + string(rune('A'+i)))
				leave()
			}(i)
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		require.NoError(t, ctx.Err(), "no deadlock")
		pos := map[string]int{}
		for n, e := range events {
			pos[e] = n
		}
		assert.Less(t, pos["out A"], pos["in B"], "seq %v: the suspect after the jobs before it: %v", withSeq, events)
		assert.Less(t, pos["out B"], pos["in C"], "seq %v: the jobs after the suspect after it: %v", withSeq, events)
		assert.Less(t, pos["out B"], pos["in D"], "seq %v: %v", withSeq, events)
	}
}

// TestIsolationGiveUp: a job that never comes to the gate (gone) does not
// hold the jobs after it; a suspect whose wait is cancelled lets them go.
func TestIsolationGiveUp(t *testing.T) {
	g := newIsolation()
	a, b, c, d := &job{}, &job{}, &job{}, &job{}
	for _, j := range []*job{a, b, c, d} {
		g.place(j, nil)
	}
	g.gone(a)
	g.gone(a) // again: nothing more
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leaveB, err := g.enter(ctx, b, false)
	require.NoError(t, err, "a gone job before it does not hold it")

	// c, a suspect, waits for b; cancelled, it lets d go.
	cctx, ccancel := context.WithCancel(ctx)
	cErr := make(chan error, 1)
	go func() {
		_, err := g.enter(cctx, c, true)
		cErr <- err
	}()
	dIn := make(chan struct{})
	go func() {
		leave, err := g.enter(ctx, d, false)
		assert.NoError(t, err)
		close(dIn)
		leave()
	}()
	select {
	case <-dIn:
		t.Fatal("d went in before the suspect c")
	case <-time.After(100 * time.Millisecond):
	}
	ccancel()
	require.ErrorIs(t, <-cErr, context.Canceled)
	select {
	case <-dIn:
	case <-ctx.Done():
		t.Fatal("d still waits for a suspect that gave up")
	}
	leaveB()
}
