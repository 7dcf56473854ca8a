package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	aws, hive := Layouts[0], Layouts[1]
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		key  string
		want Key
	}{
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/123456789012_vpcflowlogs_us-east-1_fl-1_20240305T1015Z_4c9f2a1e.log.gz",
			Key{Layout: aws, Type: event.LogTypeVPCFlow, Base: "AWSLogs/", AccountID: "123456789012", Region: "us-east-1",
				Scope: "AWSLogs/123456789012/vpcflowlogs/us-east-1/", Day: day, Hour: -1,
				File: "123456789012_vpcflowlogs_us-east-1_fl-1_20240305T1015Z_4c9f2a1e.log.gz", FlowLogID: "fl-1"}},
		{"logs/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/03/05/x.json.gz",
			Key{Layout: aws, Type: event.LogTypeCloudTrail, Base: "logs/AWSLogs/", AccountID: "123456789012", Region: "eu-west-1",
				Scope: "logs/AWSLogs/123456789012/CloudTrail/eu-west-1/", Day: day, Hour: -1, File: "x.json.gz"}},
		{"AWSLogs/o-abc123defg/123456789012/CloudTrail/us-gov-west-1/2024/03/05/x.json.gz",
			Key{Layout: aws, Type: event.LogTypeCloudTrail, Base: "AWSLogs/", OrgID: "o-abc123defg", AccountID: "123456789012", Region: "us-gov-west-1",
				Scope: "AWSLogs/o-abc123defg/123456789012/CloudTrail/us-gov-west-1/", Day: day, Hour: -1, File: "x.json.gz"}},
		{"AWSLogs/123456789012/vpcflowlogs/us-isob-east-1/2024/03/05/07/f.log.gz",
			Key{Layout: aws, Type: event.LogTypeVPCFlow, Base: "AWSLogs/", AccountID: "123456789012", Region: "us-isob-east-1",
				Scope: "AWSLogs/123456789012/vpcflowlogs/us-isob-east-1/", Day: day, Hour: 7, File: "f.log.gz"}},
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=23/x.log.gz",
			Key{Layout: hive, Type: event.LogTypeVPCFlow, Base: "AWSLogs/", AccountID: "123456789012", Region: "us-east-1",
				Scope: "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/", Day: day, Hour: 23, File: "x.log.gz"}},
		// Parquet flow logs (FileFormat parquet) in the four layouts.
		{"AWSLogs/123456789012/vpcflowlogs/eu-west-3/2024/03/05/123456789012_vpcflowlogs_eu-west-3_fl-2_20240305T1015Z_4c9f2a1e.log.parquet",
			Key{Layout: aws, Type: event.LogTypeVPCFlow, Base: "AWSLogs/", AccountID: "123456789012", Region: "eu-west-3",
				Scope: "AWSLogs/123456789012/vpcflowlogs/eu-west-3/", Day: day, Hour: -1,
				File: "123456789012_vpcflowlogs_eu-west-3_fl-2_20240305T1015Z_4c9f2a1e.log.parquet", FlowLogID: "fl-2"}},
		{"p/AWSLogs/123456789012/vpcflowlogs/eu-west-3/2024/03/05/10/123456789012_vpcflowlogs_eu-west-3_fl-3_20240305T1015Z_4c9f2a1e.log.parquet",
			Key{Layout: aws, Type: event.LogTypeVPCFlow, Base: "p/AWSLogs/", AccountID: "123456789012", Region: "eu-west-3",
				Scope: "p/AWSLogs/123456789012/vpcflowlogs/eu-west-3/", Day: day, Hour: 10,
				File: "123456789012_vpcflowlogs_eu-west-3_fl-3_20240305T1015Z_4c9f2a1e.log.parquet", FlowLogID: "fl-3"}},
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=cn-north-1/year=2024/month=03/day=05/123456789012_vpcflowlogs_cn-north-1_fl-4_20240305T0000Z_4c9f2a1e.log.parquet",
			Key{Layout: hive, Type: event.LogTypeVPCFlow, Base: "AWSLogs/", AccountID: "123456789012", Region: "cn-north-1",
				Scope: "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=cn-north-1/", Day: day, Hour: -1,
				File: "123456789012_vpcflowlogs_cn-north-1_fl-4_20240305T0000Z_4c9f2a1e.log.parquet", FlowLogID: "fl-4"}},
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-gov-west-1/year=2024/month=03/day=05/hour=00/123456789012_vpcflowlogs_us-gov-west-1_fl-5_20240305T0000Z_4c9f2a1e.log.parquet",
			Key{Layout: hive, Type: event.LogTypeVPCFlow, Base: "AWSLogs/", AccountID: "123456789012", Region: "us-gov-west-1",
				Scope: "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-gov-west-1/", Day: day, Hour: 0,
				File: "123456789012_vpcflowlogs_us-gov-west-1_fl-5_20240305T0000Z_4c9f2a1e.log.parquet", FlowLogID: "fl-5"}},
		{"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz",
			Key{Layout: aws, Base: "AWSLogs/", AccountID: "123456789012", Region: "us-east-1",
				Scope: "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/", Day: day, Hour: -1, File: "d.json.gz", Skip: true}},
		{"AWSLogs/123456789012/CloudTrail/us-east-1/2024/13/05/x.json.gz",
			Key{Layout: aws, Type: event.LogTypeCloudTrail, Base: "AWSLogs/", AccountID: "123456789012", Region: "us-east-1",
				Scope: "AWSLogs/123456789012/CloudTrail/us-east-1/", Hour: -1, File: "x.json.gz"}},
		{"AWSLogs/123456789012/vpcflowlogs/", Key{Hour: -1, Skip: true}},
		{"notAWSLogs/123456789012/vpcflowlogs/us-east-1/x", Key{Hour: -1}},
		{"AWSLogs/12345/vpcflowlogs/us-east-1/x", Key{Hour: -1}},
		{"AWSLogs/123456789012/vpcflowlogs/us-east/x", Key{Hour: -1}},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1", Key{Hour: -1}},
		{"AWSLogs/o-abc123defg/aws-account-id=123456789012/aws-service=CloudTrail/aws-region=us-east-1/x", Key{Hour: -1}},
		{"AWSLogs/aws-account-id=123456789012/vpcflowlogs/us-east-1/x", Key{Hour: -1}},
		{"flow.log", Key{Hour: -1}},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			assert.Equal(t, c.want, ParseKey(c.key))
		})
	}

	k, ok := ParseKeyUnder("p/AWSLogs/suffix/", "p/AWSLogs/suffix/123456789012/CloudTrail/us-east-1/2024/03/05/x.json.gz")
	assert.True(t, ok)
	assert.Equal(t, "p/AWSLogs/suffix/123456789012/CloudTrail/us-east-1/", k.Scope, "a path_suffix folder before the accounts")
	_, ok = ParseKeyUnder("p/AWSLogs/", "q/AWSLogs/123456789012/CloudTrail/us-east-1/x")
	assert.False(t, ok)
}

// TestParseScope reads the scope prefixes listings use, back to front, so
// that a path or path_suffix before them does not matter.
func TestParseScope(t *testing.T) {
	t.Parallel()
	for prefix, want := range map[string]string{
		"AWSLogs/123456789012/vpcflowlogs/us-east-1/":                                            "aws  AWSLogs/ 123456789012 us-east-1 vpcflow",
		"x/AWSLogs/sfx/o-abc123defg/123456789012/CloudTrail/eu-west-1/":                          "aws o-abc123defg x/AWSLogs/sfx/ 123456789012 eu-west-1 cloudtrail",
		"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=ap-southeast-7/": "hive  AWSLogs/ 123456789012 ap-southeast-7 vpcflow",
		"123456789012/vpcflowlogs/us-east-1/":                                                    "aws   123456789012 us-east-1 vpcflow",
		"AWSLogs/123456789012/vpcflowlogs/":                                                      "",
		"AWSLogs/123456789012/vpcflowlogs/notaregion/":                                           "",
	} {
		k, ok := ParseScope(prefix)
		got := ""
		if ok {
			got = strings.Join([]string{k.Layout.Name, k.OrgID, k.Base, k.AccountID, k.Region, string(k.Type)}, " ")
			assert.Equal(t, prefix, k.Scope)
		}
		assert.Equal(t, want, got, prefix)
	}
}

// TestRegions: the partitions' patterns take the regions of every
// partition and refuse what is not a region.
func TestRegions(t *testing.T) {
	t.Parallel()
	for _, r := range []string{
		"us-east-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-2", "ap-southeast-5", "ap-southeast-7",
		"ap-northeast-3", "ca-central-1", "ca-west-1", "eu-central-2", "eu-north-1", "eu-south-2", "eu-west-3",
		"il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
		"cn-north-1", "cn-northwest-1", // China
		"us-gov-east-1", "us-gov-west-1", // GovCloud
		"us-iso-east-1", "us-iso-west-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1", "us-isof-east-1", // ISO
		"eusc-de-east-1", // European Sovereign Cloud
	} {
		assert.True(t, IsRegion(r), r)
	}
	for _, r := range []string{"", "us-east", "us-east-1a", "US-EAST-1", "useast1", "us_east_1", "local",
		"megov-south-1r", "-us-east-1", "us-east-1/", "aws-global"} {
		assert.False(t, IsRegion(r), r)
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
