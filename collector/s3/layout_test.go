package s3

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/event"
)

// folderLister answers Prefixes from a list of keys, as S3 does with
// Delimiter "/".
type folderLister struct {
	keys  []string
	calls []string
	fail  map[string]error
}

func (f *folderLister) Prefixes(_ context.Context, _ string, prefix string) ([]string, error) {
	f.calls = append(f.calls, prefix)
	if err := f.fail[prefix]; err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range f.keys {
		if len(k) <= len(prefix) || k[:len(prefix)] != prefix {
			continue
		}
		rest := k[len(prefix):]
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' {
				if !seen[rest[:i]] {
					seen[rest[:i]] = true
					out = append(out, rest[:i])
				}
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

var bucketKeys = []string{
	"AWSLogs/111111111111/vpcflowlogs/us-east-1/2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz",
	"AWSLogs/111111111111/vpcflowlogs/eu-west-1/2024/03/05/x.log.gz",
	"AWSLogs/111111111111/CloudTrail/us-east-1/2024/03/05/x.json.gz",
	"AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz",
	"AWSLogs/222222222222/vpcflowlogs/ap-south-1/2024/03/05/y.log.gz",
	"AWSLogs/222222222222/vpcflowlogs/not-a-region/2024/03/05/y.log.gz",
	"AWSLogs/o-abcdefghij/333333333333/CloudTrail/us-east-2/2024/03/05/z.json.gz",
	"AWSLogs/o-abcdefghij/444444444444/CloudTrail/us-west-2/2024/03/05/z.json.gz",
	"AWSLogs/aws-account-id=555555555555/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=10/h.log.gz",
	"AWSLogs/junk/readme.txt",
	"logs/AWSLogs/666666666666/CloudTrail/sa-east-1/2024/03/05/p.json.gz",
}

func TestDiscover(t *testing.T) {
	cases := []struct {
		name    string
		lay     Layout
		want    []string // scope prefixes with account/region/org
		missing []string
	}{
		{"vpcflow-all", Layout{Bucket: "b", Type: event.LogTypeVPCFlow}, []string{
			"AWSLogs/111111111111/vpcflowlogs/eu-west-1/ 111111111111 eu-west-1  aws",
			"AWSLogs/111111111111/vpcflowlogs/us-east-1/ 111111111111 us-east-1  aws",
			"AWSLogs/222222222222/vpcflowlogs/ap-south-1/ 222222222222 ap-south-1  aws",
			"AWSLogs/aws-account-id=555555555555/aws-service=vpcflowlogs/aws-region=us-east-1/ 555555555555 us-east-1  hive",
		}, nil},
		{"cloudtrail-with-org-trails", Layout{Bucket: "b", Type: event.LogTypeCloudTrail}, []string{
			"AWSLogs/111111111111/CloudTrail/us-east-1/ 111111111111 us-east-1  aws",
			"AWSLogs/o-abcdefghij/333333333333/CloudTrail/us-east-2/ 333333333333 us-east-2 o-abcdefghij aws",
			"AWSLogs/o-abcdefghij/444444444444/CloudTrail/us-west-2/ 444444444444 us-west-2 o-abcdefghij aws",
		}, nil},
		{"organization-configured", Layout{Bucket: "b", Type: event.LogTypeCloudTrail, OrgID: "o-abcdefghij", Accounts: []string{"444444444444", "999999999999"}}, []string{
			"AWSLogs/o-abcdefghij/444444444444/CloudTrail/us-west-2/ 444444444444 us-west-2 o-abcdefghij aws",
		}, []string{"999999999999"}},
		{"regions-configured", Layout{Bucket: "b", Type: event.LogTypeVPCFlow, Accounts: []string{"222222222222"}, Regions: []string{"us-east-1"}}, []string{
			"AWSLogs/222222222222/vpcflowlogs/us-east-1/ 222222222222 us-east-1  aws",
		}, nil},
		{"path", Layout{Bucket: "b", Type: event.LogTypeCloudTrail, Path: "logs/"}, []string{
			"logs/AWSLogs/666666666666/CloudTrail/sa-east-1/ 666666666666 sa-east-1  aws",
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scopes, missing, err := Discover(context.Background(), &folderLister{keys: bucketKeys}, c.lay)
			require.NoError(t, err)
			var got []string
			for _, s := range scopes {
				assert.Equal(t, c.lay.Type, s.Type)
				assert.Equal(t, "b", s.Bucket)
				got = append(got, s.Prefix+" "+s.AccountID+" "+s.Region+" "+s.OrgID+" "+s.Layout.Name)
			}
			sort.Strings(got)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.missing, missing)
		})
	}
}

func TestDiscoverError(t *testing.T) {
	boom := errors.New("boom")
	l := &folderLister{keys: bucketKeys, fail: map[string]error{"AWSLogs/222222222222/vpcflowlogs/": boom}}
	scopes, _, err := Discover(context.Background(), l, Layout{Bucket: "b", Type: event.LogTypeVPCFlow})
	require.ErrorIs(t, err, boom)
	assert.Len(t, scopes, 2, "the first account's scopes are kept")
}

// below is what a key says under its scope.
type below struct {
	Day       time.Time
	Hour      int
	File      string
	FlowLogID string
}

var hiveLayout = collector.Layouts[1]

func TestScopeParseKey(t *testing.T) {
	plain := Scope{Prefix: "AWSLogs/111111111111/vpcflowlogs/us-east-1/", Type: event.LogTypeVPCFlow}
	hive := Scope{Prefix: "AWSLogs/aws-account-id=555555555555/aws-service=vpcflowlogs/aws-region=us-east-1/", Type: event.LogTypeVPCFlow, Layout: hiveLayout}
	trail := Scope{Prefix: "AWSLogs/111111111111/CloudTrail/us-east-1/", Type: event.LogTypeCloudTrail}
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		scope Scope
		key   string
		want  below
		ok    bool
	}{
		{"flow", plain, plain.Prefix + "2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz",
			below{Day: day, Hour: -1, File: "111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.gz", FlowLogID: "fl-0a1b2c3d4e5f60718"}, true},
		{"flow-hourly", plain, plain.Prefix + "2024/03/05/10/111111111111_vpcflowlogs_us-east-1_fl-1_20240305T1015Z_4c.log.gz",
			below{Day: day, Hour: 10, File: "111111111111_vpcflowlogs_us-east-1_fl-1_20240305T1015Z_4c.log.gz", FlowLogID: "fl-1"}, true},
		{"hive-hourly", hive, hive.Prefix + "year=2024/month=03/day=05/hour=23/f.log.gz",
			below{Day: day, Hour: 23, File: "f.log.gz"}, true},
		{"parquet", plain, plain.Prefix + "2024/03/05/111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.parquet",
			below{Day: day, Hour: -1, File: "111111111111_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f60718_20240305T1015Z_4c9f2a1e.log.parquet", FlowLogID: "fl-0a1b2c3d4e5f60718"}, true},
		{"parquet-hourly", plain, plain.Prefix + "2024/03/05/07/111111111111_vpcflowlogs_us-east-1_fl-2_20240305T0715Z_4c.log.parquet",
			below{Day: day, Hour: 7, File: "111111111111_vpcflowlogs_us-east-1_fl-2_20240305T0715Z_4c.log.parquet", FlowLogID: "fl-2"}, true},
		{"parquet-hive", hive, hive.Prefix + "year=2024/month=03/day=05/555555555555_vpcflowlogs_us-east-1_fl-3_20240305T1015Z_4c.log.parquet",
			below{Day: day, Hour: -1, File: "555555555555_vpcflowlogs_us-east-1_fl-3_20240305T1015Z_4c.log.parquet", FlowLogID: "fl-3"}, true},
		{"parquet-hive-hourly", hive, hive.Prefix + "year=2024/month=03/day=05/hour=00/555555555555_vpcflowlogs_us-east-1_fl-4_20240305T0000Z_4c.log.parquet",
			below{Day: day, Hour: 0, File: "555555555555_vpcflowlogs_us-east-1_fl-4_20240305T0000Z_4c.log.parquet", FlowLogID: "fl-4"}, true},
		{"cloudtrail", trail, trail.Prefix + "2024/03/05/111111111111_CloudTrail_us-east-1_20240305T1015Z_Mu0KsOhtH1ar15ZZ.json.gz",
			below{Day: day, Hour: -1, File: "111111111111_CloudTrail_us-east-1_20240305T1015Z_Mu0KsOhtH1ar15ZZ.json.gz"}, true},
		{"no-date", trail, trail.Prefix + "stray.json.gz", below{Hour: -1, File: "stray.json.gz"}, true},
		{"bad-date", trail, trail.Prefix + "2024/13/05/x.json.gz", below{Hour: -1, File: "x.json.gz"}, true},
		{"outside", trail, "AWSLogs/x", below{Hour: -1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, ok := c.scope.ParseKey(c.key)
			assert.Equal(t, c.ok, ok)
			assert.Equal(t, c.want, below{Day: k.Day, Hour: k.Hour, File: k.File, FlowLogID: k.FlowLogID})
			if ok {
				assert.Equal(t, [4]string{c.scope.AccountID, c.scope.Region, c.scope.Prefix, c.scope.OrgID}, [4]string{k.AccountID, k.Region, k.Scope, k.OrgID})
			}
		})
	}
}

func TestScopeStartAfter(t *testing.T) {
	day := time.Date(2024, 1, 31, 15, 0, 0, 0, time.UTC)
	plain := Scope{Prefix: "AWSLogs/1/CloudTrail/us-east-1/"}
	hive := Scope{Prefix: "AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=us-east-1/", Layout: hiveLayout}
	assert.Equal(t, "AWSLogs/1/CloudTrail/us-east-1/2024/01/31", plain.StartAfter(day))
	assert.Equal(t, hive.Prefix+"year=2024/month=01/day=31", hive.StartAfter(day))
	assert.Less(t, plain.StartAfter(day), plain.Prefix+"2024/01/31/a.json.gz", "the day itself is listed")
	assert.Greater(t, plain.StartAfter(day), plain.Prefix+"2024/01/30/z.json.gz")
}

func mustDay(s string) time.Time {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return d
}
