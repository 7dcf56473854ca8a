package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
)

// TestOssecRepeatedBucketBlocks runs an ossec.conf Wazuh 4.14.7 accepts,
// with one bucket in several <bucket> blocks, against the local S3 server:
// each block reads its regions with its own settings (alias, deletion), a
// block selecting the objects of an earlier one reads nothing of its own
// and is named in a warning, and no object is read twice.
func TestOssecRepeatedBucketBlocks(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2Server(t).URL)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "central")
	const acct, day = "123456789012", "2024-03-05"
	keys := map[string]string{} // key -> region
	for i, region := range []string{"us-east-1", "us-east-1", "eu-west-1", "ap-south-1"} {
		k := flowKey(acct, region, day, "fl-0a1b2c3d4e5f60718", i)
		srv.Put(t, bucket, k, gz(t, flowBody(acct, 3, 100*(i+1), true)))
		keys[k] = region
	}
	block := func(region, extra string) string {
		return fmt.Sprintf("    <bucket type=\"vpcflow\">\n      <name>%s</name>\n      <regions>%s</regions>\n"+
			"      <only_logs_after>2024-MAR-05</only_logs_after>\n%s    </bucket>\n", bucket, region, extra)
	}
	conf := "<ossec_config>\n  <wodle name=\"aws-s3\">\n    <disabled>no</disabled>\n    <interval>10m</interval>\n" + // lines 1-4
		block("us-east-1", "      <aws_account_alias>east</aws_account_alias>\n") + // line 5
		block("eu-west-1", "      <aws_account_alias>europe</aws_account_alias>\n      <remove_from_bucket>yes</remove_from_bucket>\n") + // line 11
		block("us-east-1", "      <aws_account_alias>again</aws_account_alias>\n") + // line 18
		block("us-east-1", "      <aws_account_alias>prefixed</aws_account_alias>\n      <path>logs</path>\n") + // a '/' is added
		"  </wodle>\n</ossec_config>\n"
	prefixed := "logs/" + flowKey(acct, "us-east-1", day, "fl-0a1b2c3d4e5f60718", 9)
	srv.Put(t, bucket, prefixed, gz(t, flowBody(acct, 3, 900, true)))
	keys[prefixed] = "logs/us-east-1"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ossec.conf"), []byte(conf), 0o644))
	cfg := writeConfig(t, dir, "ossec_conf: ossec.conf\nstate: state.db\nlog: {format: json}\noutputs: {file: {path: alerts.json}}\n")

	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	warns := res.logsWith("configuration: ")
	require.Len(t, warns, 1, res.stderr)
	assert.Equal(t, "configuration: "+filepath.Join(dir, "ossec.conf")+":18: <bucket> 3: selects the same objects as <bucket> 1 ("+
		filepath.Join(dir, "ossec.conf")+":5): not read on its own, as in Wazuh, where the first block marks them read before this one lists them "+
		"(its only_logs_after, aws_account_alias and discard_regex do not apply)", warns[0]["msg"])

	perFile := map[string]int{}
	for _, a := range readAlerts(t, filepath.Join(dir, "alerts.json")) {
		perFile[a.File]++
		want := map[string]string{"us-east-1": "east", "eu-west-1": "europe", "logs/us-east-1": "prefixed"}[keys[a.File]]
		assert.Equal(t, want, a.Alias, "%s is read by the block of its region", a.File)
	}
	for k, region := range keys {
		_, err := srv.Get(bucket, k)
		switch region {
		case "ap-south-1":
			assert.Zero(t, perFile[k], "no block selects %s", k)
			assert.NoError(t, err)
		case "eu-west-1":
			assert.Equal(t, 3, perFile[k], "one alert per record, read once: %s", k)
			assert.Error(t, err, "the eu-west-1 block deletes what it read")
		default:
			assert.Equal(t, 3, perFile[k], "one alert per record, read once: %s", k)
			assert.NoError(t, err, "the us-east-1 block keeps what it read")
		}
	}

	passes := func(res runResult) map[string]string {
		out := map[string]string{}
		for _, l := range res.logsWith("bucket pass") {
			out[fmt.Sprint(l["id"])] = fmt.Sprintf("listed=%v read=%v already_read=%v", l["listed"], l["read"], l["already_read"])
		}
		return out
	}
	east, europe := "vpcflow:"+bucket+"/?regions=us-east-1", "vpcflow:"+bucket+"/?regions=eu-west-1"
	assert.Equal(t, map[string]string{east: "listed=2 read=2 already_read=0", europe: "listed=1 read=1 already_read=0",
		"<nil>": "listed=1 read=1 already_read=0"}, passes(res), "the block with a path is alone with its prefix: no id")

	// A second pass reads nothing again (it lists from the day before the
	// first pass: these objects are older).
	res = runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	assert.Len(t, readAlerts(t, filepath.Join(dir, "alerts.json")), 12)
	assert.Equal(t, map[string]string{east: "listed=0 read=0 already_read=0", europe: "listed=0 read=0 already_read=0",
		"<nil>": "listed=0 read=0 already_read=0"}, passes(res))
}

// TestOssecOverlappingBlocks: a block reading every region and one reading
// us-east-1 of the same bucket are both read, with a warning at start, and
// each object of us-east-1 is read once (the state is per object).
func TestOssecOverlappingBlocks(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_EC2", ec2Server(t).URL)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "overlap")
	const acct, day = "123456789012", "2024-03-05"
	var keys []string
	for i, region := range []string{"us-east-1", "us-east-1", "us-east-1", "eu-west-1"} {
		k := flowKey(acct, region, day, "fl-0a1b2c3d4e5f60718", i)
		srv.Put(t, bucket, k, gz(t, flowBody(acct, 2, 100*(i+1), true)))
		keys = append(keys, k)
	}
	conf := fmt.Sprintf("<ossec_config>\n  <wodle name=\"aws-s3\">\n"+
		"    <bucket type=\"vpcflow\"><name>%[1]s</name><only_logs_after>2024-MAR-05</only_logs_after><aws_account_alias>all</aws_account_alias></bucket>\n"+
		"    <bucket type=\"vpcflow\"><name>%[1]s</name><only_logs_after>2024-MAR-05</only_logs_after><regions>us-east-1</regions><aws_account_alias>east</aws_account_alias></bucket>\n"+
		"  </wodle>\n</ossec_config>\n", bucket)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ossec.conf"), []byte(conf), 0o644))
	cfg := writeConfig(t, dir, "ossec_conf: ossec.conf\nstate: state.db\nconcurrency: 4\nlog: {format: json}\noutputs: {file: {path: alerts.json}}\n")
	res := runMain(t, cfg, true)
	require.Equal(t, 0, res.code, res.stderr)
	require.Len(t, res.logsWith("configuration: "), 1, res.stderr)
	assert.Contains(t, res.logsWith("configuration: ")[0]["msg"], ":4: <bucket> 2: selects some of the objects of <bucket> 1")
	perFile := map[string]int{}
	for _, a := range readAlerts(t, filepath.Join(dir, "alerts.json")) {
		perFile[a.File]++
		assert.Contains(t, []string{"all", "east"}, a.Alias)
	}
	for _, k := range keys {
		assert.Equal(t, 2, perFile[k], "read once: %s", k)
	}
	read := 0
	for _, l := range res.logsWith("bucket pass") {
		read += int(l["read"].(float64))
	}
	assert.Equal(t, len(keys), read, "each object read by one block")
}
