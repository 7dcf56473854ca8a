package indexer

import (
	"sync"
	"time"
)

// qpos is a position in a queue: a segment and a byte offset in it (disk),
// or a record count (memory, seg 0).
type qpos struct {
	seg uint64
	off int64
}

// batch is a run of queued records read together and sent as one `_bulk`
// body.
type batch struct {
	seq   uint64
	body  []byte // the records, back to back: a ready `_bulk` body
	offs  []int  // start of each record in body
	end   qpos   // queue position after the last record
	qsize int64  // queue bytes the batch releases when acknowledged
}

func (b *batch) count() int { return len(b.offs) }

// record returns record i (action line and document, newline-terminated).
func (b *batch) record(i int) []byte {
	end := len(b.body)
	if i+1 < len(b.offs) {
		end = b.offs[i+1]
	}
	return b.body[b.offs[i]:end]
}

// queue holds encoded records between Write and the indexer. put and sync
// may be called concurrently; next and ack are called by the dispatcher
// alone, ack in queue order.
type queue interface {
	// put appends one record, waiting while the queue is full until there
	// is room, timeout passes (ErrQueueFull; negative waits forever) or done
	// is closed (ErrClosed). It returns the number of records put by this
	// process so far, this one included: the record's place in queue order.
	put(rec []byte, timeout time.Duration, done <-chan struct{}) (uint64, error)
	// sync makes every record put so far durable.
	sync() error
	// next appends to b the records after the read position, up to
	// maxBytes of body (at least one record) and maxCount records, without
	// waiting.
	next(b *batch, maxBytes, maxCount int) error
	// ready is signalled after a put.
	ready() <-chan struct{}
	// ack releases the queue up to end, freeing qsize bytes.
	ack(end qpos, qsize int64) error
	// used is the number of bytes queued and not yet acknowledged.
	used() int64
	// room returns a channel closed once the queue has room for n more
	// bytes (immediately if it has).
	room(n int64) <-chan struct{}
	close() error
}

// spaceWaiter lets writers wait for room in a bounded queue. Its mutex is
// the owning queue's.
// bound is the part both queues share: the lock, the bytes held against
// the bound, and the waiters for room.
type bound struct {
	mu    sync.Mutex // guards the queue embedding it
	bytes int64      // unacknowledged record bytes
	max   int64      // the bound (queue.max_bytes)
	space spaceWaiter
}

// used returns the bytes held.
func (b *bound) used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes
}

// room returns a channel that is closed once n more bytes fit (at once if
// they fit now, or the queue is empty).
func (b *bound) room(n int64) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytes == 0 || b.bytes+n <= b.max {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return b.space.ch
}

type spaceWaiter struct {
	ch chan struct{} // closed and replaced whenever room is made
}

func (w *spaceWaiter) init() { w.ch = make(chan struct{}) }

// freed wakes every waiter; call with the queue locked.
func (w *spaceWaiter) freed() {
	close(w.ch)
	w.ch = make(chan struct{})
}

// waitRoom is the put loop shared by both queues: fits reports (under mu)
// whether n bytes fit now.
func waitRoom(mu *sync.Mutex, w *spaceWaiter, fits func() bool, timeout time.Duration, done <-chan struct{}) error {
	var deadline <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for !fits() {
		ch := w.ch
		mu.Unlock()
		select {
		case <-ch:
			mu.Lock()
		case <-deadline:
			mu.Lock()
			if fits() {
				return nil
			}
			return ErrQueueFull
		case <-done:
			mu.Lock()
			return ErrClosed
		}
	}
	return nil
}

// memQueue keeps records in memory. Nothing survives the process, so the
// sink's Sync waits for the indexer instead of for the disk.
type memQueue struct {
	bound
	recs    [][]byte // unacknowledged records; recs[0] is at position base
	base    int64
	read    int64 // position of the next record to read
	puts    uint64
	readyCh chan struct{}
}

func newMemQueue(max int64) *memQueue {
	q := &memQueue{readyCh: make(chan struct{}, 1)}
	q.max = max
	q.space.init()
	return q
}

func (q *memQueue) put(rec []byte, timeout time.Duration, done <-chan struct{}) (uint64, error) {
	n := int64(len(rec))
	q.mu.Lock()
	err := waitRoom(&q.mu, &q.space, func() bool { return q.bytes == 0 || q.bytes+n <= q.max }, timeout, done)
	if err == nil {
		q.recs = append(q.recs, append([]byte(nil), rec...))
		q.bytes += n
		q.puts++
	}
	seq := q.puts
	q.mu.Unlock()
	if err == nil {
		signal(q.readyCh)
	}
	return seq, err
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (q *memQueue) sync() error { return nil }

func (q *memQueue) next(b *batch, maxBytes, maxCount int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.read < q.base+int64(len(q.recs)) && b.count() < maxCount {
		rec := q.recs[q.read-q.base]
		if b.count() > 0 && len(b.body)+len(rec) > maxBytes {
			break
		}
		b.offs = append(b.offs, len(b.body))
		b.body = append(b.body, rec...)
		b.qsize += int64(len(rec))
		q.read++
	}
	b.end = qpos{off: q.read}
	return nil
}

func (q *memQueue) ready() <-chan struct{} { return q.readyCh }

func (q *memQueue) ack(end qpos, qsize int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := end.off - q.base
	for i := range n {
		q.recs[i] = nil
	}
	q.recs = q.recs[n:]
	q.base = end.off
	q.bytes -= qsize
	q.space.freed()
	return nil
}

func (q *memQueue) close() error { return nil }
