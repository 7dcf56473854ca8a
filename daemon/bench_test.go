package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/internal/heappeak"
	"github.com/vpcalertd/vpcalertd/output"
)

// benchLines is the number of records per flow-log object.
const benchLines = 10000

var (
	benchOnce    sync.Once
	benchBuckets map[int]string // objects -> bucket
	benchETag    string         // of every object (they have the same body)
	benchSize    int
	// benchSmall is a bucket of 200 objects of benchSmallLines records,
	// where the cost per object shows.
	benchSmall note
)

const benchSmallLines = 100

// benchSetup uploads buckets of 50 and 200 gzip'd flow-log objects of
// benchLines records each (a real header plus records whose ports vary).
func benchSetup(b *testing.B, srv *s3test.Server) {
	benchOnce.Do(func() {
		benchBuckets = map[int]string{}
		body := gz(b, flowBody("111111111111", benchLines, 1024, true))
		for _, n := range []int{50, 200} {
			name := srv.NewBucket(b, fmt.Sprintf("bench%d", n))
			for i := 0; i < n; i++ {
				benchETag = srv.Put(b, name, benchKey(i), body)
			}
			benchSize = len(body)
			benchBuckets[n] = name
		}
		small := gz(b, flowBody("111111111111", benchSmallLines, 1024, true))
		benchSmall.bucket = srv.NewBucket(b, "benchsmall")
		for i := 0; i < 200; i++ {
			benchSmall.etag = srv.Put(b, benchSmall.bucket, benchKey(i), small)
		}
		benchSmall.size = len(small)
	})
}

// benchKey is the key of the i-th benchmark object.
func benchKey(i int) string {
	return flowKey("111111111111", []string{"us-east-1", "eu-west-1"}[i%2], "2024-03-05", fmt.Sprintf("fl-%05d", i), i)
}

func benchAWSEnv(b *testing.B) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
		"AWS_REGION": s3test.Region, "AWS_EC2_METADATA_DISABLED": "true"} {
		b.Setenv(k, v)
	}
	b.Setenv("AWS_CONFIG_FILE", filepath.Join(b.TempDir(), "none"))
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(b.TempDir(), "none"))
}

// BenchmarkPass reads a whole bucket from the local S3 server: fetch,
// gunzip, decode, rules, alerts written (to the alerts file with fsync at
// each commit, or dropped), done-marks committed. It reports objects/s,
// records/s and the peak heap in use during the pass; the peak should not
// grow with the number of objects.
func BenchmarkPass(b *testing.B) {
	srv := s3test.Need(b)
	benchAWSEnv(b)
	benchSetup(b, srv)
	cases := []struct {
		objects int
		out     string
		small   bool // benchSmallLines records an object, where the cost per object shows
	}{{50, "file", false}, {200, "file", false}, {200, "discard", false}, {200, "file", true}}
	for _, c := range cases {
		name := fmt.Sprintf("objects=%d/out=%s", c.objects, c.out)
		bucket := benchBuckets[c.objects]
		if c.small {
			name = fmt.Sprintf("objects=%d/lines=%d/out=%s", c.objects, benchSmallLines, c.out)
			bucket = benchSmall.bucket
		}
		b.Run(name, func(b *testing.B) {
			var objects, records int64
			var elapsed time.Duration
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				d, closeAll := benchDaemon(b, srv, bucket, c.out)
				runtime.GC()
				sampler := heappeak.Start(20 * time.Millisecond)
				b.StartTimer()
				start := time.Now()
				res, err := d.Pass(context.Background())
				elapsed += time.Since(start)
				b.StopTimer()
				peak = max(peak, sampler.Stop())
				require.NoError(b, err)
				require.Equal(b, int64(c.objects), res.Stats.Objects)
				objects += res.Stats.Objects
				records += res.Stats.Records
				closeAll()
				b.StartTimer()
			}
			b.ReportMetric(float64(objects)/elapsed.Seconds(), "objects/s")
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(peak)/(1<<20), "MB-heap-peak")
		})
	}
}

func benchDaemon(b *testing.B, srv *s3test.Server, bucket, out string) (*Daemon, func()) {
	return benchDaemonSQS(b, srv, bucket, out, "")
}

// benchDaemonSQS builds a daemon for bucket; with sqs, the bucket is
// followed through that sqs section instead of listed.
func benchDaemonSQS(b *testing.B, srv *s3test.Server, bucket, out, sqs string) (*Daemon, func()) {
	dir := b.TempDir()
	if sqs != "" {
		sqs = ", sqs: " + sqs
	}
	cfg, err := config.Load(writeConfig(b, dir, fmt.Sprintf(
		"state: s.db\nprogress_interval: 0s\noutputs: {file: {path: alerts.json}}\nbuckets: [{type: vpcflow, name: %s, only_logs_after: 2024-03-05, service_endpoint: %q%s}]\n",
		bucket, srv.Endpoint, sqs)))
	require.NoError(b, err)
	store, err := state.Open(cfg.StatePath)
	require.NoError(b, err)
	var sink alert.Sink = alert.Discard{}
	var file *output.FileSink
	if out == "file" {
		file, _, err = output.OpenFile(cfg.Output.File.Path, output.FileOptions{Fsync: true}, nil)
		require.NoError(b, err)
		sink = file
	}
	proc, err := NewEngine(cfg, 0, nil)
	require.NoError(b, err)
	d, err := New(Options{Config: cfg, Processor: proc, Sink: sink, File: file, Store: store})
	require.NoError(b, err)
	return d, func() {
		sink.Close()
		store.Close()
	}
}

// BenchmarkQueue reads a bucket's objects announced on an SQS queue (the
// local SQS server, one S3 notification per object): receive, fetch from
// the local S3 server, gunzip, decode, rules, alerts file fsync'd at each
// (group) commit, done-marks, delete. It reports objects/s and records/s
// from the first receive to the last commit, and the peak heap in use, with
// 1, 2 and 4 workers in one instance, and with two instances (in this
// process, each with its own state and alerts file) on one queue.
func BenchmarkQueue(b *testing.B) {
	srv := s3test.Need(b)
	qs := sqstest.Start(b)
	benchAWSEnv(b)
	benchSetup(b, srv)
	const objects = 200
	cases := []struct {
		instances, workers, records int
	}{{1, 1, benchLines}, {1, 2, benchLines}, {1, 4, benchLines}, {2, 2, benchLines}, {1, 4, benchSmallLines}, {2, 2, benchSmallLines}}
	for _, c := range cases {
		bucket, etag, size := benchBuckets[objects], strings.Trim(benchETag, `"`), benchSize
		if c.records == benchSmallLines {
			bucket, etag, size = benchSmall.bucket, strings.Trim(benchSmall.etag, `"`), benchSmall.size
		}
		b.Run(fmt.Sprintf("records=%d/instances=%d/workers=%d", c.records, c.instances, c.workers), func(b *testing.B) {
			var done, records int64
			var elapsed time.Duration
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				queue := qs.CreateQueue(b, "bench")
				bodies := make([]string, objects)
				for i := range bodies {
					bodies[i] = s3Note(b, note{bucket: bucket, key: benchKey(i), etag: etag, size: size})
				}
				qs.Send(b, queue, bodies...)
				var ds []*Daemon
				var closers []func()
				for range c.instances {
					d, closeAll := benchDaemonSQS(b, srv, bucket, "file",
						sqsYAML(qs, queue, fmt.Sprintf(", workers: %d", c.workers)))
					ds = append(ds, d)
					closers = append(closers, closeAll)
				}
				runtime.GC()
				sampler := heappeak.Start(20 * time.Millisecond)
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				results := make([]PassResult, len(ds))
				errs := make([]error, len(ds))
				for i, d := range ds {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i], errs[i] = d.Once(context.Background())
					}()
				}
				wg.Wait()
				for _, err := range errs {
					require.NoError(b, err)
				}
				b.StopTimer()
				peak = max(peak, sampler.Stop())
				var last int64
				var n int64
				for i, d := range ds {
					n += results[i].Stats.Objects
					records += results[i].Stats.Records
					for _, q := range *d.lastQueues.Load() {
						last = max(last, q.c.lastDone.Load())
					}
				}
				require.Equal(b, int64(objects), n)
				done += n
				elapsed += time.Unix(0, last).Sub(start)
				for _, cl := range closers {
					cl()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(done)/elapsed.Seconds(), "objects/s")
			b.ReportMetric(float64(records)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(peak)/(1<<20), "MB-heap-peak")
		})
	}
}
