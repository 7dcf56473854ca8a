package engine

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// TestWatch: a Watch in the context gets the call's bad records instead of
// Options.OnError, and its counters end equal to the call's Stats.
func TestWatch(t *testing.T) {
	var mu sync.Mutex
	var global []string
	e, err := New(Options{OnError: func(err error) { mu.Lock(); global = append(global, err.Error()); mu.Unlock() }})
	require.NoError(t, err)
	body := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		strings.Repeat("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 REJECT OK\n", 3000) +
		"2 123456789012 eni-1 10.0.1.25 not-an-address 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n"
	origin := event.Origin{Type: event.LogTypeVPCFlow, Path: "s3://b/k.log", Bucket: "b", Key: "k.log"}
	var mine []string
	w := &Watch{OnError: func(err error) { mine = append(mine, err.Error()) }}
	st, err := e.Process(WithWatch(context.Background(), w), origin, strings.NewReader(body), alert.Discard{})
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.BadLines)
	require.Len(t, mine, 1)
	assert.Contains(t, mine[0], "s3://b/k.log:3002")
	assert.Empty(t, global, "the call's watch took the bad record")
	assert.Equal(t, st.Records, w.Records.Load())
	assert.Equal(t, st.Bytes, w.Bytes.Load())
	assert.Equal(t, st.Alerts, w.Alerts.Load())
	assert.Equal(t, int64(3002), st.Records)

	st, err = e.Process(context.Background(), origin, strings.NewReader(body), alert.Discard{})
	require.NoError(t, err)
	assert.Len(t, global, 1, "without a watch: Options.OnError")
}
