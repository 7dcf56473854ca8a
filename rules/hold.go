package rules

// Holding the aggregates' locks across a run of events.
//
// An aggregate's state (aggState) is shared by every evaluator of a Set
// (the daemon finishes several objects at once), so addKey locks it. A
// lock and an unlock are two atomic read-modify-writes per event, and each
// waits for the core's pending stores: on the sizing object they took
// 20-30 ns of the ~1,200 a record costs with the packs, every record
// counting in an aggregate. A pipeline's sequence stage finishes a batch's
// events one after the other, so it brackets them with Hold and Release:
// an aggregate locked by one event of the batch stays locked, and the
// batch's other events take nothing.
//
// An evaluator that holds some locks and waits for another could deadlock
// with one doing the same the other way round, so it never waits while it
// holds: when TryLock fails it releases what it holds, then waits for the
// one it wants, which needs no order between the locks. Another evaluator
// waits at most for the end of a batch's Finish calls (a few hundred
// microseconds); Snapshot, restore and clears take the locks as before and
// wait the same. TestHoldReleases and TestHoldTwoEvaluators check it.

// holdMax bounds the aggregates one evaluator holds at once: past it, it
// releases those it holds before taking the next.
const holdMax = 8

// Hold starts a run of Finish calls during which the aggregates' locks
// they take stay taken. Release ends it and must follow, also when the run
// stops early (defer it). Between the two, the goroutine must not take the
// Set's correlation state in any other way (Snapshot, restoring, clearing):
// it would wait for itself.
func (e *Evaluator) Hold() { e.c.holding = true }

// Release unlocks the aggregates held since Hold and ends the hold.
func (e *Evaluator) Release() {
	e.c.releaseHeld()
	e.c.holding = false
}

// releaseHeld unlocks every aggregate the evaluator holds.
func (c *evalCtx) releaseHeld() {
	for i, st := range c.held {
		st.mu.Unlock()
		c.held[i] = nil
	}
	c.held = c.held[:0]
}

// lockAgg locks st for addKey: outside a hold, for this event; in one,
// until Release, unless the evaluator holds it already.
func (c *evalCtx) lockAgg(st *aggState) {
	if !c.holding {
		st.mu.Lock()
		return
	}
	for _, h := range c.held {
		if h == st {
			return
		}
	}
	c.holdAgg(st)
}

// holdAgg takes st's lock for the rest of the hold. It waits only when it
// holds nothing: a lock it cannot have at once (or one past holdMax) makes
// it release the others first.
func (c *evalCtx) holdAgg(st *aggState) {
	if len(c.held) == holdMax || !st.mu.TryLock() {
		c.releaseHeld()
		st.mu.Lock()
	}
	c.held = append(c.held, st)
}

// unlockAgg is addKey's unlock: nothing in a hold, which keeps st locked
// until Release.
func (c *evalCtx) unlockAgg(st *aggState) {
	if !c.holding {
		st.mu.Unlock()
	}
}
