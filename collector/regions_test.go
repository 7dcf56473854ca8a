package collector

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sdkPartitions reads the AWS SDK's partition metadata from the module
// cache: the partitions.json of the github.com/aws/aws-sdk-go-v2 version
// go.mod requires. No network: the module is in the cache once anything of
// the daemon was built.
func sdkPartitions(t *testing.T) (version string, parts []sdkPartition) {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-json", "github.com/aws/aws-sdk-go-v2")
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	require.NoError(t, err, "go list -m github.com/aws/aws-sdk-go-v2 (run `go mod download github.com/aws/aws-sdk-go-v2` first): %s", exitStderr(err))
	var mod struct{ Version, Dir string }
	require.NoError(t, json.Unmarshal(out, &mod))
	require.NotEmpty(t, mod.Dir, "github.com/aws/aws-sdk-go-v2 %s is not in the module cache: run `go mod download github.com/aws/aws-sdk-go-v2`", mod.Version)
	p := filepath.Join(mod.Dir, "internal", "endpoints", "awsrulesfn", "partitions.json")
	data, err := os.ReadFile(p)
	require.NoError(t, err, "the SDK's partition metadata moved: find partitions.json in %s and fix this test", mod.Dir)
	var doc struct {
		Partitions []sdkPartition `json:"partitions"`
	}
	require.NoError(t, json.Unmarshal(data, &doc), p)
	require.NotEmpty(t, doc.Partitions, p)
	return mod.Version, doc.Partitions
}

type sdkPartition struct {
	ID          string `json:"id"`
	RegionRegex string `json:"regionRegex"`
	Regions     map[string]struct {
		Description string `json:"description"`
	} `json:"regions"`
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestPartitionsMatchSDK keeps the table of regions in step with the AWS
// SDK's partition metadata: the same partitions, the same region patterns,
// the same regions and names (the SDK's pseudo-regions such as aws-global,
// which do not match their partition's pattern, left out). When the SDK is
// updated and AWS opened a region, this test names the rows to add.
func TestPartitionsMatchSDK(t *testing.T) {
	version, sdk := sdkPartitions(t)
	ours := map[string]Partition{}
	for _, p := range Partitions {
		ours[p.ID] = p
	}
	for _, sp := range sdk {
		p, ok := ours[sp.ID]
		if !assert.True(t, ok, "aws-sdk-go-v2 %s has partition %s (regionRegex %s): add it to collector.Partitions", version, sp.ID, sp.RegionRegex) {
			continue
		}
		delete(ours, sp.ID)
		assert.Equal(t, sp.RegionRegex, p.RegionPattern, "partition %s: the SDK's regionRegex", sp.ID)
		re := regexp.MustCompile(sp.RegionRegex)
		var want []Region
		for code, r := range sp.Regions {
			if re.MatchString(code) {
				want = append(want, Region{Code: code, Name: r.Description})
			}
		}
		slices.SortFunc(want, func(a, b Region) int { return strings.Compare(a.Code, b.Code) })
		assert.Equal(t, want, p.Regions, "partition %s: the regions of aws-sdk-go-v2 %s", sp.ID, version)
	}
	for id := range ours {
		t.Errorf("partition %s is not in aws-sdk-go-v2 %s's partition metadata", id, version)
	}
}

// wazuhRegions is ALL_REGIONS of Wazuh 4.14.7 (wodles/aws/aws_tools.py):
// the regions its aws-s3 wodle accepts in <regions>.
var wazuhRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
	"ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
	"eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1", "us-east-1",
	"us-east-2", "us-west-1", "us-west-2",
}

// TestRegionTable: every region Wazuh accepts is known; every region of
// the table has its partition's pattern, so the key parser takes its
// folders; the codes are unique and sorted.
func TestRegionTable(t *testing.T) {
	t.Parallel()
	for _, r := range wazuhRegions {
		assert.True(t, KnownRegion(r), "Wazuh 4.14.7 accepts %s", r)
	}
	seen := map[string]string{}
	for _, p := range Partitions {
		re := regexp.MustCompile(p.RegionPattern)
		assert.True(t, slices.IsSortedFunc(p.Regions, func(a, b Region) int { return strings.Compare(a.Code, b.Code) }), p.ID)
		for _, r := range p.Regions {
			assert.True(t, re.MatchString(r.Code), "%s: %s does not match %s", p.ID, r.Code, p.RegionPattern)
			assert.True(t, IsRegion(r.Code), r.Code)
			assert.True(t, KnownRegion(r.Code), r.Code)
			assert.NotEmpty(t, r.Name, r.Code)
			if other, dup := seen[r.Code]; dup {
				t.Errorf("%s is in partitions %s and %s", r.Code, other, p.ID)
			}
			seen[r.Code] = p.ID
		}
	}
	assert.Len(t, RegionCodes(), len(seen))
	// Shaped like a region, but not one (yet): a key folder is taken, a
	// configured region is not.
	for _, r := range []string{"us-fake-1", "us-east-123", "eu-west-9", "cn-south-1", "us-gov-north-1"} {
		assert.True(t, IsRegion(r), r)
		assert.False(t, KnownRegion(r), r)
	}
	for _, r := range []string{"aws-global", "aws-us-gov-global", "", "us-east-1 "} {
		assert.False(t, KnownRegion(r), r)
	}
}
