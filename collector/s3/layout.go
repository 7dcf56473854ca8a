package s3

import (
	"context"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/event"
)

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
	// Layout is the scope's folder layout; nil means AWS's default.
	Layout *collector.KeyLayout
}

// ScopeOf returns the scope of the key k in bucket.
func ScopeOf(bucket string, k collector.Key) Scope {
	return Scope{Bucket: bucket, Prefix: k.Scope, Type: k.Type, AccountID: k.AccountID, Region: k.Region, OrgID: k.OrgID, Layout: k.Layout}
}

func (s Scope) layout() *collector.KeyLayout {
	if s.Layout == nil {
		return collector.Layouts[0]
	}
	return s.Layout
}

// ID names the scope in logs and in the state store: "bucket/prefix".
func (s Scope) ID() string { return s.Bucket + "/" + s.Prefix }

// StartAfter returns the ListObjectsV2 StartAfter that lists the scope from
// day on, that day included: "<prefix>YYYY/MM/DD" sorts just before the keys
// of that day's folder (Hive: "<prefix>year=YYYY/month=MM/day=DD").
func (s Scope) StartAfter(day time.Time) string {
	return s.Prefix + s.layout().DayFolders(day)
}

// Lister lists folders; *Client is one.
type Lister interface {
	Prefixes(ctx context.Context, bucket, prefix string) ([]string, error)
}

// accountDir is where one account's folders are.
type accountDir struct {
	prefix  string // up to and including the account folder
	account string
	org     string
	layout  *collector.KeyLayout
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
		if collector.IsOrgID(n) {
			if lay.OrgID == "" || lay.OrgID == n {
				orgs = append(orgs, n)
			}
		} else if l, acct, ok := collector.AccountFolder(n); ok && lay.OrgID == "" {
			dirs = append(dirs, accountDir{prefix: base + n + "/", account: acct, layout: l})
		}
	}
	for _, org := range orgs {
		sub, err := l.Prefixes(ctx, lay.Bucket, base+org+"/")
		if err != nil {
			return nil, nil, err
		}
		for _, n := range sub {
			if kl, acct, ok := collector.AccountFolder(n); ok && kl.Org {
				dirs = append(dirs, accountDir{prefix: base + org + "/" + n + "/", account: acct, org: org, layout: kl})
			}
		}
	}
	dirs, missing = filterAccounts(dirs, lay.Accounts)
	svc := collector.ServiceOf(lay.Type)
	for _, d := range dirs {
		svcPrefix := d.prefix + d.layout.ServiceFolder(svc) + "/"
		regions := lay.Regions
		if len(regions) == 0 {
			found, err := l.Prefixes(ctx, lay.Bucket, svcPrefix)
			if err != nil {
				return scopes, missing, err
			}
			regions = nil
			for _, f := range found {
				if r, ok := d.layout.RegionFolder(f); ok {
					regions = append(regions, r)
				}
			}
		}
		for _, r := range regions {
			scopes = append(scopes, Scope{Bucket: lay.Bucket, Prefix: svcPrefix + d.layout.Region + r + "/", Type: lay.Type,
				AccountID: d.account, Region: r, OrgID: d.org, Layout: d.layout})
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

// ParseKey reads the date folders and the file name of a key listed in
// scope s; the other fields come from the scope. ok is false for keys
// outside the scope.
func (s Scope) ParseKey(key string) (collector.Key, bool) {
	rest, ok := strings.CutPrefix(key, s.Prefix)
	if !ok {
		return collector.Key{Hour: -1}, false
	}
	k := collector.Key{Layout: s.layout(), Type: s.Type, OrgID: s.OrgID, AccountID: s.AccountID, Region: s.Region, Scope: s.Prefix}
	k.ParseBelow(rest)
	return k, true
}
