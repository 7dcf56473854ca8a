package redisstore

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// On one core (GOMAXPROCS=1) the engine overlaps a round's call to the
// store with its own work (engine/shared.go, runInlineShared): the call
// runs on a goroutine while the caller reads the next round and yields
// (runtime.Gosched) between batches. A goroutine parked in the runtime's
// network poller for the server's reply does not run at those yields,
// though: the runtime polls the network when the processor has nothing
// else to run, or every 10 ms (sysmon), and a yield only goes round the run
// queue. So each reply of a call (a round's read and its commit) waited up
// to 10 ms for the goroutine to take it, and the caller, done with its
// round, waited for the call: BenchmarkSharedStore flows/redis measured
// 1.7–4.0 ms of waiting per round of 8,192 records.
//
// yieldConn reads the store's connection so that the reply is taken at the
// next yield: while another goroutine wants the processor, a read tries the
// socket without waiting and, when nothing has come yet, yields and tries
// again. Once a yield comes straight back (nothing else wants to run), it
// waits in the poller as any connection does; so it does at the client's
// deadline. Measured: 0.24–0.62 ms of waiting per round.
type yieldConn struct {
	net.Conn
	raw syscall.RawConn
	// readBy is the read deadline in Unix nanoseconds, 0 for none.
	readBy atomic.Int64
}

// yieldBusy is how long a yield must keep the reader away for the
// processor to count as wanted by another goroutine.
const yieldBusy = 20 * time.Microsecond

// Read reads as the connection does, trying the socket between yields
// while the processor is wanted.
func (c *yieldConn) Read(p []byte) (int, error) {
	for len(p) > 0 {
		if by := c.readBy.Load(); by != 0 && time.Now().UnixNano() >= by {
			break // past the deadline: the connection's Read says so
		}
		n, ok := c.try(p)
		if ok {
			return n, nil
		}
		if n < 0 {
			break // closed, failed or at its end: the connection's Read says so
		}
		t := time.Now()
		runtime.Gosched()
		if time.Since(t) < yieldBusy {
			break // nothing else wants to run: wait in the poller
		}
	}
	return c.Conn.Read(p)
}

// try reads what the socket holds without waiting: ok with n bytes; n = 0
// when nothing has come yet; n < 0 when the socket is closed, failed or at
// its end.
func (c *yieldConn) try(p []byte) (n int, ok bool) {
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			if !errors.Is(rerr, syscall.EINTR) {
				return true // one try: never wait in the poller here
			}
		}
	})
	switch {
	case err == nil && rerr == nil && n > 0:
		return n, true
	case err == nil && errors.Is(rerr, syscall.EAGAIN):
		return 0, false
	}
	return -1, false
}

// SetDeadline sets the connection's deadlines, and the reads'.
func (c *yieldConn) SetDeadline(t time.Time) error {
	c.setReadBy(t)
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline sets the connection's read deadline, and the reads'.
func (c *yieldConn) SetReadDeadline(t time.Time) error {
	c.setReadBy(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *yieldConn) setReadBy(t time.Time) {
	if t.IsZero() {
		c.readBy.Store(0)
		return
	}
	c.readBy.Store(t.UnixNano())
}

// SyscallConn lets the client check the connection's health as it checks
// a plain one.
func (c *yieldConn) SyscallConn() (syscall.RawConn, error) { return c.raw, nil }

// yieldDialer is the client's dialer with its plain TCP connections read by
// yieldConn (TLS ones as before).
func yieldDialer(o *redis.Options) func(context.Context, string, string) (net.Conn, error) {
	dial := redis.NewDialer(o)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil || o.TLSConfig != nil {
			return conn, err
		}
		return newYieldConn(conn), nil
	}
}

// newYieldConn returns conn read by yieldConn, or conn itself when it has
// no file descriptor.
func newYieldConn(conn net.Conn) net.Conn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return conn
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return conn
	}
	return &yieldConn{Conn: conn, raw: raw}
}
