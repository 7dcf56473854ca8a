package sqs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
)

// rig is one local SQS server with one queue, and the helpers the consumer
// tests share.
type rig struct {
	t     *testing.T
	srv   *sqstest.Server
	queue string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := sqstest.Start(t)
	return &rig{t: t, srv: srv, queue: srv.CreateQueue(t, "q")}
}

// config returns a consumer configuration for the rig's queue: 4 workers,
// 30s visibility, 3 receives, 1s long polls (local-aws-sqs does not end a
// long poll when a message becomes visible again, only on a send, so short
// waits keep retries quick), and a quarantine file in a temporary folder.
func (r *rig) config(mod func(*Config)) Config {
	cfg := Config{
		QueueURL:          r.queue,
		Region:            sqstest.Region,
		Endpoint:          r.srv.Endpoint,
		Workers:           4,
		VisibilityTimeout: 30 * time.Second,
		MaxReceives:       3,
		WaitTime:          time.Second,
		QuarantineFile:    filepath.Join(r.t.TempDir(), "quarantine.jsonl"),
	}
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

// running is a consumer started by rig.start.
type running struct {
	c          *Consumer
	m          *metrics.Metrics
	metricsURL string
	stop       func()
}

// start runs a consumer with its own metrics (served on a free loopback
// port) until the returned stop is called (also at cleanup).
func (r *rig) start(cfg Config, h Handler) *running {
	r.t.Helper()
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	c, err := NewConsumer(cfg, r.srv.Client, testLogger(r.t), m)
	require.NoError(r.t, err)
	srv, err := metrics.Listen("127.0.0.1:0", m, metrics.ServeOptions{})
	require.NoError(r.t, err)

	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	serveErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, h) }()
	go func() { serveErr <- srv.Serve(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-runErr:
				require.NoError(r.t, err)
			case <-time.After(60 * time.Second):
				r.t.Fatalf("consumer did not stop within 60s")
			}
			require.NoError(r.t, <-serveErr)
		})
	}
	r.t.Cleanup(stop)
	return &running{c: c, m: m, metricsURL: "http://" + srv.Addr().String() + "/metrics", stop: stop}
}

// scrape reads the consumer's /metrics over HTTP.
func (rn *running) scrape(t *testing.T) metricstest.Samples {
	t.Helper()
	return metricstest.Scrape(t, rn.metricsURL)
}

// waitEmpty waits until the rig's queue holds no message, visible or not.
func (r *rig) waitEmpty(queue string, within time.Duration) {
	r.t.Helper()
	require.Eventually(r.t, func() bool {
		return r.srv.Len(r.t, queue) == 0
	}, within, 50*time.Millisecond, "queue %s not empty", queue)
}

// recorder is a Handler that records each call and answers with fn.
type recorder struct {
	mu    sync.Mutex
	calls []Object
	fn    func(ctx context.Context, obj Object) error
}

func (rec *recorder) handle(ctx context.Context, obj Object) error {
	rec.mu.Lock()
	rec.calls = append(rec.calls, obj)
	rec.mu.Unlock()
	if rec.fn != nil {
		return rec.fn(ctx, obj)
	}
	return nil
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.calls)
}

// byKey returns how many times each bucket/key was handled.
func (rec *recorder) byKey() map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make(map[string]int)
	for _, o := range rec.calls {
		out[o.Bucket+"/"+o.Key]++
	}
	return out
}

// s3Put returns the documented ObjectCreated:Put notification for bucket and
// key (the key written as given, so pass it URL-encoded).
func s3Put(t testing.TB, bucket, encodedKey string) string {
	return edit(t, sample(t, "s3-event-notification-ObjectCreated-Put.awsdocs.json"), func(m map[string]any) {
		rec := m["Records"].([]any)[0].(map[string]any)
		rec["s3"].(map[string]any)["bucket"].(map[string]any)["name"] = bucket
		s3Object(m, 0)["key"] = encodedKey
	})
}

// testLogger logs to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(&testWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = (*testWriter)(nil)

// keyN names the n-th generated object key.
func keyN(n int) string {
	return fmt.Sprintf("AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-0abc_20240305T1000Z_%04d.log.gz", n)
}
