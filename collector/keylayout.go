package collector

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// KeyLayout is one way AWS names the folders of the logs it delivers to S3
// (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-s3-path.html,
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/get-and-view-cloudtrail-log-files.html):
//
//	<base>[o-org/]<account>/<service>/<region>/<year>/<month>/<day>[/<hour>]/<file>
//
// where <base> is [path/]AWSLogs/[path_suffix/] and each folder name is the
// layout's prefix followed by the value. A new layout is one row of
// Layouts.
type KeyLayout struct {
	// Name names the layout in messages and tests.
	Name string
	// Account, Service and Region prefix the values of their folders.
	Account, Service, Region string
	// Year, Month and Day prefix the date folders; Hour the optional hour
	// folder of per-hour partitions.
	Year, Month, Day, Hour string
	// Org is set when an organization trail's o-… folder may precede the
	// account folder.
	Org bool
}

// Layouts are the folder layouts AWS writes: its default (per-hour
// partitions add an hour folder; organization trails an o-… folder) and
// Hive-compatible partitions.
var Layouts = []*KeyLayout{
	{Name: "aws", Org: true},
	{Name: "hive", Account: "aws-account-id=", Service: "aws-service=", Region: "aws-region=",
		Year: "year=", Month: "month=", Day: "day=", Hour: "hour="},
}

// AWS's service folders.
const (
	ServiceVPCFlow    = "vpcflowlogs"
	ServiceCloudTrail = "CloudTrail"
)

// services maps a service folder to its log type; the unknown type marks
// folders whose files hold no events.
var services = map[string]event.LogType{
	ServiceVPCFlow:       event.LogTypeVPCFlow,
	ServiceCloudTrail:    event.LogTypeCloudTrail,
	"CloudTrail-Digest":  event.LogTypeUnknown,
	"CloudTrail-Insight": event.LogTypeUnknown,
}

// ServiceOf returns the service folder of a log type.
func ServiceOf(t event.LogType) string {
	if t == event.LogTypeVPCFlow {
		return ServiceVPCFlow
	}
	return ServiceCloudTrail
}

var (
	accountRe = regexp.MustCompile(`^\d{12}$`)
	orgRe     = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
)

// IsAccountID says whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool { return accountRe.MatchString(s) }

// IsOrgID says whether s is an AWS Organizations id (o-…).
func IsOrgID(s string) bool { return orgRe.MatchString(s) }

// AccountFolder returns the layout and the account of an account folder
// name.
func AccountFolder(name string) (*KeyLayout, string, bool) {
	for _, l := range Layouts {
		if a, ok := strings.CutPrefix(name, l.Account); ok && IsAccountID(a) {
			return l, a, true
		}
	}
	return nil, "", false
}

// ServiceFolder returns the folder name of service svc.
func (l *KeyLayout) ServiceFolder(svc string) string { return l.Service + svc }

// RegionFolder returns the region of a region folder name.
func (l *KeyLayout) RegionFolder(name string) (string, bool) {
	r, ok := strings.CutPrefix(name, l.Region)
	return r, ok && IsRegion(r)
}

// DayFolders returns the date folders of day, without a trailing slash:
// "2024/03/05", or "year=2024/month=03/day=05".
func (l *KeyLayout) DayFolders(day time.Time) string {
	day = day.UTC()
	return l.Year + pad(day.Year(), 4) + "/" + l.Month + pad(int(day.Month()), 2) + "/" + l.Day + pad(day.Day(), 2)
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// Key is what an object key says in AWS's layouts.
type Key struct {
	// Layout is the key's layout; nil when it is in none.
	Layout *KeyLayout
	// Type is vpcflow or cloudtrail; unknown outside the layouts and for
	// files that hold no events.
	Type event.LogType
	// Base is the key up to the account (or organization) folder:
	// [path/]AWSLogs/[path_suffix/].
	Base      string
	OrgID     string // the organization of an organization trail (o-…)
	AccountID string
	Region    string
	// Scope is the key up to and including the region folder: what a
	// listing of one account and region reads.
	Scope string
	// Day is the date folder (UTC midnight); zero when the key has none.
	Day time.Time
	// Hour is the hour folder of per-hour partitions, or -1.
	Hour int
	// File is the file name.
	File string
	// FlowLogID is the flow log id of a flow-log file name
	// ({account}_vpcflowlogs_{region}_{fl-id}_{time}_{hash}.log.gz), or "".
	FlowLogID string
	// Skip is set for keys that hold no events: CloudTrail digest and
	// Insights files, and "folder" keys ending in '/'.
	Skip bool
}

// ParseKey reads key in AWS's layouts, the account folders following the
// first "AWSLogs/" folder. A key outside them has no Layout; a key ending
// in '/' always sets Skip.
func ParseKey(key string) Key {
	i := strings.Index(key, "AWSLogs/")
	if i < 0 || (i > 0 && key[i-1] != '/') {
		return Key{Hour: -1, Skip: strings.HasSuffix(key, "/")}
	}
	k, _ := ParseKeyUnder(key[:i+len("AWSLogs/")], key)
	return k
}

// ParseKeyUnder reads key, whose account (or organization) folders follow
// base (as a bucket's path and path_suffix place them). ok is false when
// the key does not start with base.
func ParseKeyUnder(base, key string) (k Key, ok bool) {
	k.Hour = -1
	if !strings.HasPrefix(key, base) {
		return k, false
	}
	if strings.HasSuffix(key, "/") {
		k.Skip = true
		return k, true
	}
	segs := strings.Split(key[len(base):], "/")
	n, found := k.folders(segs)
	if !found || len(segs) <= n {
		return Key{Hour: -1}, true
	}
	k.Base = base
	k.Scope = base + strings.Join(segs[:n], "/") + "/"
	k.below(segs[n:])
	return k, true
}

// ParseScope reads a scope prefix, the key of a region folder with its
// trailing slash (Key.Scope, s3.Scope.Prefix): its last folders are the
// account, service and region of some layout. The date and file fields
// stay empty.
func ParseScope(prefix string) (Key, bool) {
	segs := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	for start := max(len(segs)-4, 0); start <= len(segs)-3; start++ {
		var k Key
		if n, ok := k.folders(segs[start:]); ok && start+n == len(segs) {
			k.Hour = -1
			k.Base = strings.Join(segs[:start], "/")
			if k.Base != "" {
				k.Base += "/"
			}
			k.Scope = prefix
			return k, true
		}
	}
	return Key{Hour: -1}, false
}

// folders reads the [org/]account/service/region folders at the start of
// segs and returns how many there were.
func (k *Key) folders(segs []string) (int, bool) {
	n := 0
	if len(segs) > 0 && IsOrgID(segs[0]) {
		k.OrgID = segs[0]
		n = 1
	}
	if len(segs) < n+3 {
		return 0, false
	}
	l, acct, ok := AccountFolder(segs[n])
	if !ok || (k.OrgID != "" && !l.Org) {
		return 0, false
	}
	svc, ok := strings.CutPrefix(segs[n+1], l.Service)
	typ, known := services[svc]
	region, rok := l.RegionFolder(segs[n+2])
	if !ok || !known || !rok {
		return 0, false
	}
	k.Layout, k.Type, k.AccountID, k.Region, k.Skip = l, typ, acct, region, typ == event.LogTypeUnknown
	return n + 3, true
}

// below reads the date folders and the file name under the region folder.
func (k *Key) below(segs []string) {
	k.File = segs[len(segs)-1]
	dirs := segs[:len(segs)-1]
	if d, ok := k.Layout.date(dirs); ok {
		k.Day = d
		if len(dirs) >= 4 {
			if h, ok := folderNumber(dirs[3], k.Layout.Hour, 0, 23); ok {
				k.Hour = h
			}
		}
	}
	if k.Type == event.LogTypeVPCFlow {
		parts := strings.Split(k.File, "_")
		if len(parts) >= 4 && strings.HasPrefix(parts[3], "fl-") {
			k.FlowLogID = parts[3]
		}
	}
}

// ParseBelow fills the date, hour and file fields of k (whose Layout and
// Type are set) from the part of a key below its scope.
func (k *Key) ParseBelow(rest string) {
	k.Hour = -1
	k.below(strings.Split(rest, "/"))
}

// date reads the year, month and day folders.
func (l *KeyLayout) date(dirs []string) (time.Time, bool) {
	if len(dirs) < 3 {
		return time.Time{}, false
	}
	y, oy := folderNumber(dirs[0], l.Year, 0, 9999)
	m, om := folderNumber(dirs[1], l.Month, 1, 12)
	d, od := folderNumber(dirs[2], l.Day, 1, 31)
	if !oy || !om || !od {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// folderNumber reads a folder named prefix followed by a number in
// [lo, hi].
func folderNumber(name, prefix string, lo, hi int) (int, bool) {
	s, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= lo && n <= hi
}
