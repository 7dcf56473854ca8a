package daemon

import (
	"context"
	"fmt"
	"sync"

	"github.com/vpcalertd/vpcalertd/collector/state"
)

// claims are the objects being read in this process. A listing pass and an
// SQS queue (or two notifications of one object) must not read one object
// at the same time: both would write its alerts before either marked it
// done. The done-set is checked after the claim is taken, and a claim is
// released only after its object's mark is committed (or the object
// failed), so whoever claims next sees the mark.
type claims struct {
	mu   sync.Mutex // guards held
	held map[state.ObjectID]*claim
}

// claim is one object's claim; release ends it.
type claim struct {
	c    *claims
	id   state.ObjectID
	done chan struct{} // closed on release
	once sync.Once
}

func (c *claim) release() {
	c.once.Do(func() {
		c.c.mu.Lock()
		delete(c.c.held, c.id)
		c.c.mu.Unlock()
		close(c.done)
	})
}

// try claims id unless it is held; held is the current claim then.
func (c *claims) try(id state.ObjectID) (cl, held *claim) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.held[id]; h != nil {
		return nil, h
	}
	if c.held == nil {
		c.held = map[state.ObjectID]*claim{}
	}
	cl = &claim{c: c, id: id, done: make(chan struct{})}
	c.held[id] = cl
	return cl, nil
}

// wait claims id, waiting while another holds it, until ctx is done.
func (c *claims) wait(ctx context.Context, id state.ObjectID) (*claim, error) {
	for {
		cl, held := c.try(id)
		if cl != nil {
			return cl, nil
		}
		select {
		case <-held.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// claimListed claims an object a listing found not done. It returns nil
// when a queue of this process is reading the object now (busy), or when
// the object was marked done since its listing page was checked.
func (d *Daemon) claimListed(id state.ObjectID) (cl *claim, busy bool, err error) {
	cl, held := d.claims.try(id)
	if held != nil {
		return nil, true, nil
	}
	if !d.hasQueues {
		// Only listings read objects, one pass at a time: the page's
		// check stands.
		return cl, false, nil
	}
	done, err := d.opts.Store.Done([]state.ObjectID{id})
	if err != nil {
		cl.release()
		return nil, false, fmt.Errorf("state: %w", err)
	}
	if done[0] {
		cl.release()
		return nil, false, nil
	}
	return cl, false, nil
}
