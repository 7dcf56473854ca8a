package daemon

import (
	"context"
	"sync"
)

// Every object being read when the daemon dies counts that death
// (limits.crashes_per_object): with several objects in flight, those read
// alongside the one that killed the daemon would count the same deaths and
// be quarantined with it. So a suspect — an object a death already cut a
// read of — is read alone: it waits until the objects before it have been
// read, and the objects after it wait until it has been. A second death
// while it is read alone is then its own.
//
// "Before" is the order the jobs were handed to the workers in, which is
// their order in the daemon's sequence (sequence.go): a job waits only for
// jobs before it, whose turns come first, so the gate never waits on a
// turn that waits on it. Jobs come to the gate in that order too (a worker
// may reach it before another that took an earlier job), so a job read
// alongside a suspect cannot slip in ahead of it.
type isolation struct {
	mu   sync.Mutex
	next uint64
	// pending are the keys of the jobs handed to the workers that have not
	// come to the gate yet, running those past it, suspects the suspects
	// waiting or being read.
	pending, running, suspects map[uint64]int
	changed                    chan struct{} // closed and replaced when the sets change
}

func newIsolation() *isolation {
	return &isolation{pending: map[uint64]int{}, running: map[uint64]int{}, suspects: map[uint64]int{},
		changed: make(chan struct{})}
}

// place gives j its place in the daemon's sequence (seq may be nil) and
// its key at the gate, in the same order, as it is handed to the workers.
func (g *isolation) place(j *job, seq *sequence) {
	g.mu.Lock()
	defer g.mu.Unlock()
	j.placeIn(seq)
	g.next++
	j.gate = g.next
	g.pending[j.gate]++
}

// gone forgets a job that will not come to the gate (dropped before it
// was processed, or ended before it was read). It may be called again.
func (g *isolation) gone(j *job) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pending[j.gate] > 0 {
		g.drop(g.pending, j.gate)
	}
}

// enter waits until j may be read: after the jobs before it came to the
// gate, after the suspects before it were read, and, for a suspect, after
// every job before it was read. It returns the function that lets the jobs
// waiting for j go, or ctx's error.
func (g *isolation) enter(ctx context.Context, j *job, suspect bool) (func(), error) {
	key := j.gate
	g.mu.Lock()
	if g.pending[key] > 0 {
		g.drop(g.pending, key)
	}
	if suspect {
		g.suspects[key]++
	}
	for g.mustWait(key, suspect) {
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			g.mu.Lock()
			if suspect {
				g.drop(g.suspects, key)
			}
			g.mu.Unlock()
			return nil, ctx.Err()
		}
		g.mu.Lock()
	}
	g.running[key]++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.drop(g.running, key)
		if suspect {
			g.drop(g.suspects, key)
		}
		g.mu.Unlock()
	}, nil
}

// mustWait says whether the job of key waits. Called with g.mu held.
func (g *isolation) mustWait(key uint64, suspect bool) bool {
	for k := range g.pending {
		if k < key {
			return true
		}
	}
	for k := range g.suspects {
		if k < key {
			return true
		}
	}
	if suspect {
		for k := range g.running {
			if k < key {
				return true
			}
		}
	}
	return false
}

// drop removes one count of key from m and wakes the waiters. Called with
// g.mu held.
func (g *isolation) drop(m map[uint64]int, key uint64) {
	if m[key]--; m[key] <= 0 {
		delete(m, key)
	}
	close(g.changed)
	g.changed = make(chan struct{})
}
