package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
	"github.com/vpcalertd/vpcalertd/rules/redisstore/redistest"
)

// portScanObjects uploads port scans from sources, one rejected flow per
// object (ports ports per source, all within 40 seconds of event time),
// and returns their notifications, objects of the sources interleaved.
func portScanObjects(t *testing.T, srv *s3test.Server, bucket string, sources []string, ports int) []string {
	var bodies []string
	for p := 0; p < ports; p++ {
		for s, src := range sources {
			i := p*len(sources) + s
			k := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-scan", i)
			at := 1709633700 + 2*p
			line := fmt.Sprintf("2 111111111111 eni-0a1b2c3d4e5f60718 %s 10.0.1.25 %d %d 6 1 44 %d %d REJECT OK\n", src, 40000+p, 20+p*7, at, at+1)
			bodies = append(bodies, s3Note(t, putNote(t, srv, bucket, k, gz(t, []byte(flowHeader+"\n"+line)))))
		}
	}
	return bodies
}

// runPair runs two daemons --once on one queue, each with correlation
// (a YAML block, "" for none), and returns their alerts files and logs.
func runPair(t *testing.T, s3srv *s3test.Server, qs *sqstest.Server, queue, bucket, correlation string) (files []string, logs []string) {
	var procs []*daemonProc
	for i := 0; i < 2; i++ {
		dir := t.TempDir()
		files = append(files, filepath.Join(dir, "alerts.json"))
		cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
outputs: {file: {path: alerts.json}}
%s
buckets: [{type: vpcflow, name: %s, service_endpoint: %q, sqs: %s}]
`, correlation, bucket, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 2, visibility_timeout: 10s")))
		// 20ms per object: both instances get a share of the work.
		procs = append(procs, startDaemonEnv(t, []string{"VPCALERTD_TEST_OBJECT_DELAY=20ms"}, cfg, "--once"))
	}
	for _, p := range procs {
		require.Equal(t, 0, p.wait(t, 2*time.Minute), p.stderr.String())
		logs = append(logs, p.stderr.String())
	}
	return files, logs
}

// portScans counts the port-scan alerts (100401) of the files per source, and
// the objects each file has alerts of.
func portScans(t *testing.T, files []string) (bySource map[string]int, perFile []int) {
	bySource = map[string]int{}
	for _, f := range files {
		objects := map[string]bool{}
		for _, a := range readAllAlerts(t, f) {
			objects[a.File] = true
			if a.RuleID == "100401" {
				bySource[srcAddr(t, a.Raw)]++
			}
		}
		perFile = append(perFile, len(objects))
	}
	return bySource, perFile
}

func srcAddr(t *testing.T, raw string) string {
	var a struct {
		Data struct {
			AWS struct {
				SrcAddr string `json:"srcaddr"`
			} `json:"aws"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &a))
	return a.Data.AWS.SrcAddr
}

// TestQueueTwoInstancesShareCorrelation: port scans of 20 ports from three
// sources, one flow per object, read by two daemons on one queue. With
// their correlation state in one Redis (correlation.store: redis) they
// write exactly what one daemon writes: one port-scan alert per source, in
// one of the two files. With each its own state (store: memory, the
// control) neither sees 15 ports of a source and the scans are missed.
func TestQueueTwoInstancesShareCorrelation(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	rs := redistest.Start(t)
	sources := []string{"198.51.100.7", "198.51.100.8", "198.51.100.9"}
	for _, c := range []struct {
		name, correlation string
		want              int
	}{
		{"redis", fmt.Sprintf("correlation: {store: redis, redis: {address: %q, key_prefix: 'two:'}}", rs.Addr), 1},
		{"memory", "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			queue := qs.CreateQueue(t, "corr-"+c.name)
			b := s3srv.NewBucket(t, "corr-"+c.name)
			qs.Send(t, queue, portScanObjects(t, s3srv, b, sources, 20)...)
			files, logs := runPair(t, s3srv, qs, queue, b, c.correlation)
			bySource, perFile := portScans(t, files)
			for i, n := range perFile {
				assert.Greater(t, n, 5, "instance %d read a share of the objects", i)
			}
			for _, src := range sources {
				assert.Equal(t, c.want, bySource[src], "port-scan alerts of %s", src)
			}
			assert.Len(t, bySource, min(c.want, 1)*len(sources), "port-scan alerts of other sources: %v", bySource)
			assert.Zero(t, qs.Len(t, queue))
			for _, l := range logs {
				assert.NotContains(t, l, "correlation store unavailable")
			}
			if c.name == "redis" {
				keys, err := rs.Client.Keys(t.Context(), "two:a:100401:*").Result()
				require.NoError(t, err)
				assert.Len(t, keys, len(sources), "one window per source in Redis")
			}
		})
	}
}

// TestCorrelationStoreDownAtStart: with correlation.store: redis and no
// server at the address, the daemon starts and reads, says so (a WARN
// naming the address, vpcalertd_correlation_store_available 0, a /readyz
// detail line while staying ready), counts the events it correlates
// locally, and uses the server once it answers.
func TestCorrelationStoreDownAtStart(t *testing.T) {
	s3srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	rs := redistest.Start(t)
	rs.Stop()
	queue := qs.CreateQueue(t, "corr-down")
	b := s3srv.NewBucket(t, "corr-down")
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
metrics: {listen: "127.0.0.1:0"}
outputs: {file: {path: alerts.json}}
correlation: {store: redis, redis: {address: %q, key_prefix: 'down:'}}
buckets: [{type: vpcflow, name: %s, service_endpoint: %q, sqs: %s}]
`, rs.Addr, b, s3srv.Endpoint, sqsYAML(qs, queue, ", workers: 2, visibility_timeout: 10s")))
	p := startMain(t, cfg, Options{})
	base := metricsURL(t, p.stderr)
	qs.Send(t, queue, portScanObjects(t, s3srv, b, []string{"198.51.100.7"}, 20)...)
	require.Eventually(t, func() bool {
		return metricstest.Scrape(t, base+"/metrics").Get("vpcalertd_objects_processed_total") >= 20
	}, 60*time.Second, 50*time.Millisecond)
	m := metricstest.Scrape(t, base+"/metrics")
	assert.Equal(t, 0.0, m.Get("vpcalertd_correlation_store_available"))
	assert.Equal(t, 20.0, m.Get("vpcalertd_correlation_local_events_total"), "every scan flow reached a correlation rule")
	assert.Equal(t, 1.0, m.Get("vpcalertd_correlation_store_outages_total"))
	code, body := httpGet(t, base+"/readyz")
	assert.Equal(t, 200, code, body)
	assert.Contains(t, body, "correlation redis "+rs.Addr+": degraded: unavailable since ")
	warn := logWith(logsOf(p.stderr.String()), "correlation store unavailable: correlating in this process until it is back (alerts that need events counted by other instances meanwhile can be missed)")
	require.Len(t, warn, 1, p.stderr.String())
	assert.Equal(t, "WARN", warn[0]["level"])
	assert.Equal(t, rs.Addr, warn[0]["address"])
	bySource, _ := portScans(t, []string{filepath.Join(dir, "alerts.json")})
	assert.Equal(t, 1, bySource["198.51.100.7"], "one instance: the local correlation finds the scan")

	rs.Restart(t)
	require.Eventually(t, func() bool {
		return metricstest.Scrape(t, base+"/metrics").Get("vpcalertd_correlation_store_available") == 1
	}, 60*time.Second, 100*time.Millisecond, "the server is tried again")
	_, body = httpGet(t, base+"/readyz")
	assert.Contains(t, body, "correlation redis "+rs.Addr+": ok")
	assert.NotEmpty(t, logWith(logsOf(p.stderr.String()), "correlation store available again: correlating in the store"))
	require.Equal(t, 0, p.stop(t))
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
