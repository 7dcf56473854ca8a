package daemon

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
)

// trailRecords returns the four records of the CloudTrail sample (three
// of them alert with the stock rules), one per element.
func trailRecords(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	require.NoError(t, err)
	var recs []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, `{"eventVersion"`) {
			recs = append(recs, strings.TrimSuffix(l, ","))
		}
	}
	require.Len(t, recs, 4)
	return recs
}

// gzipMembers writes parts as a gzip file of one member per part (a
// valid gzip file: readers go on across members), repeating the member of
// part i reps[i] times, so that a test makes a file of a gigabyte
// compressing only a megabyte once.
type gzipMembers struct{ bytes.Buffer }

func (g *gzipMembers) add(t *testing.T, part []byte, reps int) {
	t.Helper()
	var m bytes.Buffer
	w, err := gzip.NewWriterLevel(&m, gzip.BestCompression)
	require.NoError(t, err)
	_, err = w.Write(part)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	for i := 0; i < reps; i++ {
		g.Write(m.Bytes())
	}
}

// TestRecordLimitsDaemon: records beyond limits.record_size and
// limits.record_fields, or nested too deep, are skipped by the daemon with
// a WARN naming the object, the record's index and size, the setting and
// what to do; they are counted by reason in
// vpcalertd_records_skipped_total; the records around them alert.
func TestRecordLimitsDaemon(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "limits-it")
	recs := trailRecords(t)
	huge := `{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"CreateVpc","awsRegion":"us-east-1","userAgent":"` +
		strings.Repeat("a", 100<<10) + `"}`
	fields := `{"eventVersion":"1.09","eventName":"CreateVpc","requestParameters":{` + strings.Repeat(`"k":1,`, 3000) + `"z":1}}`
	deep := `{"eventVersion":"1.09","eventName":"CreateVpc","requestParameters":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	doc := `{"Records":[` + strings.Join([]string{recs[0], huge, recs[1], fields, recs[2], deep, recs[3]}, ",") + `]}`
	key := trailKey("123456789012", "us-east-1", "2024-03-05", 1)
	srv.Put(t, bucket, key, gz(t, []byte(doc)))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
concurrency: 1
log: {format: json}
limits: {record_size: 64KiB, record_fields: 2000}
outputs: {file: {path: alerts.json}}
buckets: [{type: cloudtrail, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, srv.Endpoint))

	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	res := runMainOpts(t, cfg, Options{Once: true, Metrics: m})
	require.Equal(t, 0, res.code, res.stderr)
	obj := "s3://" + bucket + "/" + key
	var errs []string
	for _, l := range res.logsWith("bad record") {
		assert.Equal(t, "WARN", l["level"])
		assert.Equal(t, bucket, l["bucket"])
		assert.Equal(t, key, l["key"])
		errs = append(errs, l["error"].(string))
	}
	assert.Equal(t, []string{
		fmt.Sprintf("%s:2: record 2 (%d bytes) skipped, not decoded: larger than limits.record_size (65536 bytes); "+
			"raise limits.record_size if the bucket's writers send such records", obj, len(huge)),
		fmt.Sprintf("%s:4: record 4 (%d bytes) skipped, not decoded: more than 2000 fields (limits.record_fields); "+
			"raise limits.record_fields if the bucket's writers send such records", obj, len(fields)),
		fmt.Sprintf("%s:6: record 6 (%d bytes) skipped, not decoded: nested more than 1000 levels deep "+
			"(no AWS log nests so deep: check who writes to the bucket)", obj, len(deep)),
	}, errs, res.stderr)
	sum := res.logsWith("object has bad records")
	require.Len(t, sum, 1, res.stderr)
	assert.Equal(t, 3.0, sum[0]["bad_records"])
	g := metricstest.Gather(t, m.Registry())
	for _, reason := range []metrics.SkipReason{metrics.SkipTooLarge, metrics.SkipTooManyFields, metrics.SkipTooDeep} {
		assert.Equal(t, 1.0, g.Get("vpcalertd_records_skipped_total", "reason", string(reason)), reason)
	}
	assert.Equal(t, map[string]int{key: 3}, alertFilesByKey(t, dir), "the records around the skipped ones alert")
}

// peakRSS reads the "peak rss: N kB" line the daemon helper writes at
// exit under VPCALERTD_TEST_MEMLIMIT.
func peakRSS(t *testing.T, stderr string) int64 {
	t.Helper()
	m := regexp.MustCompile(`peak rss: (\d+) kB`).FindStringSubmatch(stderr)
	require.NotNil(t, m, "no peak rss line:\n%s", stderr)
	n, err := strconv.ParseInt(m[1], 10, 64)
	require.NoError(t, err)
	return n << 10
}

// TestHugeRecordBoundedMemory is the case of issue 20: a CloudTrail
// object of about 1 MB of gzip holding a record whose userAgent is 1 GiB
// (it took an unbounded daemon to 10 GB and a 1 GiB alert line) and a
// record of 1,000,000 keys (780 MB). A real daemon reads it in a child
// process whose address space is capped at 3 GiB (RLIMIT_AS: beyond it
// the Go runtime dies "out of memory"; the daemon reserves about 1.8 GiB
// of it): it skips both records with a WARN each, alerts on the others,
// marks the object, exits 0, and its peak resident memory stays far below
// the record's size. With the bound lifted (limits.record_size: 1GiB, the
// largest allowed) the same daemon dies there.
func TestHugeRecordBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 1 GiB of gzip'd JSON (about 10 s); -short skips it")
	}
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "hugerecord-it")
	recs := trailRecords(t)

	const agent = 1 << 30
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	var keys strings.Builder
	keys.WriteString(`{"eventVersion":"1.09","eventName":"CreateVpc","requestParameters":{`)
	for i := 0; i < 1_000_000; i++ {
		fmt.Fprintf(&keys, `"k%d":%d,`, i, i)
	}
	keys.WriteString(`"z":0}}`)
	var obj gzipMembers
	obj.add(t, []byte(`{"Records":[`+recs[0]+`,{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"CreateVpc","userAgent":"`), 1)
	obj.add(t, chunk, agent/len(chunk))
	obj.add(t, []byte(`"},`+recs[1]+","+recs[2]+","+keys.String()+","+recs[3]+`]}`), 1)
	t.Logf("object: %d bytes of gzip, a %d-byte userAgent and a %d-byte record of 1,000,000 keys", obj.Len(), agent, keys.Len())
	require.Less(t, obj.Len(), 8<<20, "small in the bucket")
	key := trailKey("123456789012", "us-east-1", "2024-03-05", 1)
	srv.Put(t, bucket, key, obj.Bytes())
	conf := func(dir, limits string) string {
		return writeConfig(t, dir, fmt.Sprintf(`
state: state.db
concurrency: 2
log: {format: json}
limits: {%s}
outputs: {file: {path: alerts.json}}
buckets: [{type: cloudtrail, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, limits, bucket, srv.Endpoint))
	}
	// The Go runtime reserves address space it does not use: this
	// daemon's peak address space is about 1.8 GiB for 50 MiB resident.
	limit := int64(3 << 30)
	if s := os.Getenv("VPCALERTD_TEST_AS"); s != "" { // to measure
		limit, _ = strconv.ParseInt(s, 10, 64)
	}
	memEnv := []string{"VPCALERTD_TEST_MEMLIMIT=" + strconv.FormatInt(limit, 10)}

	// The bound lifted, the same daemon dies: the test's limit is real.
	t.Run("unbounded", func(t *testing.T) {
		p := startDaemonEnv(t, memEnv, conf(t.TempDir(), "record_size: 1GiB, record_fields: 10000000"), "--once")
		code := p.wait(t, 10*time.Minute)
		require.NotEqual(t, 0, code, p.stderr.String())
		assert.Contains(t, p.stderr.String(), "out of memory")
		for _, l := range strings.Split(p.stderr.String(), "\n") {
			if strings.Contains(l, "out of memory") {
				t.Logf("exit status %d: %s", code, l)
				break
			}
		}
	})

	cfg := conf(dir, "")
	p := startDaemonEnv(t, memEnv, cfg, "--once")
	code := p.wait(t, 10*time.Minute)
	stderr := p.stderr.String()
	require.Equal(t, 0, code, stderr)
	peak := peakRSS(t, stderr)
	t.Logf("peak resident memory: %d MiB", peak>>20)
	assert.Less(t, peak, int64(256<<20), "memory is bounded by the record limit, not the record")
	objPath := "s3://" + bucket + "/" + key
	assert.Contains(t, stderr, fmt.Sprintf(`"error":"%s:2: record 2 (%d bytes) skipped, not decoded: larger than limits.record_size (1048576 bytes)`,
		objPath, agent+len(`{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"CreateVpc","userAgent":""}`)))
	assert.Contains(t, stderr, fmt.Sprintf(`"error":"%s:5: record 5 (%d bytes) skipped, not decoded: more than 10000 fields (limits.record_fields)`,
		objPath, keys.Len()), "the fields' count stops it before its size")
	assert.Equal(t, map[string]int{key: 3}, alertFilesByKey(t, dir), "the other records alert")
	st, err := os.Stat(dir + "/alerts.json")
	require.NoError(t, err)
	assert.Less(t, st.Size(), int64(64<<10), "no huge alert line")

	// Marked: the next run does not read it again.
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Empty(t, res.logsWith("bad record"))
	assert.Equal(t, map[string]int{key: 3}, alertFilesByKey(t, dir))
}
