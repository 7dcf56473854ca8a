package redisstore

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tcpPair returns both ends of a TCP connection on 127.0.0.1, the client's
// read by yieldConn.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	client = newYieldConn(c)
	require.IsType(t, &yieldConn{}, client)
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// TestYieldConnReads: a yieldConn reads what was sent, in the pieces it
// comes in, to its end; a read with nothing coming ends at the client's
// deadline.
func TestYieldConnReads(t *testing.T) {
	client, server := tcpPair(t)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<14)
	go func() {
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 3000)
			if _, err := server.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
			time.Sleep(50 * time.Microsecond)
		}
		server.Close()
	}()
	got, err := io.ReadAll(client)
	require.NoError(t, err)
	require.Equal(t, want, got)

	client2, _ := tcpPair(t)
	require.NoError(t, client2.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = client2.Read(make([]byte, 10))
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
}

// TestYieldConnTakesReplyAtYield: on one core, a reply that has come while
// another goroutine works is taken at that goroutine's next yield, not
// when the runtime next polls the network (up to 10 ms, a hundred and more
// of these yields, later).
func TestYieldConnTakesReplyAtYield(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	client, server := tcpPair(t)
	var yields atomic.Int64
	var took atomic.Int64
	took.Store(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 16)
		if n, err := client.Read(buf); err == nil && n > 0 {
			took.Store(yields.Load())
		}
	}()
	runtime.Gosched() // the reader tries, finds nothing, and yields back
	_, err := server.Write([]byte("+OK\r\n"))
	require.NoError(t, err)
	for i := int64(1); i <= 2000 && took.Load() < 0; i++ {
		for start := time.Now(); time.Since(start) < 50*time.Microsecond; {
		}
		yields.Store(i)
		runtime.Gosched()
	}
	client.Close()
	<-done
	require.GreaterOrEqual(t, took.Load(), int64(0), "the reply was read")
	require.LessOrEqual(t, took.Load(), int64(2), "the reply was taken %d yields after it came", took.Load())
}

// TestYieldConnDeadline: on one core, a read with nothing coming ends at
// its deadline even while another goroutine keeps the processor busy.
func TestYieldConnDeadline(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	client, _ := tcpPair(t)
	require.NoError(t, client.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = client.Read(make([]byte, 16))
	}()
	start := time.Now()
	ended := false
	for !ended && time.Since(start) < 5*time.Second {
		for s := time.Now(); time.Since(s) < 50*time.Microsecond; {
		}
		runtime.Gosched()
		select {
		case <-done:
			ended = true
		default:
		}
	}
	require.True(t, ended, "the read ended while the processor was busy")
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
}
