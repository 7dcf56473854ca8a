package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
)

// lineSink collects alert lines.
type lineSink struct {
	alert.Discard
	buf bytes.Buffer
}

func (l *lineSink) Write(a *alert.Alert) error {
	l.buf.Write(a.JSON)
	l.buf.WriteByte('\n')
	return nil
}

// TestObjectFixesTimeAndIDs: with an Object in the context, every alert
// of the call has its time and takes its id from its allocator; a second
// engine given the same Object writes the same bytes, whatever its own
// clock and counter say. The ids are the lines' byte offsets from the
// range's start.
func TestObjectFixesTimeAndIDs(t *testing.T) {
	in := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 123456789012 eni-1 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n" +
		"2 123456789012 eni-1 198.51.100.77 10.0.1.25 48211 22 6 1 40 1709633700 1709633760 REJECT OK\n" +
		"2 123456789012 eni-1 198.51.100.77 10.0.1.25 48212 23 6 1 40 1709633700 1709633760 REJECT OK\n"
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "local", Key: "f.log", Path: "f.log"}
	started := time.Date(2024, 3, 5, 23, 59, 59, 250e6, time.UTC)
	ranges := []int64{5 << 24}
	run := func(clock time.Time, idOffset int64) string {
		e, _ := newTestEngine(t, func(o *Options) {
			o.Now = func() time.Time { return clock }
			o.IDOffset = idOffset
		})
		var out lineSink
		ctx := WithObject(context.Background(), Object{Now: started, IDs: output.NewObjectIDs(output.NewIDSource(), ranges)})
		_, err := e.Process(ctx, origin, strings.NewReader(in), &out)
		require.NoError(t, err)
		return out.buf.String()
	}
	first := run(time.Date(2024, 3, 5, 23, 59, 59, 0, time.UTC), 0)
	second := run(time.Date(2024, 3, 6, 0, 0, 7, 0, time.UTC), 123456)
	assert.Equal(t, first, second)

	got := strings.Split(strings.TrimSpace(first), "\n")
	require.Len(t, got, 3)
	off := ranges[0]
	for _, l := range got {
		assert.Contains(t, l, `"timestamp":"2024-03-05T23:59:59.250+0000"`)
		assert.Contains(t, l, `"id":"1709683199.`+strconv.FormatInt(off, 10)+`"`)
		off += int64(len(l)) + 1
	}
}

// TestIDsFollowTheClock: when the processing clock moves between records,
// each alert's id starts with the epoch of its own timestamp (the text of
// the last epoch is reused only while it holds), and the offsets are the
// lines' byte offsets from the engine's counter.
func TestIDsFollowTheClock(t *testing.T) {
	in := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	for i := 0; i < 12; i++ {
		in += "2 123456789012 eni-1 198.51.100.77 10.0.1.25 48211 22 6 1 40 1709633700 1709633760 REJECT OK\n"
	}
	clock := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	ticks := []time.Duration{0, 0, time.Second, 999 * time.Millisecond, 0, 3 * time.Second, 0, time.Hour, 0, 0, time.Second, 0}
	n := 0
	e, _ := newTestEngine(t, func(o *Options) {
		o.IDOffset = 1000
		o.Now = func() time.Time {
			clock = clock.Add(ticks[n%len(ticks)])
			n++
			return clock
		}
	})
	var out lineSink
	_, err := e.Process(context.Background(), event.Origin{Type: event.LogTypeVPCFlow, Bucket: "local", Key: "f.log", Path: "f.log"}, strings.NewReader(in), &out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out.buf.String()), "\n")
	require.Len(t, lines, 12)
	off := int64(1000)
	epochs := map[string]bool{}
	for _, l := range lines {
		i := strings.Index(l, `"timestamp":"`) + len(`"timestamp":"`)
		ts, err := time.Parse("2006-01-02T15:04:05.000-0700", l[i:i+len("2006-01-02T15:04:05.000-0700")])
		require.NoError(t, err)
		epoch := strconv.FormatInt(ts.Unix(), 10)
		epochs[epoch] = true
		assert.Contains(t, l, `"id":"`+epoch+"."+strconv.FormatInt(off, 10)+`"`)
		off += int64(len(l)) + 1
	}
	assert.Greater(t, len(epochs), 3, "the clock moved across seconds")
}

// TestObjectUndo: a call whose read fails half-way, after records of
// several batches reached the rules that keep state, leaves the
// correlation state as it found it when Object.Undo says so, and changes
// it when Undo says no; a call that ends without an error keeps its
// effect whatever Undo says. The turn ends in every case.
func TestObjectUndo(t *testing.T) {
	var b strings.Builder
	b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	for i := range 3000 {
		fmt.Fprintf(&b, "2 123456789012 eni-1 198.51.100.%d 10.0.1.25 %d %d 6 1 40 1709633700 1709633760 REJECT OK\n", i%200+1, 40000+i, 20+i%50)
	}
	in := b.String()
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "local", Key: "f.log", Path: "f.log"}
	broken := errors.New("connection reset by peer")
	for _, c := range []struct {
		name     string
		cut      bool
		undo     bool
		sameSnap bool
	}{
		{"cut, undone", true, true, true},
		{"cut, kept", true, false, false},
		{"read to the end", false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newTestEngine(t, nil)
			before := e.Snapshot()
			var asked error
			turn := NewOrder().Next("")
			obj := Object{Now: time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC), Turn: turn,
				Undo: func(err error) bool { asked = err; return c.undo }}
			var r io.Reader = strings.NewReader(in)
			if c.cut {
				// Two thirds of the object, then the error.
				r = io.MultiReader(io.LimitReader(r, int64(len(in)*2/3)), iotest.ErrReader(broken))
			}
			st, err := e.Process(WithObject(context.Background(), obj), origin, r, &lineSink{})
			if c.cut {
				require.ErrorIs(t, err, broken)
				require.ErrorIs(t, asked, broken)
				require.Greater(t, st.Records, int64(1000), "records of several batches read before the error")
			} else {
				require.NoError(t, err)
				assert.NoError(t, asked, "Undo not asked without an error")
			}
			assert.Equal(t, c.sameSnap, bytes.Equal(before, e.Snapshot()), "correlation state as before the call")
			select {
			case <-turn.done:
			default:
				t.Fatal("the turn did not end")
			}
		})
	}
}
