package daemon

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/config"
)

// flakyS3 sits in front of the real server: every distinct request is
// first answered "503 SlowDown", and the first full download of each
// object is cut after 2000 bytes.
type flakyS3 struct {
	mu       sync.Mutex
	seen     map[string]int
	slowDown int
	cut      int
	proxy    *httputil.ReverseProxy
}

func newFlakyS3(t *testing.T, target string) *httptest.Server {
	u, err := url.Parse(target)
	require.NoError(t, err)
	f := &flakyS3{seen: map[string]int{}}
	f.proxy = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // the signature covers the Host header
	}}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return ts
}

func (f *flakyS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.RequestURI() + " " + r.Header.Get("Range")
	f.mu.Lock()
	f.seen[key]++
	n := f.seen[key]
	f.mu.Unlock()
	if n == 1 {
		f.mu.Lock()
		f.slowDown++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>x</RequestId><HostId>y</HostId></Error>`)
		return
	}
	isObject := r.Method == http.MethodGet && !strings.Contains(r.URL.RawQuery, "list-type") && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0
	if isObject && n == 2 && r.Header.Get("Range") == "" {
		cw := &cuttingWriter{ResponseWriter: w, left: 2000}
		defer func() {
			if cw.cut {
				f.mu.Lock()
				f.cut++
				f.mu.Unlock()
			}
		}()
		f.proxy.ServeHTTP(cw, r)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// cuttingWriter passes the first bytes of a body on, then drops the
// connection.
type cuttingWriter struct {
	http.ResponseWriter
	left int
	cut  bool
}

func (c *cuttingWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		c.cut = true
		panic(http.ErrAbortHandler)
	}
	c.left -= len(p)
	return c.ResponseWriter.Write(p)
}

// TestThrottlingAndBrokenDownloads: every request is throttled once and
// every download breaks once; the pass still reads every object once.
func TestThrottlingAndBrokenDownloads(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	b := srv.NewBucket(t, "flaky-it")
	want := map[string]int{}
	for i := 0; i < 6; i++ {
		k := flowKey("111111111111", "us-east-1", "2024-03-05", fmt.Sprintf("fl-%d", i), i)
		body := gz(t, flowBody("111111111111", 3000, 100, true))
		require.Greater(t, len(body), 4000)
		srv.Put(t, b, k, body)
		want[k] = 3000
	}
	proxy := newFlakyS3(t, srv.Endpoint)
	td := newTestDaemon(t, fmt.Sprintf("state: s.db\noutputs: {file: {path: a.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05}]\n", b))
	td.opts.NewClients = func(ctx context.Context, bc *config.Bucket) (*Clients, error) {
		cfg := srv.Config()
		cfg.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 10
				o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
			})
		}
		c := s3.NewClient(s3.NewAPI(cfg, proxy.URL))
		c.ReadOptions = s3.ReadOptions{Backoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
		return &Clients{S3: c}, nil
	}
	td.now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	res := td.pass(t)
	assert.Equal(t, int64(6), res.Stats.Objects)
	assert.Zero(t, res.Stats.Errors)
	assert.Equal(t, want, td.files(t))
	f := proxy.Config.Handler.(*flakyS3)
	assert.Equal(t, 6, f.cut, "every download was cut once and resumed")
	assert.Equal(t, len(f.seen), f.slowDown, "every request was throttled once")
	assert.Equal(t, 3+6+6, f.slowDown, "three listings, six downloads, six resumed downloads")
}
