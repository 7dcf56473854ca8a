package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// ReadOptions tune Reader. Zero values get defaults.
type ReadOptions struct {
	// Resumes bounds how many times a broken download is resumed; default 5.
	Resumes int
	// Backoff is the first wait before a resume, doubled each time up to
	// MaxBackoff; defaults 500ms and 20s.
	Backoff, MaxBackoff time.Duration
	// IdleTimeout abandons a download that delivers no byte for this long
	// and resumes it; default 2 minutes.
	IdleTimeout time.Duration
	// Sleep waits between resumes; default: a timer that stops early when
	// ctx is done. Tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *ReadOptions) defaults() {
	if o.Resumes <= 0 {
		o.Resumes = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 20 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Reader streams one object. When the download breaks (a reset connection,
// a stalled body, a 5xx on GetObject after the SDK's own retries) it asks for
// the rest with a Range request and If-Match on the listed ETag, so the
// bytes it returns are exactly the object's, or an error.
type Reader struct {
	api  API
	obj  Object
	opts ReadOptions
	ctx  context.Context

	off     int64
	body    io.ReadCloser
	cancel  context.CancelFunc
	timer   *time.Timer
	stalled atomic.Bool
	resumes int
	err     error // the transport error that ended the stream
}

// Open returns a Reader for o. Nothing is requested before the first Read.
func (c *Client) Open(ctx context.Context, o Object) *Reader {
	opts := c.ReadOptions
	opts.defaults()
	return &Reader{api: c.api, obj: o, opts: opts, ctx: ctx}
}

// Read reads the object's bytes.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.body == nil {
			if err := r.open(); err != nil {
				return 0, r.fail(err)
			}
		}
		n, err := r.body.Read(p)
		if n > 0 {
			r.timer.Reset(r.opts.IdleTimeout)
			r.off += int64(n)
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF {
			if r.obj.Size > 0 && r.off < r.obj.Size {
				err = io.ErrUnexpectedEOF
			} else {
				r.closeBody()
				r.err = io.EOF
				return n, io.EOF
			}
		}
		r.closeBody()
		if r.ctx.Err() != nil {
			return n, r.fail(r.ctx.Err())
		}
		if rerr := r.retry(err); rerr != nil {
			return n, r.fail(rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// retry waits before the next resume, or says why there is none.
func (r *Reader) retry(cause error) error {
	if r.stalled.Load() {
		cause = fmt.Errorf("no data for %v: %w", r.opts.IdleTimeout, cause)
	}
	if r.resumes >= r.opts.Resumes {
		return fmt.Errorf("read s3://%s/%s at byte %d: gave up after %d resumes: %w", r.obj.Bucket, r.obj.Key, r.off, r.resumes, cause)
	}
	d := r.opts.Backoff << r.resumes
	if d > r.opts.MaxBackoff || d <= 0 {
		d = r.opts.MaxBackoff
	}
	r.resumes++
	return r.opts.Sleep(r.ctx, d)
}

func (r *Reader) open() error {
	for {
		ctx, cancel := context.WithCancel(r.ctx)
		in := &awss3.GetObjectInput{Bucket: aws.String(r.obj.Bucket), Key: aws.String(r.obj.Key)}
		if r.obj.ETag != "" {
			in.IfMatch = aws.String(r.obj.ETag)
		}
		if r.off > 0 {
			in.Range = aws.String("bytes=" + strconv.FormatInt(r.off, 10) + "-")
		}
		out, err := r.api.GetObject(ctx, in)
		if err == nil {
			r.body, r.cancel = out.Body, cancel
			r.stalled.Store(false)
			r.timer = time.AfterFunc(r.opts.IdleTimeout, func() { r.stalled.Store(true); cancel() })
			return nil
		}
		cancel()
		err = classify(err)
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		if Permanent(err) || errors.Is(err, ErrNoSuchKey) || errors.Is(err, ErrChanged) {
			return fmt.Errorf("get s3://%s/%s: %w", r.obj.Bucket, r.obj.Key, err)
		}
		if rerr := r.retry(err); rerr != nil {
			return rerr
		}
	}
}

func (r *Reader) closeBody() {
	if r.body == nil {
		return
	}
	r.timer.Stop()
	r.body.Close()
	r.cancel()
	r.body = nil
}

func (r *Reader) fail(err error) error {
	r.closeBody()
	if !errors.Is(err, io.EOF) {
		r.err = err
	}
	return err
}

// Err returns the error that ended the download (after its resumes), or
// nil when the object was read to its end or not read yet. A decoder error
// with Err nil means the object's content is bad, not the transport.
func (r *Reader) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

// Offset returns the number of bytes read so far.
func (r *Reader) Offset() int64 { return r.off }

// Close releases the download.
func (r *Reader) Close() error {
	r.closeBody()
	return nil
}
