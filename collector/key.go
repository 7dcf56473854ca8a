package collector

import (
	"regexp"
	"strings"

	"github.com/vpcalertd/vpcalertd/event"
)

// KeyInfo is what an object key's layout tells about the object.
type KeyInfo struct {
	Type      event.LogType // vpcflow or cloudtrail; unknown when the key is not in AWS's layout
	AccountID string        // the account folder
	Region    string        // the region folder
	OrgID     string        // the organization id of an organization trail (o-…)
	Prefix    string        // what precedes AWSLogs/ (the user's path), with its trailing slash
	// Skip is set for keys that hold no events: CloudTrail digest and
	// Insights files, and "folder" keys ending in '/'.
	Skip bool
}

var (
	accountRe = regexp.MustCompile(`^\d{12}$`)
	orgRe     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

// services maps the service folder to a log type; the empty type marks
// folders whose files are not events.
var services = map[string]event.LogType{
	"vpcflowlogs":        event.LogTypeVPCFlow,
	"CloudTrail":         event.LogTypeCloudTrail,
	"CloudTrail-Digest":  event.LogTypeUnknown,
	"CloudTrail-Insight": event.LogTypeUnknown,
}

// ParseKey reads AWS's key layouts (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html, https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html):
//
//	[prefix/]AWSLogs/[o-org/]<account>/<service>/<region>/YYYY/MM/DD/<file>
//	[prefix/]AWSLogs/aws-account-id=<account>/aws-service=<service>/aws-region=<region>/year=…
//
// A key outside these layouts gives a zero KeyInfo (type unknown), except
// that a trailing '/' always sets Skip.
func ParseKey(key string) KeyInfo {
	var ki KeyInfo
	if strings.HasSuffix(key, "/") {
		ki.Skip = true
		return ki
	}
	i := strings.Index(key, "AWSLogs/")
	if i < 0 || (i > 0 && key[i-1] != '/') {
		return ki
	}
	prefix := key[:i]
	segs := strings.Split(key[i+len("AWSLogs/"):], "/")
	if len(segs) > 0 && orgRe.MatchString(segs[0]) {
		ki.OrgID = segs[0]
		segs = segs[1:]
	}
	if len(segs) < 4 {
		return KeyInfo{}
	}
	acct := strings.TrimPrefix(segs[0], "aws-account-id=")
	svc := strings.TrimPrefix(segs[1], "aws-service=")
	region := strings.TrimPrefix(segs[2], "aws-region=")
	if !accountRe.MatchString(acct) {
		return KeyInfo{}
	}
	typ, known := services[svc]
	if !known {
		return KeyInfo{}
	}
	ki.Type = typ
	ki.AccountID = acct
	ki.Region = region
	ki.Prefix = prefix
	ki.Skip = typ == event.LogTypeUnknown
	return ki
}
