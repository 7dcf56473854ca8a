package s3

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Older says what a scope holds before a day: objects a listing from that
// day does not see.
type Older struct {
	// Count is how many objects were counted, at most the limit given.
	Count int
	// More is set when there are more than Count.
	More bool
	// Oldest and Newest are the first and last days with such objects
	// (their date folders); zero when Count is 0 or the keys carry no date.
	Oldest, Newest time.Time
}

// OlderThan counts the scope's objects before day, one listing page (up to
// limit keys) from the start of the scope. When there are more, the newest
// day before day that holds an object is found by bisecting days with
// one-key listings (about log2 of the days in between).
func (c *Client) OlderThan(ctx context.Context, sc Scope, day time.Time, limit int) (Older, error) {
	var o Older
	before := sc.StartAfter(day)
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(sc.Bucket), Prefix: aws.String(sc.Prefix), MaxKeys: aws.Int32(int32(limit))}
	out, err := c.api.ListObjectsV2(ctx, in)
	if err != nil {
		return o, fmt.Errorf("list s3://%s/%s: %w", sc.Bucket, sc.Prefix, classify(err))
	}
	var last string
	for _, obj := range out.Contents {
		k := aws.ToString(obj.Key)
		if k >= before {
			return c.older(o, sc, last), nil
		}
		if strings.HasSuffix(k, "/") {
			continue
		}
		if o.Count == 0 {
			o.Oldest = keyDay(sc, k)
		}
		o.Count++
		last = k
	}
	if !aws.ToBool(out.IsTruncated) || o.Count == 0 {
		return c.older(o, sc, last), nil
	}
	// More than one page before the window: find the newest day by
	// bisection over [day of last, day).
	o.More = true
	lo := keyDay(sc, last) // holds an object
	if lo.IsZero() {
		return o, nil
	}
	hi := day // holds none before the window: the upper bound
	newest := lo
	for hi.Sub(lo) > 24*time.Hour {
		mid := lo.AddDate(0, 0, int(hi.Sub(lo).Hours()/24/2))
		k, err := c.firstAfter(ctx, sc, sc.StartAfter(mid))
		if err != nil {
			return o, err
		}
		if k != "" && k < before {
			lo = mid
			if d := keyDay(sc, k); !d.IsZero() {
				newest = d
			}
		} else {
			hi = mid
		}
	}
	o.Newest = newest
	return o, nil
}

func (c *Client) older(o Older, sc Scope, last string) Older {
	if last != "" {
		o.Newest = keyDay(sc, last)
	}
	return o
}

// firstAfter returns the first key of the scope after startAfter, or "".
func (c *Client) firstAfter(ctx context.Context, sc Scope, startAfter string) (string, error) {
	out, err := c.api.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(sc.Bucket), Prefix: aws.String(sc.Prefix),
		StartAfter: aws.String(startAfter), MaxKeys: aws.Int32(1)})
	if err != nil {
		return "", fmt.Errorf("list s3://%s/%s: %w", sc.Bucket, sc.Prefix, classify(err))
	}
	if len(out.Contents) == 0 {
		return "", nil
	}
	return aws.ToString(out.Contents[0].Key), nil
}

func keyDay(sc Scope, key string) time.Time {
	ki, _ := sc.ParseKey(key)
	return ki.Day
}
