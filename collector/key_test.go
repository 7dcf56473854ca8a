package collector

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

func TestParseKey(t *testing.T) {
	cases := []struct {
		key  string
		want KeyInfo
	}{
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-1_20240305T1015Z_4c9f2a1e.log.gz",
			KeyInfo{Type: event.LogTypeVPCFlow, AccountID: "123456789012", Region: "us-east-1"}},
		{"logs/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/03/05/x.json.gz",
			KeyInfo{Type: event.LogTypeCloudTrail, AccountID: "123456789012", Region: "eu-west-1", Prefix: "logs/"}},
		{"AWSLogs/o-abc123defg/123456789012/CloudTrail/us-east-2/2024/03/05/x.json.gz",
			KeyInfo{Type: event.LogTypeCloudTrail, AccountID: "123456789012", Region: "us-east-2", OrgID: "o-abc123defg"}},
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/x.log.gz",
			KeyInfo{Type: event.LogTypeVPCFlow, AccountID: "123456789012", Region: "us-east-1"}},
		{"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz",
			KeyInfo{AccountID: "123456789012", Region: "us-east-1", Skip: true}},
		{"AWSLogs/123456789012/vpcflowlogs/", KeyInfo{Skip: true}},
		{"notAWSLogs/123456789012/vpcflowlogs/us-east-1/x", KeyInfo{}},
		{"AWSLogs/12345/vpcflowlogs/us-east-1/x", KeyInfo{}},
		{"flow.log", KeyInfo{}},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			assert.Equal(t, c.want, ParseKey(c.key))
		})
	}
}

func TestLocalMirror(t *testing.T) {
	dir := t.TempDir()
	keys := []string{
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/b.log.gz",
		"AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/a.json.gz",
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz",
		"plain.log",
	}
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x\n"), 0o644))
	}
	files, err := Local([]string{dir, filepath.Join(dir, "plain.log")}, LocalOptions{AccountAlias: "prod"})
	require.NoError(t, err)
	var got []event.Origin
	for _, f := range files {
		got = append(got, f.Origin)
	}
	require.Len(t, got, 4)
	assert.Equal(t, keys[1], got[0].Key)
	assert.Equal(t, event.LogTypeCloudTrail, got[0].Type)
	assert.Equal(t, keys[0], got[1].Key)
	assert.Equal(t, event.LogTypeVPCFlow, got[1].Type)
	assert.Equal(t, "123456789012", got[1].AccountID)
	assert.Equal(t, "us-east-1", got[1].Region)
	assert.Equal(t, "local", got[1].Bucket)
	assert.Equal(t, "prod", got[1].AccountAlias)
	assert.Equal(t, "plain.log", got[2].Key)
	assert.Equal(t, event.LogTypeUnknown, got[2].Type)
	assert.Equal(t, "plain.log", got[3].Key, "a file named directly keeps its base name")
}
