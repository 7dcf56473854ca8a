package s3

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/event"
)

// TestOlderThan counts what a scope holds before a day, against the real
// server: exactly within one page, and with the newest day found by
// bisection beyond it.
func TestOlderThan(t *testing.T) {
	srv := s3test.Need(t)
	ctx := context.Background()
	bucket := srv.NewBucket(t, "older")
	sc := Scope{Bucket: bucket, Prefix: "AWSLogs/111111111111/vpcflowlogs/us-east-1/", Type: event.LogTypeVPCFlow}
	days := []string{"2023/11/02", "2023/11/02", "2023/12/31", "2024/01/15", "2024/02/03", "2024/02/29", "2024/03/01", "2024/03/05", "2024/03/06"}
	for i, d := range days {
		srv.Put(t, bucket, fmt.Sprintf("%s%s/f%02d.log.gz", sc.Prefix, d, i), []byte("x"))
	}
	c := NewClient(NewAPI(srv.Config(), srv.Endpoint))
	day := func(s string) time.Time { return mustDay(s) }

	o, err := c.OlderThan(ctx, sc, day("2024-03-05"), 1000)
	require.NoError(t, err)
	assert.Equal(t, Older{Count: 7, Oldest: day("2023-11-02"), Newest: day("2024-03-01")}, o)

	o, err = c.OlderThan(ctx, sc, day("2024-03-05"), 3)
	require.NoError(t, err)
	assert.Equal(t, Older{Count: 3, More: true, Oldest: day("2023-11-02"), Newest: day("2024-03-01")}, o, "bisected")

	o, err = c.OlderThan(ctx, sc, day("2023-11-02"), 1000)
	require.NoError(t, err)
	assert.Equal(t, Older{}, o)

	o, err = c.OlderThan(ctx, sc, day("2024-02-04"), 2)
	require.NoError(t, err)
	assert.Equal(t, Older{Count: 2, More: true, Oldest: day("2023-11-02"), Newest: day("2024-02-03")}, o)
}
