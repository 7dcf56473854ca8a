package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// API is the part of the S3 client this package uses; *s3.Client has it.
type API interface {
	ListObjectsV2(ctx context.Context, in *awss3.ListObjectsV2Input, opts ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
	DeleteObject(ctx context.Context, in *awss3.DeleteObjectInput, opts ...func(*awss3.Options)) (*awss3.DeleteObjectOutput, error)
	DeleteObjects(ctx context.Context, in *awss3.DeleteObjectsInput, opts ...func(*awss3.Options)) (*awss3.DeleteObjectsOutput, error)
	HeadBucket(ctx context.Context, in *awss3.HeadBucketInput, opts ...func(*awss3.Options)) (*awss3.HeadBucketOutput, error)
}

// Object is one listed object.
type Object struct {
	Bucket       string
	Key          string
	ETag         string // as S3 gives it, with quotes
	Size         int64
	LastModified time.Time
}

// Path returns "s3://bucket/key".
func (o Object) Path() string { return "s3://" + o.Bucket + "/" + o.Key }

// Client lists and reads one bucket's objects.
type Client struct {
	api API
	// ReadOptions are used by Open.
	ReadOptions ReadOptions
}

// NewClient returns a client on api.
func NewClient(api API) *Client { return &Client{api: api} }

// NewAPI returns an S3 client for cfg. A non-empty endpoint (Wazuh's
// service_endpoint) points it at that URL; any custom endpoint, including
// the SDK's AWS_ENDPOINT_URL_S3, uses path-style addressing so that
// S3-compatible servers work.
func NewAPI(cfg aws.Config, endpoint string) *awss3.Client {
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		// Log-delivery objects carry no checksum; the SDK would print a
		// line on stderr for every GetObject.
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
	})
}

// BucketRegion returns the region of bucket as S3 reports it (HeadBucket,
// or the x-amz-bucket-region header of a redirect), or "" when it cannot
// tell.
func BucketRegion(ctx context.Context, api API, bucket string) (string, error) {
	out, err := api.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		return aws.ToString(out.BucketRegion), nil
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if r := re.Response.Header.Get("X-Amz-Bucket-Region"); r != "" {
			return r, nil
		}
	}
	return "", classify(err)
}

// Prefixes returns the folder names directly under prefix (ListObjectsV2
// with Delimiter "/"), without prefix and without the trailing slash.
func (c *Client) Prefixes(ctx context.Context, bucket, prefix string) ([]string, error) {
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	var names []string
	for {
		out, err := c.api.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, classify(err))
		}
		for _, p := range out.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(p.Prefix), prefix), "/")
			if name != "" {
				names = append(names, name)
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return names, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// List lists the objects under prefix whose keys sort after startAfter,
// one page (up to 1000 keys) at a time, in key order. Keys ending in '/'
// are left out. fn's error stops the listing and is returned.
func (c *Client) List(ctx context.Context, bucket, prefix, startAfter string, fn func(page []Object) error) error {
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1000)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	var page []Object
	for {
		out, err := c.api.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, classify(err))
		}
		page = page[:0]
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") {
				continue
			}
			page = append(page, Object{Bucket: bucket, Key: key, ETag: aws.ToString(o.ETag),
				Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
		}
		if !aws.ToBool(out.IsTruncated) || aws.ToString(out.NextContinuationToken) == "" {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil
	}
}

// Delete deletes an object (Wazuh's remove_from_bucket).
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	_, err := c.api.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("delete s3://%s/%s: %w", bucket, key, classify(err))
	}
	return nil
}

// MaxDeleteKeys is how many keys one DeleteObjects request may name.
const MaxDeleteKeys = 1000

// DeleteError is a key DeleteKeys could not delete.
type DeleteError struct {
	Key string
	Err error // "delete s3://bucket/key: ...", categorised like the other errors
}

// DeleteKeys deletes keys of bucket with DeleteObjects, MaxDeleteKeys keys
// a request, and returns the keys that were not deleted, each with why: a
// request that fails fails all its keys; a key S3 refused alone fails
// alone. A key already gone counts as deleted, as with DeleteObject.
func (c *Client) DeleteKeys(ctx context.Context, bucket string, keys []string) []DeleteError {
	var failed []DeleteError
	for len(keys) > 0 {
		n := min(len(keys), MaxDeleteKeys)
		failed = append(failed, c.deleteBatch(ctx, bucket, keys[:n])...)
		keys = keys[n:]
	}
	return failed
}

func (c *Client) deleteBatch(ctx context.Context, bucket string, keys []string) []DeleteError {
	ids := make([]types.ObjectIdentifier, len(keys))
	for i, k := range keys {
		ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
	}
	out, err := c.api.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
		Bucket: aws.String(bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	var failed []DeleteError
	if err != nil {
		err = classify(err)
		for _, k := range keys {
			failed = append(failed, DeleteError{Key: k, Err: fmt.Errorf("delete s3://%s/%s: %w", bucket, k, err)})
		}
		return failed
	}
	for _, e := range out.Errors {
		k := aws.ToString(e.Key)
		kerr := classify(&smithy.GenericAPIError{Code: aws.ToString(e.Code), Message: aws.ToString(e.Message)})
		failed = append(failed, DeleteError{Key: k, Err: fmt.Errorf("delete s3://%s/%s: %w", bucket, k, kerr)})
	}
	return failed
}
