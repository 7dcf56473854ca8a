package daemon

import (
	"sync"

	"github.com/vpcalertd/vpcalertd/engine"
)

// The correlation rules keep one state for the whole daemon (frequency
// memories, aggregate windows, firedtimes). So that it survives a crash,
// the committer saves it with the marks, and the saved state must hold
// exactly the records of the objects those marks cover: no more (an object
// read again after the crash would count twice), no less. Objects
// therefore reach the rules one after the other, in one sequence for the
// whole daemon — the order the listing found them in (key order within a
// bucket, account and region) and the order queued objects arrived in —
// and the committer takes its snapshot at a point of that sequence,
// between two objects, then commits the objects before that point and
// holds back those after it until the next commit. The same order makes
// the correlation alerts those of replay, whatever the concurrency.
//
// The sequence is an engine.Order with one key: an object's turn goes to
// the engine (engine.Object.Turn), which waits for it only before the
// object's first record reaches the stateful rules and ends it when the
// object is processed; reading, gunzip, decoding and the stateless rules
// of the objects after it run meanwhile, on the other workers and cores.
// The engine takes the rules' state when the turn comes and puts it back
// before ending it if the daemon lets the read go without a mark
// (engine.Object.Undo): the object is read again later, and its records
// must count once.

// sequence hands out the places of the sequence.
type sequence struct {
	mu    sync.Mutex // guards the fields below
	next  uint64
	order *engine.Order
	// open are the places whose object is not settled yet: its result
	// has not reached the committer (or been dropped).
	open    map[uint64]struct{}
	changed chan struct{} // closed and replaced when a place is settled
}

func newSequence() *sequence {
	return &sequence{order: engine.NewOrder(), open: map[uint64]struct{}{}, changed: make(chan struct{})}
}

// take returns the next place: its number and its turn, which comes after
// the previous place's turn. The place stays open until settle.
func (s *sequence) take() (uint64, *engine.Turn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	s.next++
	t := s.order.Next("")
	s.open[n] = struct{}{}
	return n, t
}

// settle closes a place: its object's result reached the committer, or the
// object will not give one.
func (s *sequence) settle(n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[n]; !ok {
		return
	}
	delete(s.open, n)
	close(s.changed)
	s.changed = make(chan struct{})
}

// openBefore reports whether a place before n is still open, and a channel
// closed when that may have changed.
func (s *sequence) openBefore(n uint64) (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for m := range s.open {
		if m < n {
			return true, s.changed
		}
	}
	return false, s.changed
}
