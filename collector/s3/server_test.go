package s3

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/event"
)

func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }

// TestServer runs discovery, listing, reading and deleting against a real
// S3-compatible server.
func TestServer(t *testing.T) {
	srv := s3test.Need(t)
	ctx := context.Background()
	bucket := srv.NewBucket(t, "layouts")
	for _, k := range bucketKeys {
		srv.Put(t, bucket, k, []byte("body of "+k))
	}
	// a day before and after, to check StartAfter
	early := "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/04/early.log.gz"
	late := "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/06/late.log.gz"
	srv.Put(t, bucket, early, []byte("e"))
	etag := srv.Put(t, bucket, late, []byte("late"))

	c := NewClient(NewAPI(srv.Config(), srv.Endpoint))
	scopes, _, err := Discover(ctx, c, Layout{Bucket: bucket, Type: event.LogTypeVPCFlow})
	require.NoError(t, err)
	var prefixes []string
	for _, s := range scopes {
		prefixes = append(prefixes, s.Prefix)
	}
	assert.ElementsMatch(t, []string{
		"AWSLogs/111111111111/vpcflowlogs/eu-west-1/",
		"AWSLogs/111111111111/vpcflowlogs/us-east-1/",
		"AWSLogs/222222222222/vpcflowlogs/ap-south-1/",
		"AWSLogs/aws-account-id=555555555555/aws-service=vpcflowlogs/aws-region=us-east-1/",
	}, prefixes)

	var scope Scope
	for _, s := range scopes {
		if s.Prefix == "AWSLogs/111111111111/vpcflowlogs/us-east-1/" {
			scope = s
		}
	}
	var keys []string
	var objs []Object
	err = c.List(ctx, bucket, scope.Prefix, scope.StartAfter(mustDay("2024-03-05")), func(page []Object) error {
		for _, o := range page {
			keys = append(keys, o.Key)
			objs = append(objs, o)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{bucketKeys[0], late}, keys, "the day before is not listed")
	assert.Equal(t, etag, objs[1].ETag)
	assert.Equal(t, int64(4), objs[1].Size)

	r := c.Open(ctx, objs[1])
	body, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, "late", string(body))

	// If-Match on a stale ETag: the object changed since it was listed.
	srv.Put(t, bucket, late, []byte("rewritten"))
	r = c.Open(ctx, objs[1])
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, ErrChanged)

	require.NoError(t, c.Delete(ctx, bucket, late))
	_, err = srv.Get(bucket, late)
	require.Error(t, err)
	r = c.Open(ctx, Object{Bucket: bucket, Key: late})
	_, err = io.ReadAll(r)
	require.ErrorIs(t, err, ErrNoSuchKey)
}

func TestServerPagination(t *testing.T) {
	srv := s3test.Need(t)
	bucket := srv.NewBucket(t, "many")
	prefix := "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/"
	for i := 0; i < 1203; i++ {
		srv.Put(t, bucket, prefix+pad(i)+".json.gz", []byte{'x'})
	}
	c := NewClient(NewAPI(srv.Config(), srv.Endpoint))
	pages, n := 0, 0
	last := ""
	err := c.List(context.Background(), bucket, "AWSLogs/111111111111/CloudTrail/us-east-1/", "AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05", func(page []Object) error {
		pages++
		for _, o := range page {
			assert.Greater(t, o.Key, last)
			last = o.Key
			n++
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1203, n)
	assert.Equal(t, 2, pages)
}

func TestServerErrors(t *testing.T) {
	srv := s3test.Need(t)
	ctx := context.Background()
	c := NewClient(NewAPI(srv.Config(), srv.Endpoint))
	_, err := c.Prefixes(ctx, "no-such-bucket", "AWSLogs/")
	require.ErrorIs(t, err, ErrNoSuchBucket)
	assert.Contains(t, err.Error(), "list s3://no-such-bucket/AWSLogs/: no such bucket")
	assert.True(t, Permanent(err))

	cfg := srv.Config()
	cfg.Credentials = nil
	bad := NewClient(NewAPI(cfg, srv.Endpoint))
	bucket := srv.NewBucket(t, "private")
	_, err = bad.Prefixes(ctx, bucket, "AWSLogs/")
	require.Error(t, err)
	assert.True(t, Permanent(err), "anonymous access is denied: %v", err)
}

func pad(i int) string {
	b := []byte("0000")
	for j := 3; j >= 0; j-- {
		b[j] = byte('0' + i%10)
		i /= 10
	}
	return string(bytes.Clone(b))
}
