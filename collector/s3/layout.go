package s3

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// Service folders of the log types (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html, https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html).
const (
	ServiceVPCFlow    = "vpcflowlogs"
	ServiceCloudTrail = "CloudTrail"
)

// ServiceOf returns the service folder of a log type.
func ServiceOf(t event.LogType) string {
	if t == event.LogTypeVPCFlow {
		return ServiceVPCFlow
	}
	return ServiceCloudTrail
}

// Layout says where a bucket's logs of one type are.
type Layout struct {
	Bucket     string
	Path       string        // prefix before AWSLogs/: "" or ending in '/'
	PathSuffix string        // folder after AWSLogs/ (Wazuh's path_suffix): "" or ending in '/'
	OrgID      string        // organization id; "" reads every o-… folder found
	Type       event.LogType // vpcflow or cloudtrail
	Accounts   []string      // accounts to read; empty: all found
	Regions    []string      // regions to read; empty: all found, per account
}

// Base returns the folder holding the account (or organization) folders:
// {path}AWSLogs/{path_suffix}, as Wazuh builds it.
func (l Layout) Base() string { return l.Path + "AWSLogs/" + l.PathSuffix }

// Scope is one account and region of a bucket: the unit that is listed,
// from a day on, in key order.
type Scope struct {
	Bucket    string
	Prefix    string // the region folder, ending in '/'
	Type      event.LogType
	AccountID string
	Region    string
	OrgID     string
	Hive      bool // Hive-compatible partitions (aws-account-id=…/…/year=…)
}

// ID names the scope in logs and in the state store: "bucket/prefix".
func (s Scope) ID() string { return s.Bucket + "/" + s.Prefix }

// StartAfter returns the ListObjectsV2 StartAfter that lists the scope from
// day on, that day included: "<prefix>YYYY/MM/DD" sorts just before the keys
// of that day's folder (Hive: "<prefix>year=YYYY/month=MM/day=DD").
func (s Scope) StartAfter(day time.Time) string {
	day = day.UTC()
	if s.Hive {
		return fmt.Sprintf("%syear=%04d/month=%02d/day=%02d", s.Prefix, day.Year(), int(day.Month()), day.Day())
	}
	return fmt.Sprintf("%s%04d/%02d/%02d", s.Prefix, day.Year(), int(day.Month()), day.Day())
}

// Lister lists folders; *Client is one.
type Lister interface {
	Prefixes(ctx context.Context, bucket, prefix string) ([]string, error)
}

var (
	accountRe = regexp.MustCompile(`^\d{12}$`)
	orgRe     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	regionRe  = regexp.MustCompile(`^([a-z]{2}(-gov)?)-([a-z]+)-\d$`)
)

// accountDir is where one account's folders are.
type accountDir struct {
	prefix  string // up to and including the account folder
	account string
	org     string
	hive    bool
}

// Discover finds the scopes of a layout, listing folders as flowlogs-reader
// and Wazuh do (docs/wazuh-compat.md, "Reading a bucket") but with regions found per account,
// organization trails (AWSLogs/o-…/<account>/) and Hive-style folders
// (AWSLogs/aws-account-id=…/aws-service=…/aws-region=…/). Configured
// accounts and regions filter what is found. Missing configured accounts
// are reported in missing. The error is that of the first listing that
// failed; scopes found before it are returned with it.
func Discover(ctx context.Context, l Lister, lay Layout) (scopes []Scope, missing []string, err error) {
	base := lay.Base()
	names, err := l.Prefixes(ctx, lay.Bucket, base)
	if err != nil {
		return nil, nil, err
	}
	var dirs []accountDir
	var orgs []string
	for _, n := range names {
		switch {
		case accountRe.MatchString(n) && lay.OrgID == "":
			dirs = append(dirs, accountDir{prefix: base + n + "/", account: n})
		case strings.HasPrefix(n, "aws-account-id=") && accountRe.MatchString(n[len("aws-account-id="):]) && lay.OrgID == "":
			dirs = append(dirs, accountDir{prefix: base + n + "/", account: n[len("aws-account-id="):], hive: true})
		case orgRe.MatchString(n) && (lay.OrgID == "" || lay.OrgID == n):
			orgs = append(orgs, n)
		}
	}
	for _, org := range orgs {
		sub, err := l.Prefixes(ctx, lay.Bucket, base+org+"/")
		if err != nil {
			return nil, nil, err
		}
		for _, n := range sub {
			if accountRe.MatchString(n) {
				dirs = append(dirs, accountDir{prefix: base + org + "/" + n + "/", account: n, org: org})
			}
		}
	}
	dirs, missing = filterAccounts(dirs, lay.Accounts)
	svc := ServiceOf(lay.Type)
	for _, d := range dirs {
		svcPrefix := d.prefix + svc + "/"
		regionPart := ""
		if d.hive {
			svcPrefix = d.prefix + "aws-service=" + svc + "/"
			regionPart = "aws-region="
		}
		regions := lay.Regions
		if len(regions) == 0 {
			found, err := l.Prefixes(ctx, lay.Bucket, svcPrefix)
			if err != nil {
				return scopes, missing, err
			}
			regions = nil
			for _, r := range found {
				r = strings.TrimPrefix(r, regionPart)
				if regionRe.MatchString(r) {
					regions = append(regions, r)
				}
			}
		}
		for _, r := range regions {
			scopes = append(scopes, Scope{Bucket: lay.Bucket, Prefix: svcPrefix + regionPart + r + "/", Type: lay.Type,
				AccountID: d.account, Region: r, OrgID: d.org, Hive: d.hive})
		}
	}
	return scopes, missing, nil
}

func filterAccounts(dirs []accountDir, want []string) ([]accountDir, []string) {
	if len(want) == 0 {
		return dirs, nil
	}
	keep := map[string]bool{}
	for _, a := range want {
		keep[a] = false
	}
	var out []accountDir
	for _, d := range dirs {
		if _, ok := keep[d.account]; ok {
			keep[d.account] = true
			out = append(out, d)
		}
	}
	var missing []string
	for _, a := range want {
		if !keep[a] {
			missing = append(missing, a)
		}
	}
	return out, missing
}

// KeyInfo is what the part of a key below its scope says.
type KeyInfo struct {
	// Day is the date folder (UTC midnight); zero when the key has none.
	Day time.Time
	// Hour is the hour folder of hourly partitions, or -1.
	Hour int
	// File is the file name.
	File string
	// FlowLogID is the flow log id in a flow-log file name
	// ({account}_vpcflowlogs_{region}_{fl-id}_{time}_{hash}.log.gz), or "".
	FlowLogID string
}

// ParseKey reads the date folders and the file name of a key listed in
// scope s. ok is false for keys outside the scope.
func (s Scope) ParseKey(key string) (ki KeyInfo, ok bool) {
	ki.Hour = -1
	if !strings.HasPrefix(key, s.Prefix) {
		return ki, false
	}
	segs := strings.Split(key[len(s.Prefix):], "/")
	ki.File = segs[len(segs)-1]
	dirs := segs[:len(segs)-1]
	if s.Hive {
		for i, d := range dirs {
			if j := strings.IndexByte(d, '='); j > 0 {
				dirs[i] = d[j+1:]
			}
		}
	}
	if len(dirs) >= 3 {
		y, ey := strconv.Atoi(dirs[0])
		m, em := strconv.Atoi(dirs[1])
		d, ed := strconv.Atoi(dirs[2])
		if ey == nil && em == nil && ed == nil && m >= 1 && m <= 12 && d >= 1 && d <= 31 {
			ki.Day = time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
			if len(dirs) >= 4 {
				if h, err := strconv.Atoi(dirs[3]); err == nil && h >= 0 && h < 24 {
					ki.Hour = h
				}
			}
		}
	}
	if s.Type == event.LogTypeVPCFlow {
		parts := strings.Split(ki.File, "_")
		if len(parts) >= 4 && strings.HasPrefix(parts[3], "fl-") {
			ki.FlowLogID = parts[3]
		}
	}
	return ki, true
}
