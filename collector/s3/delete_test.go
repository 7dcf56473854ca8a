package s3

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
)

// countingAPI counts the delete requests sent to a real server; refuse,
// when set, adds a per-key refusal to DeleteObjects' answer, as S3 gives
// for a key the credentials may not delete.
type countingAPI struct {
	API
	deleteObject, deleteObjects atomic.Int32
	sizes                       []int
	mu                          sync.Mutex
	refuse                      string
}

func (c *countingAPI) DeleteObject(ctx context.Context, in *awss3.DeleteObjectInput, opts ...func(*awss3.Options)) (*awss3.DeleteObjectOutput, error) {
	c.deleteObject.Add(1)
	return c.API.DeleteObject(ctx, in, opts...)
}

func (c *countingAPI) DeleteObjects(ctx context.Context, in *awss3.DeleteObjectsInput, opts ...func(*awss3.Options)) (*awss3.DeleteObjectsOutput, error) {
	c.deleteObjects.Add(1)
	c.mu.Lock()
	c.sizes = append(c.sizes, len(in.Delete.Objects))
	c.mu.Unlock()
	out, err := c.API.DeleteObjects(ctx, in, opts...)
	if err == nil && c.refuse != "" {
		out.Errors = append(out.Errors, types.Error{Key: aws.String(c.refuse), Code: aws.String("AccessDenied"), Message: aws.String("Access Denied")})
	}
	return out, err
}

// DeleteKeys deletes 1,001 objects in two DeleteObjects requests (1,000
// keys and 1), takes a key already gone as deleted, and names the keys it
// could not delete with their category.
func TestDeleteKeys(t *testing.T) {
	srv := s3test.Need(t)
	ctx := context.Background()
	b := srv.NewBucket(t, "delete-many")
	var keys []string
	for i := range MaxDeleteKeys + 1 {
		k := fmt.Sprintf("AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/o-%04d.log.gz", i)
		srv.Put(t, b, k, []byte("x"))
		keys = append(keys, k)
	}
	keys = append(keys, "never-there.log.gz")
	api := &countingAPI{API: NewAPI(srv.Config(), srv.Endpoint)}
	c := NewClient(api)

	assert.Empty(t, c.DeleteKeys(ctx, b, keys))
	assert.Equal(t, int32(2), api.deleteObjects.Load(), "one request per 1,000 keys")
	assert.Equal(t, []int{MaxDeleteKeys, 2}, api.sizes)
	assert.Zero(t, api.deleteObject.Load(), "no request per object")
	var left []string
	require.NoError(t, c.List(ctx, b, "", "", func(page []Object) error {
		for _, o := range page {
			left = append(left, o.Key)
		}
		return nil
	}))
	assert.Empty(t, left, "every object deleted")

	// A key S3 refuses fails alone.
	srv.Put(t, b, "a", []byte("x"))
	srv.Put(t, b, "b", []byte("x"))
	api.refuse = "b"
	failed := c.DeleteKeys(ctx, b, []string{"a", "b"})
	require.Len(t, failed, 1)
	assert.Equal(t, "b", failed[0].Key)
	assert.ErrorIs(t, failed[0].Err, ErrAccessDenied)
	assert.ErrorContains(t, failed[0].Err, "delete s3://"+b+"/b: access denied: ")

	// A request that fails fails each of its keys.
	failed = c.DeleteKeys(ctx, "no-such-bucket-here", []string{"x", "y"})
	require.Len(t, failed, 2)
	for i, k := range []string{"x", "y"} {
		assert.Equal(t, k, failed[i].Key)
		assert.ErrorIs(t, failed[i].Err, ErrNoSuchBucket)
		assert.ErrorContains(t, failed[i].Err, "delete s3://no-such-bucket-here/"+k+": ")
	}
}
