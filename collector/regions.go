package collector

import (
	"regexp"
	"slices"
	"strings"
)

// Partition is one AWS partition: a separate set of AWS infrastructure
// (the commercial regions, China, GovCloud, the ISO clouds, the European
// Sovereign Cloud) with the pattern its region names follow and its
// regions. Partitions is the one table of regions in vpcalertd: the key
// parser takes a region folder by the patterns, the configuration takes a
// region by the list (regions_test.go keeps both equal to the AWS SDK's
// partition metadata, and checks that every region of Wazuh 4.14.7's list
// is in it).
type Partition struct {
	// ID is the partition's id, as in ARNs (aws, aws-cn, aws-us-gov, …).
	ID string
	// RegionPattern is the regular expression the partition's region
	// names match (the SDK's regionRegex).
	RegionPattern string
	// Regions are the partition's regions, sorted, with their names.
	Regions []Region
}

// Region is an AWS Region.
type Region struct {
	Code string // e.g. us-east-1
	Name string // e.g. US East (N. Virginia)
}

// Partitions are the AWS partitions and their regions, from the AWS SDK for
// Go v2's partition metadata (internal/endpoints/awsrulesfn/partitions.json
// of github.com/aws/aws-sdk-go-v2 at the version go.mod requires); the SDK's
// pseudo-regions (aws-global, …) are left out, as no log folder is named by
// them.
var Partitions = []Partition{
	{ID: "aws", RegionPattern: `^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$`, Regions: []Region{
		{"af-south-1", "Africa (Cape Town)"},
		{"ap-east-1", "Asia Pacific (Hong Kong)"},
		{"ap-east-2", "Asia Pacific (Taipei)"},
		{"ap-northeast-1", "Asia Pacific (Tokyo)"},
		{"ap-northeast-2", "Asia Pacific (Seoul)"},
		{"ap-northeast-3", "Asia Pacific (Osaka)"},
		{"ap-south-1", "Asia Pacific (Mumbai)"},
		{"ap-south-2", "Asia Pacific (Hyderabad)"},
		{"ap-southeast-1", "Asia Pacific (Singapore)"},
		{"ap-southeast-2", "Asia Pacific (Sydney)"},
		{"ap-southeast-3", "Asia Pacific (Jakarta)"},
		{"ap-southeast-4", "Asia Pacific (Melbourne)"},
		{"ap-southeast-5", "Asia Pacific (Malaysia)"},
		{"ap-southeast-6", "Asia Pacific (New Zealand)"},
		{"ap-southeast-7", "Asia Pacific (Thailand)"},
		{"ca-central-1", "Canada (Central)"},
		{"ca-west-1", "Canada West (Calgary)"},
		{"eu-central-1", "Europe (Frankfurt)"},
		{"eu-central-2", "Europe (Zurich)"},
		{"eu-north-1", "Europe (Stockholm)"},
		{"eu-south-1", "Europe (Milan)"},
		{"eu-south-2", "Europe (Spain)"},
		{"eu-west-1", "Europe (Ireland)"},
		{"eu-west-2", "Europe (London)"},
		{"eu-west-3", "Europe (Paris)"},
		{"il-central-1", "Israel (Tel Aviv)"},
		{"me-central-1", "Middle East (UAE)"},
		{"me-south-1", "Middle East (Bahrain)"},
		{"me-west-1", "Middle East (Saudi Arabia)"},
		{"mx-central-1", "Mexico (Central)"},
		{"sa-east-1", "South America (Sao Paulo)"},
		{"sa-west-1", "South America (Chile)"},
		{"us-east-1", "US East (N. Virginia)"},
		{"us-east-2", "US East (Ohio)"},
		{"us-west-1", "US West (N. California)"},
		{"us-west-2", "US West (Oregon)"},
	}},
	{ID: "aws-cn", RegionPattern: `^cn\-\w+\-\d+$`, Regions: []Region{
		{"cn-north-1", "China (Beijing)"},
		{"cn-northwest-1", "China (Ningxia)"},
	}},
	{ID: "aws-eusc", RegionPattern: `^eusc\-(de)\-\w+\-\d+$`, Regions: []Region{
		{"eusc-de-east-1", "AWS European Sovereign Cloud (Germany)"},
	}},
	{ID: "aws-iso", RegionPattern: `^us\-iso\-\w+\-\d+$`, Regions: []Region{
		{"us-iso-east-1", "US ISO East"},
		{"us-iso-west-1", "US ISO WEST"},
	}},
	{ID: "aws-iso-b", RegionPattern: `^us\-isob\-\w+\-\d+$`, Regions: []Region{
		{"us-isob-east-1", "US ISOB East (Ohio)"},
		{"us-isob-west-1", "US ISOB West"},
	}},
	{ID: "aws-iso-e", RegionPattern: `^eu\-isoe\-\w+\-\d+$`, Regions: []Region{
		{"eu-isoe-west-1", "EU ISOE West"},
	}},
	{ID: "aws-iso-f", RegionPattern: `^us\-isof\-\w+\-\d+$`, Regions: []Region{
		{"us-isof-east-1", "US ISOF EAST"},
		{"us-isof-south-1", "US ISOF SOUTH"},
	}},
	{ID: "aws-us-gov", RegionPattern: `^us\-gov\-\w+\-\d+$`, Regions: []Region{
		{"us-gov-east-1", "AWS GovCloud (US-East)"},
		{"us-gov-west-1", "AWS GovCloud (US-West)"},
	}},
}

var (
	// regionRe is the union of the partitions' region patterns.
	regionRe = func() *regexp.Regexp {
		alts := make([]string, len(Partitions))
		for i, p := range Partitions {
			alts[i] = strings.TrimSuffix(strings.TrimPrefix(p.RegionPattern, "^"), "$")
		}
		return regexp.MustCompile(`^(?:` + strings.Join(alts, "|") + `)$`)
	}()
	// regionCodes are the codes of every region in Partitions, sorted.
	regionCodes = func() []string {
		var out []string
		for _, p := range Partitions {
			for _, r := range p.Regions {
				out = append(out, r.Code)
			}
		}
		slices.Sort(out)
		return out
	}()
)

// IsRegion says whether s is named as the regions of a partition are (the
// pattern of Partitions): what a region folder of a log key looks like. A
// region AWS opens after this table was written is still taken in a key;
// KnownRegion says whether the table has it.
func IsRegion(s string) bool { return regionRe.MatchString(s) }

// KnownRegion says whether s is a region of Partitions.
func KnownRegion(s string) bool {
	_, ok := slices.BinarySearch(regionCodes, s)
	return ok
}

// RegionCodes returns the codes of every region of Partitions, sorted.
func RegionCodes() []string { return slices.Clone(regionCodes) }
