package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/decoders/parquet"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
)

// procFunc is a Processor.
type procFunc func(ctx context.Context, origin event.Origin, r io.Reader, sink alert.Sink) (engine.Stats, error)

func (f procFunc) Process(ctx context.Context, origin event.Origin, r io.Reader, sink alert.Sink) (engine.Stats, error) {
	return f(ctx, origin, r, sink)
}

// parquetBody is flowBody written as Parquet in AWS's schema.
func parquetBody(t testing.TB, acct string, n, port int) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, parquet.WriteText(&b, bytes.NewReader(flowBody(acct, n, port, true)), parquet.WriteOptions{RowGroupRows: 4}))
	return b.Bytes()
}

// parquetKeys are the four layouts of a Parquet flow log: plain, hourly,
// Hive-compatible, Hive-compatible and hourly.
func parquetKeys(acct string) []string {
	name := acct + "_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T10%02dZ_%08x.log.parquet"
	return []string{
		"AWSLogs/" + acct + "/vpcflowlogs/us-east-1/2024/03/05/" + fmt.Sprintf(name, 0, 1),
		"AWSLogs/" + acct + "/vpcflowlogs/us-east-1/2024/03/05/10/" + fmt.Sprintf(name, 5, 2),
		"AWSLogs/aws-account-id=" + acct + "/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/" + fmt.Sprintf(name, 10, 3),
		"AWSLogs/aws-account-id=" + acct + "/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=10/" + fmt.Sprintf(name, 15, 4),
	}
}

// TestParquetObjects: Parquet flow logs in every layout are read by the
// listing and through SQS notifications, with the alerts of their text
// form; bad Parquet objects are named and skipped, and the daemon goes on.
// The objects pass through the spool folder and leave nothing there.
func TestParquetObjects(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	qs := sqstest.Start(t)
	queue := qs.CreateQueue(t, "parquet")
	listed := srv.NewBucket(t, "pq-listed")
	notified := srv.NewBucket(t, "pq-notified")
	want := map[string]int{}
	var notes []note
	for i, key := range parquetKeys("111111111111") {
		srv.Put(t, listed, key, parquetBody(t, "111111111111", 10, 1000+100*i))
		want[listed+"/"+key] = 10
	}
	for i, key := range parquetKeys("222222222222") {
		notes = append(notes, putNote(t, srv, notified, key, parquetBody(t, "222222222222", 10, 2000+100*i)))
		want[notified+"/"+key] = 10
	}
	// Bad objects, and a good one after them.
	full := parquetBody(t, "111111111111", 40, 3000)
	truncated := "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1030Z_0000000a.log.parquet"
	notParquet := "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1035Z_0000000b.log.parquet"
	damaged := bytes.Clone(full)
	for i := len(damaged) / 2; i < len(damaged)/2+64; i++ {
		damaged[i] ^= 0x5a
	}
	damagedKey := "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1040Z_0000000c.log.parquet"
	after := "AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1045Z_0000000d.log.gz"
	srv.Put(t, listed, truncated, full[:len(full)-50])
	srv.Put(t, listed, notParquet, flowBody("111111111111", 3, 4000, true))
	srv.Put(t, listed, damagedKey, damaged)
	srv.Put(t, listed, after, gz(t, flowBody("111111111111", 6, 5000, true)))
	want[listed+"/"+after] = 6
	for _, n := range notes {
		qs.Send(t, queue, s3Note(t, n))
	}

	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
skip_on_error: true
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: %[1]s, only_logs_after: 2024-MAR-05, service_endpoint: %[3]q}
  - {type: vpcflow, name: %[2]s, service_endpoint: %[3]q, sqs: %[4]s}
`, listed, notified, srv.Endpoint, sqsYAML(qs, queue, "")))
	// The engine reads each Parquet object from a file of the spool folder.
	var mu sync.Mutex
	readFrom := map[string]string{}
	record := func(cfg *config.Config, idOffset int64, onError func(error)) (Processor, error) {
		p, err := NewEngine(cfg, idOffset, onError)
		return procFunc(func(ctx context.Context, origin event.Origin, r io.Reader, sink alert.Sink) (engine.Stats, error) {
			where := fmt.Sprintf("%T", r)
			if f, ok := r.(*os.File); ok {
				where = filepath.Dir(f.Name())
			}
			mu.Lock()
			readFrom[origin.Key] = where
			mu.Unlock()
			return p.Process(ctx, origin, r, sink)
		}), err
	}
	res := runMainOpts(t, cfg, Options{Once: true, NewProcessor: record})
	require.Equal(t, 0, res.code, res.stderr)
	for key, where := range readFrom {
		if strings.HasSuffix(key, ".log.parquet") && key != notParquet {
			assert.Equal(t, filepath.Join(dir, "spool"), where, key)
		} else {
			assert.NotEqual(t, filepath.Join(dir, "spool"), where, "%s is streamed", key)
		}
	}
	assert.Len(t, readFrom, 12)

	got := map[string]int{}
	accounts := map[string]string{}
	for _, a := range readAlerts(t, filepath.Join(dir, "alerts.json")) {
		got[a.Bucket+"/"+a.File]++
		accounts[a.Bucket+"/"+a.File] = a.Account
	}
	damagedAlerts := got[listed+"/"+damagedKey]
	delete(got, listed+"/"+damagedKey)
	assert.Equal(t, want, got)
	assert.Less(t, damagedAlerts, 40, "only the rows before the damage")
	for key, acct := range accounts {
		if strings.HasPrefix(key, notified+"/") {
			assert.Equal(t, "222222222222", acct, key)
		} else {
			assert.Equal(t, "111111111111", acct, key)
		}
	}

	bad := res.logsWith("bad object skipped")
	require.Len(t, bad, 3, res.stderr)
	errs := map[string]string{}
	for _, l := range bad {
		errs[l["key"].(string)] = l["error"].(string)
	}
	path := func(key string) string { return "s3://" + listed + "/" + key }
	assert.Contains(t, errs[truncated], path(truncated)+": not a readable Parquet file: ")
	assert.Equal(t, path(notParquet)+": not a Parquet file: it does not start with PAR1 (the whole file is skipped)", errs[notParquet])
	assert.Contains(t, errs[damagedKey], path(damagedKey)+": row group ")
	assert.Contains(t, errs[damagedKey], "rows not read)")

	spooled, err := filepath.Glob(filepath.Join(dir, "spool", "*"))
	require.NoError(t, err)
	assert.Empty(t, spooled, "spooled objects are unlinked")
	assert.Zero(t, qs.Len(t, queue), "every message deleted")

	// A second pass: everything is done, nothing is written again.
	before, err := os.ReadFile(filepath.Join(dir, "alerts.json"))
	require.NoError(t, err)
	res = runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	again, err := os.ReadFile(filepath.Join(dir, "alerts.json"))
	require.NoError(t, err)
	assert.Equal(t, len(before), len(again))
}
