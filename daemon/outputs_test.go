package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/output"
)

// fullQueue is an output whose bounded queue refuses room a number of
// times (as the indexer's when the indexer is away).
type fullQueue struct {
	alert.Discard
	mu     sync.Mutex
	refuse int
	asked  []int64
}

func (f *fullQueue) WaitRoom(ctx context.Context, n int64) error {
	f.mu.Lock()
	f.asked = append(f.asked, n)
	refuse := f.refuse > 0
	f.refuse--
	f.mu.Unlock()
	if refuse {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// TestIndexerQueueFull: an object whose alerts find no room in the
// indexer's queue is neither written nor marked, and is read again by the
// next pass; the others go on.
func TestIndexerQueueFull(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "full-it")
	want := map[string]int{}
	for i := 0; i < 3; i++ {
		k := flowKey("111111111111", "us-east-1", "2024-03-05", fmt.Sprintf("fl-%d", i), i)
		srv.Put(t, b, k, gz(t, flowBody("111111111111", 4, 100, true)))
		want[k] = 4
	}
	td := newTestDaemon(t, fmt.Sprintf("state: s.db\nconcurrency: 1\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, service_endpoint: %q}]\n", b, srv.Endpoint))
	q := &fullQueue{refuse: 1}
	td.opts.Sink = output.Tee{td.opts.Sink, q}
	td.rooms = roomWaitersOf(td.opts.Sink)
	td.opts.RoomWait = 20 * time.Millisecond
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)

	res := td.pass(t)
	assert.Equal(t, int64(2), res.Stats.Objects)
	assert.Equal(t, int64(1), res.Stats.Retry, "the object that found no room")
	got := td.files(t)
	assert.Len(t, got, 2)
	require.NotEmpty(t, q.asked)
	assert.Greater(t, q.asked[0], int64(4*500), "room asked for the object's alerts")

	res = td.pass(t)
	assert.Equal(t, int64(1), res.Stats.Objects, "read again")
	assert.Equal(t, want, td.files(t), "every alert once")
}
