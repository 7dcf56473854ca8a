package engine

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Turns of one key go one after the other in the order they were handed
// out; a turn ended before it came passes it on when it comes; keys are
// independent; Wait gives up with the context.
func TestOrderTurns(t *testing.T) {
	o := NewOrder()
	a1, a2, a3 := o.Next("a"), o.Next("a"), o.Next("a")
	b1 := o.Next("b")
	assert.True(t, isClosed(a1.Ready()), "the first turn of a key goes at once")
	assert.True(t, isClosed(b1.Ready()), "another key's first turn goes at once")
	assert.False(t, isClosed(a2.Ready()))
	assert.False(t, isClosed(a3.Ready()))

	// a3 ends before its turn came (an object dropped early): it must not
	// let a turn after it go before a1 and a2 are over.
	a3.Done()
	a4 := o.Next("a")
	time.Sleep(10 * time.Millisecond)
	assert.False(t, isClosed(a4.Ready()), "a turn ended early does not jump the queue")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, a2.Wait(ctx), context.DeadlineExceeded)

	require.NoError(t, a1.Wait(context.Background()))
	a1.Done()
	a1.Done() // more than once is fine
	require.NoError(t, a2.Wait(context.Background()))
	a2.Done()
	require.NoError(t, a4.Wait(context.Background()), "a3's end passed the turn on")
	b1.Done()
	a4.Done()

	var nilTurn *Turn
	require.NoError(t, nilTurn.Wait(context.Background()))
	assert.True(t, isClosed(nilTurn.Ready()))
	nilTurn.Done()
}

// scanObjects returns 24 flow-log objects of one interface, in time order
// (object k covers the ten minutes from 10:00 + 10k min), with 23 port
// scans that straddle the objects' boundaries: 8 rejected ports at the end
// of object k and 8 at the start of object k+1, from a source of their own,
// within 20 seconds. Each object also holds rejected flows from many
// sources to one port spread over its ten minutes, which move the scan
// rule's windows on.
func scanObjects() [][]byte {
	t0 := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC).Unix()
	line := func(b *bytes.Buffer, src string, sport, dport int, t int64) {
		fmt.Fprintf(b, "2 123456789012 eni-0a1b2c3d4e5f60718 %s 10.0.1.25 %d %d 6 1 44 %d %d REJECT OK\n", src, sport, dport, t, t+1)
	}
	var objects [][]byte
	for k := 0; k < 24; k++ {
		var b bytes.Buffer
		b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
		start := t0 + int64(k)*600
		if k > 0 {
			for p := 8; p < 16; p++ {
				line(&b, fmt.Sprintf("198.51.100.%d", k), 40000+p, 20+p, start+int64(p-8))
			}
		}
		for i := 0; i < 300; i++ {
			line(&b, fmt.Sprintf("203.0.113.%d", i%250+1), 50000+i, 443, start+10+int64(i)*2)
		}
		if k < 23 {
			for p := 0; p < 8; p++ {
				line(&b, fmt.Sprintf("198.51.100.%d", k+1), 40000+p, 20+p, start+600-12+int64(p))
			}
		}
		objects = append(objects, b.Bytes())
	}
	return objects
}

// lineIDs hands out an object's id offsets as the alerts file would: each
// line after the previous one.
type lineIDs struct{ next int64 }

func (l *lineIDs) Take(fixed int64) int64 {
	off := l.next
	l.next += fixed + int64(len(strconv.FormatInt(off, 10)))
	return off
}

// objectSink keeps one object's alerts and counts its port scans.
type objectSink struct {
	alert.Discard
	out   bytes.Buffer
	scans int
}

func (s *objectSink) Write(a *alert.Alert) error {
	if a.RuleID == "100401" {
		s.scans++
	}
	s.out.Write(a.JSON)
	s.out.WriteByte('\n')
	return nil
}

// processScans processes the objects of scanObjects with its own engine:
// serially in the order given, or with turns taken in key order and
// workers objects at once. It returns every object's alerts in key order
// and the number of scan alerts.
func processScans(t *testing.T, objects [][]byte, order []int, workers int) (string, int) {
	t.Helper()
	e, errs := newTestEngine(t, nil)
	sinks := make([]*objectSink, len(objects))
	now := time.Date(2024, 3, 5, 16, 0, 0, 0, time.UTC)
	process := func(k int, turn *Turn) {
		sinks[k] = &objectSink{}
		origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "b", Key: fmt.Sprintf("flows/%02d.log", k), Path: fmt.Sprintf("flows/%02d.log", k)}
		ctx := WithObject(context.Background(), Object{Now: now, IDs: &lineIDs{}, Turn: turn})
		_, err := e.Process(ctx, origin, bytes.NewReader(objects[k]), sinks[k])
		assert.NoError(t, err, "object %d", k)
	}
	if workers == 0 {
		for _, k := range order {
			process(k, nil)
		}
	} else {
		// As the daemon does: the jobs are handed out in key order with
		// their turns; a worker waits a while before the first objects of
		// each round, so that later ones reach the rules' door first.
		type job struct {
			k    int
			turn *Turn
		}
		jobs := make(chan job)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					time.Sleep(time.Duration(workers-j.k%workers) * 3 * time.Millisecond)
					process(j.k, j.turn)
				}
			}()
		}
		o := NewOrder()
		for k := range objects {
			jobs <- job{k: k, turn: o.Next("")}
		}
		close(jobs)
		wg.Wait()
	}
	require.Empty(t, errs.String())
	var all bytes.Buffer
	scans := 0
	for _, s := range sinks {
		all.Write(s.out.Bytes())
		scans += s.scans
	}
	return all.String(), scans
}

// TestScansAcrossObjectsWithTurns (issue 14): 24 objects with 23 port scans
// that straddle their boundaries give the 23 scan alerts of a serial run,
// byte for byte, when four objects are processed at once on several cores
// and later objects reach Process first: the objects' turns make the
// stateful rules see them in key order. Processed in another order, the
// same objects give other alerts — the order is what the turns keep.
func TestScansAcrossObjectsWithTurns(t *testing.T) {
	objects := scanObjects()
	inOrder := make([]int, len(objects))
	reverse := make([]int, len(objects))
	for k := range objects {
		inOrder[k], reverse[k] = k, len(objects)-1-k
	}
	want, scans := processScans(t, objects, inOrder, 0)
	require.Equal(t, 23, scans, "a serial run raises one scan per boundary")
	other, otherScans := processScans(t, objects, reverse, 0)
	require.NotEqual(t, want, other, "the order of the objects changes the alerts")
	require.Equal(t, 23, otherScans, "the scans are raised on other records")

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for run := 0; run < 3; run++ {
		got, scans := processScans(t, objects, nil, 4)
		assert.Equal(t, 23, scans, "run %d", run)
		if got != want {
			t.Fatalf("run %d: the alerts differ from the serial run's", run)
		}
	}
}
