package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyAPI serves one object whose downloads break after a number of bytes.
type flakyAPI struct {
	API
	data   []byte
	breaks []int   // per GetObject call: bytes delivered before the body fails; -1 = whole
	errs   []error // per GetObject call: error instead of a body
	ranges []string
	match  []string
	stall  bool // the first body blocks until its context is cancelled
	short  bool // broken bodies end with io.EOF instead of an error
	calls  int
}

type breakingBody struct {
	r   io.Reader
	err error
}

func (b *breakingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}
func (b *breakingBody) Close() error { return nil }

type stallBody struct{ ctx context.Context }

func (s stallBody) Read([]byte) (int, error) { <-s.ctx.Done(); return 0, s.ctx.Err() }
func (s stallBody) Close() error             { return nil }

func (f *flakyAPI) GetObject(ctx context.Context, in *awss3.GetObjectInput, _ ...func(*awss3.Options)) (*awss3.GetObjectOutput, error) {
	call := f.calls
	f.calls++
	f.ranges = append(f.ranges, aws.ToString(in.Range))
	f.match = append(f.match, aws.ToString(in.IfMatch))
	if call < len(f.errs) && f.errs[call] != nil {
		return nil, f.errs[call]
	}
	if f.stall && call == 0 {
		return &awss3.GetObjectOutput{Body: stallBody{ctx}}, nil
	}
	off := 0
	if r := aws.ToString(in.Range); r != "" {
		off, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r, "bytes="), "-"))
	}
	rest := f.data[off:]
	body := &breakingBody{r: bytes.NewReader(rest)}
	if call < len(f.breaks) && f.breaks[call] >= 0 && f.breaks[call] < len(rest) {
		body = &breakingBody{r: bytes.NewReader(rest[:f.breaks[call]]), err: errors.New("connection reset by peer")}
		if f.short {
			body.err = nil
		}
	}
	return &awss3.GetObjectOutput{Body: body}, nil
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestReader(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 1000)
	obj := Object{Bucket: "b", Key: "k", ETag: `"e1"`, Size: int64(len(data))}
	cases := []struct {
		name    string
		api     *flakyAPI
		opts    ReadOptions
		wantErr string
		ranges  []string
	}{
		{"whole", &flakyAPI{}, ReadOptions{}, "", []string{""}},
		{"resumes", &flakyAPI{breaks: []int{1234, 10, -1}}, ReadOptions{}, "", []string{"", "bytes=1234-", "bytes=1244-"}},
		{"5xx-then-ok", &flakyAPI{errs: []error{&smithy.GenericAPIError{Code: "InternalError"}}}, ReadOptions{}, "", []string{"", ""}},
		{"gives-up", &flakyAPI{breaks: []int{100, 0, 0}}, ReadOptions{Resumes: 2}, "read s3://b/k at byte 100: gave up after 2 resumes: connection reset by peer", []string{"", "bytes=100-", "bytes=100-"}},
		{"changed", &flakyAPI{breaks: []int{100}, errs: []error{nil, &smithy.GenericAPIError{Code: "PreconditionFailed"}}}, ReadOptions{}, "object changed while reading", []string{"", "bytes=100-"}},
		{"denied", &flakyAPI{errs: []error{&smithy.GenericAPIError{Code: "AccessDenied"}}}, ReadOptions{}, "get s3://b/k: access denied", []string{""}},
		{"stalled", &flakyAPI{stall: true}, ReadOptions{IdleTimeout: 10 * time.Millisecond}, "", []string{"", ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.api.data = data
			c.opts.Sleep = noSleep
			cl := &Client{api: c.api, ReadOptions: c.opts}
			r := cl.Open(context.Background(), obj)
			got, err := io.ReadAll(r)
			if c.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.wantErr)
				assert.Equal(t, err, r.Err())
			} else {
				require.NoError(t, err)
				assert.Equal(t, data, got)
				assert.NoError(t, r.Err())
			}
			assert.Equal(t, c.ranges, c.api.ranges)
			for _, m := range c.api.match {
				assert.Equal(t, `"e1"`, m, "every request is conditional on the listed ETag")
			}
			require.NoError(t, r.Close())
		})
	}
}

func TestReaderShortBody(t *testing.T) {
	// A body that ends early without an error is resumed too.
	data := []byte("abcdef")
	api := &flakyAPI{data: data, breaks: []int{3, -1}, short: true}
	cl := &Client{api: api, ReadOptions: ReadOptions{Sleep: noSleep}}
	r := cl.Open(context.Background(), Object{Bucket: "b", Key: "k", Size: 6})
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, data, got)
	assert.Equal(t, []string{"", "bytes=3-"}, api.ranges)
}

func TestReaderCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	api := &flakyAPI{data: []byte("abc"), stall: true}
	cl := &Client{api: api, ReadOptions: ReadOptions{Sleep: noSleep}}
	r := cl.Open(ctx, Object{Bucket: "b", Key: "k"})
	_, err := io.ReadAll(r)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, r.Err(), context.Canceled)
}
