package engine

import (
	"context"
	"time"

	"github.com/vpcalertd/vpcalertd/rules"
)

// Object fixes what makes the alerts of one Process call depend on when
// and after what it runs, so that reading the same object again (after a
// crash, before its alerts were marked durable) gives byte-identical
// alerts: the same id, timestamp and so the same index day in the indexer.
// Put it in Process's context with WithObject.
type Object struct {
	// Now, when not zero, is the processing time of every record of the
	// call: the alerts' timestamp, the epoch half of their ids, and the
	// clock of processing-time correlation windows. The daemon uses the
	// time the object's first read began.
	Now time.Time
	// IDs, when set, hands out the offset half of the call's alert ids
	// instead of the engine's own counter.
	IDs IDAllocator
	// Turn, when set, orders the call's records after those of the objects
	// with earlier turns of the same Order, for the rules that keep state
	// (Order). Process waits for it before the object's first record
	// reaches them, and ends it when it returns.
	Turn *Turn
	// Undo, when set with Turn, makes a call that ends with an error leave
	// no trace in the rules' correlation state: Process takes that state
	// (Snapshot) when the object's turn comes, before its first record
	// reaches the rules that keep it, and when the call ends with an error
	// for which Undo returns true it puts the state back (Restore) before
	// it ends the turn, so that the object's records count once when it
	// is read again. The turn then ends when Process returns rather than
	// after the object's last record reached those rules.
	Undo func(err error) bool
	// Key, when set, names the object for a shared correlation store
	// (Options.Correlation): each batch of its records that the store
	// applied is applied once, so that reading the object again after a
	// crash does not count its events twice. The daemon uses bucket, key
	// and ETag.
	Key string
}

// IDAllocator hands out the offset half of alert ids ("<epoch>.<offset>")
// for the lines of one Process call, in the order they are written.
// *output.ObjectIDs is one.
type IDAllocator interface {
	// Take returns the offset of the next alerts.json line, whose length
	// with its newline is fixed plus the digits of the offset.
	Take(fixed int64) int64
}

type objectKey struct{}

// WithObject returns ctx carrying o for Process.
func WithObject(ctx context.Context, o Object) context.Context {
	return context.WithValue(ctx, objectKey{}, o)
}

func objectOf(ctx context.Context) Object {
	o, _ := ctx.Value(objectKey{}).(Object)
	return o
}

// Snapshot returns the rules' correlation state (rules.Set.Snapshot): the
// daemon commits it with the marks of the objects whose records it has
// seen, with no object half-way through the rules.
func (e *Engine) Snapshot() []byte { return e.rules.Snapshot() }

// Restore puts back a snapshot's correlation state (rules.Set.Restore),
// before any object is processed.
func (e *Engine) Restore(data []byte) (rules.RestoreReport, error) { return e.rules.Restore(data) }
