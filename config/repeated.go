package config

import (
	"slices"
	"strings"
)

// entry is a checked bucket and where it was configured.
type entry struct {
	bk  Bucket
	src bucketSrc
}

// repeated returns the buckets of entries, in order, as Wazuh reads
// repeated <bucket> blocks naming one bucket: each is analysed with its
// own settings (wm_aws_run_s3 runs the wodle once per block, its database
// keyed by the object), so blocks that select different accounts, regions
// or organizations are each read. A block that selects exactly the objects
// of an earlier one reads nothing there (the earlier block marked them
// read first): it is left out, with a warning. Blocks that select some of
// the same objects are both read, each object once (the state is per
// object), with a warning. Blocks that select the same objects and differ
// on remove_from_bucket contradict each other: an error names both. Blocks
// that share a bucket, type, prefix and organization are told apart in
// state and logs by their Variant.
func (b *builder) repeated(entries []entry) []Bucket {
	var kept []*entry
next:
	for i := range entries {
		e := &entries[i]
		for _, k := range kept {
			if !overlap(&k.bk, &e.bk) {
				continue
			}
			same := sameSelection(&k.bk, &e.bk)
			if k.bk.RemoveFromBucket != e.bk.RemoveFromBucket {
				what := "some of the objects"
				if same {
					what = "the objects"
				}
				b.errf(e.src.pos("remove_from_bucket"), e.src.key("remove_from_bucket"),
					"%s selects %s that %s (%s) selects, with remove_from_bucket %s there and %s here: "+
						"say the same in both, or select other accounts or regions",
					e.src.key(""), what, k.src.key(""), k.bk.Pos, yesNoWord(k.bk.RemoveFromBucket), yesNoWord(e.bk.RemoveFromBucket))
				continue next
			}
			if same {
				b.warnf(e.src.pos(""), e.src.key(""),
					"selects the same objects as %s (%s): not read on its own, as in Wazuh, where the first block marks them read before this one lists them "+
						"(its only_logs_after, aws_account_alias and discard_regex do not apply)", k.src.key(""), k.bk.Pos)
				if e.bk.Listing && !k.bk.Listing {
					// The earlier block follows a queue only; this one
					// asked for the bucket to be listed too.
					k.bk.Listing = true
				}
				continue next
			}
			b.warnf(e.src.pos(""), e.src.key(""),
				"selects some of the objects of %s (%s) (%s there, %s here): each is read once, by the block that lists it first, with that block's settings",
				k.src.key(""), k.bk.Pos, selection(&k.bk), selection(&e.bk))
		}
		kept = append(kept, e)
	}
	ids := map[string]int{}
	for _, e := range kept {
		ids[e.bk.ID()]++
	}
	out := make([]Bucket, 0, len(kept))
	for _, e := range kept {
		if ids[e.bk.ID()] > 1 {
			e.bk.Variant = variant(&e.bk)
		}
		out = append(out, e.bk)
	}
	return out
}

// overlap says whether two buckets may select one object: the same bucket,
// type and prefix, organizations and accounts and regions that meet (none
// configured: every one found).
func overlap(a, b *Bucket) bool {
	return a.Type == b.Type && a.Name == b.Name && a.Path == b.Path && a.PathSuffix == b.PathSuffix &&
		(a.OrganizationID == "" || b.OrganizationID == "" || a.OrganizationID == b.OrganizationID) &&
		meet(a.AccountIDs, b.AccountIDs) && meet(a.Regions, b.Regions)
}

// sameSelection says whether two overlapping buckets select the same
// objects.
func sameSelection(a, b *Bucket) bool {
	return a.OrganizationID == b.OrganizationID && slices.Equal(a.AccountIDs, b.AccountIDs) && slices.Equal(a.Regions, b.Regions)
}

// meet says whether two selections (empty: all) have a member in common.
func meet(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// selection describes what a bucket selects beyond its ID, for messages.
func selection(b *Bucket) string {
	list := func(l []string) string {
		if len(l) == 0 {
			return "all"
		}
		return strings.Join(l, ",")
	}
	return "accounts " + list(b.AccountIDs) + ", regions " + list(b.Regions)
}

// variant is what tells a bucket apart from another with its ID:
// "?accounts=…&regions=…", the parts it restricts; "" when it restricts
// nothing (it keeps the ID it had alone).
func variant(b *Bucket) string {
	var parts []string
	if len(b.AccountIDs) > 0 {
		parts = append(parts, "accounts="+strings.Join(b.AccountIDs, ","))
	}
	if len(b.Regions) > 0 {
		parts = append(parts, "regions="+strings.Join(b.Regions, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}

func yesNoWord(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
