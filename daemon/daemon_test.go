package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
)

// noDaemonGoroutines fails when a goroutine of this package outlives Main.
func noDaemonGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	for i := 0; i < 50; i++ {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		n := 0
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "vpcalertd/daemon.") && !strings.Contains(g, "_test.go") && !strings.Contains(g, "testing.tRunner") {
				n++
			}
		}
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon goroutines left after Main returned:\n%s", stacks)
}

func TestRunBuckets(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	ec2 := ec2Server(t)
	dir := t.TempDir()
	flows := srv.NewBucket(t, "flows-it")
	trails := srv.NewBucket(t, "trails-it")
	var flowKeys []string
	for i := 0; i < 3; i++ {
		k := flowKey("111111111111", "us-east-1", "2024-03-05", "fl-0a1b2c3d4e5f60718", i)
		srv.Put(t, flows, k, gz(t, flowBody("111111111111", 10, 1000+i*100, true)))
		flowKeys = append(flowKeys, k)
	}
	// No header line: the columns come from DescribeFlowLogs's LogFormat.
	noHeader := flowKey("222222222222", "eu-west-1", "2024-03-05", "fl-0a1b2c3d4e5f60718", 9)
	srv.Put(t, flows, noHeader, gz(t, flowBody("222222222222", 10, 5000, false)))
	// Hive-compatible partitions with hourly folders.
	hive := "AWSLogs/aws-account-id=333333333333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=10/333333333333_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1000Z_abcd1234.log.gz"
	srv.Put(t, flows, hive, gz(t, flowBody("333333333333", 10, 7000, true)))
	srv.Put(t, flows, "AWSLogs/aws-account-id=333333333333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=04/hour=23/old.log.gz", gz(t, flowBody("333333333333", 3, 8000, true)))
	// Before only_logs_after: never read.
	srv.Put(t, flows, flowKey("111111111111", "us-east-1", "2024-03-04", "fl-0a1b2c3d4e5f60718", 0), gz(t, flowBody("111111111111", 5, 9000, true)))
	trail, err := os.ReadFile("testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	require.NoError(t, err)
	srv.Put(t, trails, trailKey("123456789012", "us-east-1", "2024-03-05", 1), gz(t, trail))
	srv.Put(t, trails, "AWSLogs/o-abcdefghij/210987654321/CloudTrail/us-west-2/2024/03/05/210987654321_CloudTrail_us-west-2_20240305T1000Z_Mu0KsOhtH1ar15ZZ.json.gz", gz(t, trail))
	srv.Put(t, trails, "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz", gz(t, []byte(`{"logFiles":[]}`)))

	alerts := filepath.Join(dir, "alerts.json")
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json, level: debug}
outputs: {file: {path: alerts.json}}
buckets:
  - type: vpcflow
    name: %[3]s
    aws_account_alias: prod
    only_logs_after: 2024-MAR-05
    service_endpoint: %[1]s
    ec2_endpoint: %[2]s
  - type: cloudtrail
    name: %[4]s
    only_logs_after: 2024-MAR-05
    service_endpoint: %[1]s
`, srv.Endpoint, ec2.URL, flows, trails))

	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	got := readAlerts(t, alerts)

	byFile := map[string][]alertLine{}
	rules := map[string]int{}
	for _, a := range got {
		byFile[a.Bucket+"/"+a.File] = append(byFile[a.Bucket+"/"+a.File], a)
		rules[a.RuleID]++
	}
	assert.Equal(t, map[string]int{"80401": 25, "80402": 25, "80202": 2, "80203": 2, "80250": 2}, rules)
	for i, k := range flowKeys {
		as := byFile[flows+"/"+k]
		require.Len(t, as, 10, k)
		for n, a := range as {
			assert.Equal(t, fmt.Sprint(1000+i*100+n), a.SrcPort, "alerts keep the object's line order")
			assert.Equal(t, "111111111111", a.Account)
			assert.Equal(t, "prod", a.Alias)
		}
	}
	assert.Len(t, byFile[flows+"/"+noHeader], 10)
	assert.Equal(t, "222222222222", byFile[flows+"/"+noHeader][0].Account)
	assert.Equal(t, "5000", byFile[flows+"/"+noHeader][0].SrcPort)
	require.Len(t, byFile[flows+"/"+hive], 10)
	assert.Equal(t, "333333333333", byFile[flows+"/"+hive][0].Account)
	var org []alertLine
	for f, as := range byFile {
		if strings.HasPrefix(f, trails+"/AWSLogs/o-abcdefghij/") {
			org = as
		}
	}
	require.Len(t, org, 3, "organization trail read")
	assert.Equal(t, "210987654321", org[0].Account)
	// Each object's alerts are contiguous in the file.
	seen := map[string]bool{}
	for i, a := range got {
		if i > 0 && got[i-1].File == a.File {
			continue
		}
		assert.False(t, seen[a.File], "alerts of %s are split", a.File)
		seen[a.File] = true
	}
	ids := map[string]bool{}
	for _, a := range got {
		assert.False(t, ids[a.ID], "duplicate id %s", a.ID)
		ids[a.ID] = true
	}
	pass := res.logsWith("pass done")
	require.Len(t, pass, 1)
	assert.Equal(t, float64(7), pass[0]["objects"])

	// A second pass finds everything done.
	before, err := os.ReadFile(alerts)
	require.NoError(t, err)
	res = runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	after, err := os.ReadFile(alerts)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "nothing read twice")
	for _, a := range readAlerts(t, alerts) {
		_ = a
	}
	next := readAlerts(t, alerts)
	assert.Len(t, next, len(got))
}

func TestLateArrival(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	late := srv.NewBucket(t, "late-it")
	today := time.Now().UTC().Format("2006-01-02")
	kB := flowKey("111111111111", "us-east-1", today, "fl-0b", 2)
	kC := flowKey("111111111111", "us-east-1", today, "fl-0c", 3)
	kA := flowKey("111111111111", "us-east-1", today, "fl-0a", 1) // sorts before B and C
	require.Less(t, kA, kB)
	srv.Put(t, late, kB, gz(t, flowBody("111111111111", 4, 200, true)))
	srv.Put(t, late, kC, gz(t, flowBody("111111111111", 4, 300, true)))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
metrics: {listen: "127.0.0.1:0"}
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, service_endpoint: %q}]
`, late, srv.Endpoint))
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	first := readAlerts(t, filepath.Join(dir, "alerts.json"))
	require.Len(t, first, 8)
	require.Len(t, res.logsWith("metrics endpoint"), 1)

	// A arrives late, after B and C were read.
	srv.Put(t, late, kA, gz(t, flowBody("111111111111", 4, 100, true)))
	res = runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	all := readAlerts(t, filepath.Join(dir, "alerts.json"))
	require.Len(t, all, 12)
	var files []string
	for _, a := range all[8:] {
		files = append(files, a.File)
	}
	assert.Equal(t, []string{kA, kA, kA, kA}, files, "only the late object is read")
}

func TestBadObjects(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	badB := srv.NewBucket(t, "bad-it")
	badT := srv.NewBucket(t, "badtrail-it")
	day := "2024-03-05"
	good1 := flowKey("111111111111", "us-east-1", day, "fl-00", 0)
	truncated := flowKey("111111111111", "us-east-1", day, "fl-01", 1)
	notGzip := flowKey("111111111111", "us-east-1", day, "fl-02", 2)
	empty := flowKey("111111111111", "us-east-1", day, "fl-03", 3)
	good2 := flowKey("111111111111", "us-east-1", day, "fl-04", 4)
	srv.Put(t, badB, good1, gz(t, flowBody("111111111111", 6, 100, true)))
	full := gz(t, flowBody("111111111111", 400, 1000, true))
	srv.Put(t, badB, truncated, full[:len(full)*2/3])
	srv.Put(t, badB, notGzip, flowBody("111111111111", 3, 2000, true))
	srv.Put(t, badB, empty, nil)
	srv.Put(t, badB, good2, gz(t, flowBody("111111111111", 6, 300, true)))
	trail, err := os.ReadFile("testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	require.NoError(t, err)
	goodTrail := trailKey("123456789012", "us-east-1", day, 1)
	notJSON := trailKey("123456789012", "us-east-1", day, 2)
	srv.Put(t, badT, goodTrail, gz(t, trail))
	srv.Put(t, badT, notJSON, gz(t, []byte("this is not a CloudTrail file\n")))

	config := func(dir string, skip bool) string {
		return writeConfig(t, dir, fmt.Sprintf(`
state: state.db
skip_on_error: %v
concurrency: 1
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: %[3]s, only_logs_after: 2024-MAR-05, service_endpoint: %[2]q}
  - {type: cloudtrail, name: %[4]s, only_logs_after: 2024-MAR-05, service_endpoint: %[2]q}
`, skip, srv.Endpoint, badB, badT))
	}
	badKeys := map[string]string{truncated: badB, notGzip: badB, empty: badB, notJSON: badT}

	t.Run("skip_on_error", func(t *testing.T) {
		dir := t.TempDir()
		cfg := config(dir, true)
		res := runMain(t, cfg, true)
		require.Equal(t, 0, res.code, "skipped bad objects do not fail the pass:\n%s", res.stderr)
		bad := res.logsWith("bad object skipped")
		require.Len(t, bad, 4, res.stderr)
		for _, l := range bad {
			key := l["key"].(string)
			bucket, ok := badKeys[key]
			require.True(t, ok, key)
			assert.Equal(t, bucket, l["bucket"])
			assert.Contains(t, l["error"], "s3://"+bucket+"/"+key, "the error names bucket and key")
		}
		byFile := map[string]int{}
		for _, a := range readAlerts(t, filepath.Join(dir, "alerts.json")) {
			byFile[a.File]++
		}
		assert.Equal(t, 6, byFile[good1])
		assert.Equal(t, 6, byFile[good2], "the rest of the bucket goes on")
		assert.Equal(t, 3, byFile[goodTrail])
		assert.Less(t, byFile[truncated], 400, "only the lines before the cut")
		// Marked: a second pass does not report them again.
		res = runMain(t, cfg, true)
		require.Equal(t, 0, res.code)
		assert.Empty(t, res.logsWith("bad object"))
	})
	t.Run("no-skip", func(t *testing.T) {
		dir := t.TempDir()
		res := runMain(t, config(dir, false), true)
		assert.Equal(t, 1, res.code)
		bad := res.logsWith("bad object; the rest of the bucket waits")
		require.Len(t, bad, 2, res.stderr)
		assert.Equal(t, truncated, bad[0]["key"])
		assert.Contains(t, bad[0]["error"], "s3://"+badB+"/"+truncated)
		assert.Equal(t, notJSON, bad[1]["key"])
		byFile := map[string]int{}
		for _, a := range readAlerts(t, filepath.Join(dir, "alerts.json")) {
			byFile[a.File]++
		}
		assert.Equal(t, map[string]int{good1: 6, goodTrail: 3}, byFile,
			"the flow bucket stops at its bad object; the trail bucket goes on")
	})
}

func TestUnavailableBuckets(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"),
		[]byte("[wrong]\naws_access_key_id = "+s3test.AccessKey+"\naws_secret_access_key = not-the-secret\n"), 0o600))
	avail := srv.NewBucket(t, "avail-it")
	srv.Put(t, avail, flowKey("111111111111", "us-east-1", "2024-03-05", "fl-1", 1), gz(t, flowBody("111111111111", 2, 100, true)))
	cfg := writeConfig(t, dir, fmt.Sprintf(`
state: state.db
log: {format: json}
outputs: {file: {path: alerts.json}}
buckets:
  - {type: vpcflow, name: no-such-bucket-it, service_endpoint: %[1]q}
  - {type: vpcflow, name: %[2]s, path: wrongcreds, aws_profile: wrong, service_endpoint: %[1]q}
  - {type: vpcflow, name: %[2]s, path: other, service_endpoint: %[1]q}
  - {type: vpcflow, name: %[2]s, only_logs_after: 2024-03-05, service_endpoint: %[1]q}
`, srv.Endpoint, avail))
	res := runMain(t, cfg, true)
	assert.Equal(t, 1, res.code)
	un := res.logsWith("bucket unavailable")
	require.Len(t, un, 2, res.stderr)
	assert.Equal(t, "no-such-bucket-it", un[0]["bucket"])
	assert.Equal(t, "bucket does not exist", un[0]["reason"])
	assert.Equal(t, avail, un[1]["bucket"])
	assert.Equal(t, "credentials refused (unknown access key, wrong secret, or expired)", un[1]["reason"])
	assert.NotContains(t, res.stderr, "not-the-secret", "no credential is logged")
	assert.NotContains(t, res.stderr, s3test.SecretKey)
	assert.Len(t, res.logsWith("no account/region folders found"), 1)
	assert.Len(t, readAlerts(t, filepath.Join(dir, "alerts.json")), 2, "the other buckets go on")
}

func TestSeedOssecConf(t *testing.T) {
	// The ossec.conf block users have (Wazuh's VPC guide), bucket name filled
	// in, unchanged: the endpoints and credentials come from the SDK's
	// environment, as they would from the host.
	srv := s3test.Need(t)
	awsEnv(t)
	ec2 := ec2Server(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"),
		[]byte("[default]\naws_access_key_id = "+s3test.AccessKey+"\naws_secret_access_key = "+s3test.SecretKey+"\n"), 0o600))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2.URL)
	seed, err := os.ReadFile("../config/testdata/ossec-seed.conf")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ossec.conf"), seed, 0o644))
	srv.EnsureBucket(t, "wazuh-aws-bucket")
	key := flowKey("123456789012", "us-east-1", time.Now().UTC().Format("2006-01-02"), "fl-0a1b2c3d4e5f60718", 1)
	srv.Put(t, "wazuh-aws-bucket", key, gz(t, flowBody("123456789012", 4, 100, true)))
	t.Cleanup(func() { srv.Delete(t, "wazuh-aws-bucket", key) })
	cfg := writeConfig(t, dir, "ossec_conf: ossec.conf\nstate: state.db\nlog: {format: json}\noutputs: {file: {path: alerts.json}}\n")
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	got := readAlerts(t, filepath.Join(dir, "alerts.json"))
	require.Len(t, got, 4)
	assert.Equal(t, "wazuh-aws-bucket", got[0].Bucket)
	assert.Equal(t, key, got[0].File)
	assert.Empty(t, res.logsWith("DescribeFlowLogs failed"))
}
