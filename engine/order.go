package engine

import (
	"context"
	"sync"
)

// Order makes the correlation rules see several objects' records in one
// defined order, whatever the scheduling: objects handed out turns with
// the same key reach the rules' state one after the other, in the order
// the turns were handed out, while their reading, decoding and stateless
// matching run ahead in parallel. The daemon takes a turn per object, all
// on one key, in the order it hands objects out (key order within a
// bucket, account and region; arrival order for a queue), so that a burst
// spread over consecutive objects is correlated as replay, which reads
// them in order, correlates it, and so that its correlation snapshot,
// taken on a turn of its own (Wait, then Done), falls between two objects.
//
// Memory stays bounded: an object waiting for its turn stops reading once
// its batches in flight are full.
type Order struct {
	mu   sync.Mutex // guards last
	last map[string]*Turn
}

// NewOrder returns an empty Order.
func NewOrder() *Order { return &Order{last: map[string]*Turn{}} }

// Next returns the turn after the last one handed out for key. Every turn
// must end with Done (Process does it; a caller that drops an object before
// Process must call it).
func (o *Order) Next(key string) *Turn {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := &Turn{done: make(chan struct{})}
	if prev := o.last[key]; prev != nil {
		t.prev = prev.done
	}
	o.last[key] = t
	// Forget keys whose last turn is over, so that the map holds only the
	// keys with objects in flight.
	if len(o.last) > 64 {
		for k, lt := range o.last {
			select {
			case <-lt.done:
				delete(o.last, k)
			default:
			}
		}
	}
	return t
}

// Turn is one object's place in an Order.
type Turn struct {
	prev <-chan struct{} // closed when the previous turn is over; nil for the first
	done chan struct{}
	once sync.Once
}

// closed is a channel that is always closed: the Ready of a first turn.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Ready returns a channel closed once the previous turn is over (at once
// for the first turn of its key, and for a nil Turn), for a caller that
// waits for its turn in a select with other work.
func (t *Turn) Ready() <-chan struct{} {
	if t == nil || t.prev == nil {
		return closed
	}
	return t.prev
}

// Wait blocks until the previous turn is over, or until ctx is done, whose
// error it returns. A caller that runs something between two objects (the
// daemon's correlation snapshot) takes a turn with Next, Waits for it, does
// its work and ends the turn with Done. Process waits for its own turn.
func (t *Turn) Wait(ctx context.Context) error { return t.wait(ctx, nil) }

// wait is Wait that also gives up when stop is closed (errStopped).
func (t *Turn) wait(ctx context.Context, stop <-chan struct{}) error {
	select {
	case <-t.Ready():
		return nil
	default:
	}
	select {
	case <-t.Ready():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopped
	}
}

// Done ends the turn: the next one may go once this one's predecessors are
// over too (an object that ended before its turn came, empty or dropped,
// passes the turn on when it comes). Done may be called more than once.
func (t *Turn) Done() {
	if t == nil {
		return
	}
	t.once.Do(func() {
		if t.prev == nil {
			close(t.done)
			return
		}
		select {
		case <-t.prev:
			close(t.done)
		default:
			go func() {
				<-t.prev
				close(t.done)
			}()
		}
	})
}
