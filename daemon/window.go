package daemon

import (
	"context"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/config"
)

// windowSource says where a scope's listing start came from; it is logged
// as window_from.
type windowSource string

const (
	// windowConfigured: the bucket's only_logs_after (no pass yet, or a
	// later day than the state's).
	windowConfigured windowSource = "configured"
	// windowConfiguredEarlier: an only_logs_after before the first day the
	// scope was ever listed from: the objects not read yet from that day on
	// are read, as Wazuh does when no key was processed yet.
	windowConfiguredEarlier windowSource = "configured, before the first day read"
	// windowDefault: without only_logs_after, the day of the bucket's first
	// pass (UTC), as Wazuh starts from "today".
	windowDefault windowSource = "default first-pass day"
	// windowState: the last complete pass minus look_back.
	windowState windowSource = "state"
)

// window is where a scope's listing starts this pass, and why.
type window struct {
	day        time.Time
	startAfter string
	source     windowSource
	// Keys in (knownFrom, knownTo] were listed by earlier complete passes
	// and read (their marks may be pruned): a listing from before
	// knownFrom counts them as already read. Empty: none.
	knownFrom, knownTo string
}

// known says whether key was read by an earlier pass whose mark may be
// pruned.
func (w *window) known(key string) bool {
	return w.knownTo != "" && key > w.knownFrom && key <= w.knownTo
}

// firstDay returns the bucket's configured only_logs_after, or else the
// day of its first pass (recorded then, in UTC).
func (d *Daemon) firstDay(b *config.Bucket) (time.Time, windowSource, error) {
	if !b.OnlyLogsAfter.IsZero() {
		return b.OnlyLogsAfter, windowConfigured, nil
	}
	day, ok, err := d.opts.Store.Since(b.ID())
	if err != nil || ok {
		return day, windowDefault, err
	}
	day = utcDay(d.now())
	return day, windowDefault, d.opts.Store.SetSince(b.ID(), day)
}

// window returns where scope sc is listed from: the look-back window
// before its last complete pass, never before the bucket's first day (an
// only_logs_after after it wins, as in Wazuh); the first day for a scope
// never passed; and the configured only_logs_after when it is earlier than
// the first day the scope was ever listed from (the default first-pass day
// holds only until the operator says otherwise: Wazuh's marker comes from
// the keys it processed, so with none processed only_logs_after decides).
func (d *Daemon) window(sc s3.Scope, first time.Time, src windowSource) (window, error) {
	w := window{day: first, source: src}
	last, passed, err := d.opts.Store.LastPass(sc.ID())
	if err != nil {
		return w, err
	}
	info, _, err := d.opts.Store.Scope(sc.ID())
	if err != nil {
		return w, err
	}
	if passed {
		if day := utcDay(last.Add(-d.cfg.LookBack)); !day.Before(first) {
			w.day, w.source = day, windowState
		}
	}
	w.startAfter = sc.StartAfter(w.day)
	if passed && src == windowConfigured {
		// How far back the scope was listed: the state's floor, or (for a
		// state written before floors were kept) the day it would have
		// started from.
		floor, pruned := info.Floor, info.Pruned
		if floor == "" {
			floor, pruned = w.startAfter, w.startAfter
		}
		if start := sc.StartAfter(first); start < floor {
			w.day, w.startAfter, w.source = first, start, windowConfiguredEarlier
			w.knownFrom, w.knownTo = floor, pruned
		}
	}
	return w, nil
}

// olderLimit is how many objects before a window are counted (one
// listing page).
const olderLimit = 1000

// olderThan returns what scope sr holds before its window, asking S3 once
// per scope and window start in this process.
func (d *Daemon) olderThan(ctx context.Context, br *bucketRun, sr *scopeRun) (s3.Older, error) {
	key := sr.scope.ID() + "\x00" + sr.win.startAfter
	d.mu.Lock()
	o, ok := d.older[key]
	d.mu.Unlock()
	if ok {
		return o, nil
	}
	o, err := br.clients.S3.OlderThan(ctx, sr.scope, sr.win.day, olderLimit)
	if err != nil {
		return o, err
	}
	d.mu.Lock()
	d.older[key] = o
	d.mu.Unlock()
	return o, nil
}

// bucketReport sums a bucket's scopes for its pass line.
type bucketReport struct {
	scopes                                                        int
	listed, alreadyRead, read, bad, retry, records, alerts, bytes int64
	windowStart                                                   time.Time
	sources                                                       []string
	olderCounted                                                  bool
	older                                                         s3.Older
	olderScopes                                                   []string // account/region of scopes with older objects and an empty window
	top                                                           *scopeTop
}

// scopeTop is the object of a bucket with the most alerts in a pass.
type scopeTop struct {
	key              string
	records, alerts  int64
	compressed, size int64
}

// logBucket logs the pass line of one listed bucket and, when the pass
// found nothing in the window while older objects exist, a warning that
// says how to read them.
func (d *Daemon) logBucket(br *bucketRun) {
	b := br.cfg
	var r bucketReport
	seen := map[string]bool{}
	for _, sr := range br.scopes {
		r.scopes++
		r.listed += sr.listed.Load()
		r.alreadyRead += sr.alreadyRead.Load()
		r.read += sr.read.Load()
		r.bad += sr.bad.Load()
		r.retry += sr.retry.Load()
		r.records += sr.records.Load()
		r.alerts += sr.alerts.Load()
		r.bytes += sr.bytes.Load()
		if !sr.win.day.IsZero() && (r.windowStart.IsZero() || sr.win.day.Before(r.windowStart)) {
			r.windowStart = sr.win.day
		}
		if src := string(sr.win.source); src != "" && !seen[src] {
			seen[src] = true
			r.sources = append(r.sources, src)
		}
		if sr.olderDone {
			r.olderCounted = true
			o := sr.older
			r.older.Count += o.Count
			r.older.More = r.older.More || o.More
			if !o.Oldest.IsZero() && (r.older.Oldest.IsZero() || o.Oldest.Before(r.older.Oldest)) {
				r.older.Oldest = o.Oldest
			}
			if o.Newest.After(r.older.Newest) {
				r.older.Newest = o.Newest
			}
			if o.Count > 0 {
				r.olderScopes = append(r.olderScopes, sr.scope.AccountID+"/"+sr.scope.Region)
			}
		}
		if t := sr.top.Load(); t != nil && (r.top == nil || t.alerts > r.top.alerts) {
			r.top = t
		}
	}
	sort.Strings(r.sources)
	attrs := []any{"bucket", b.Name, "type", string(b.Type), "prefix", b.Path + "AWSLogs/" + b.PathSuffix,
		"scopes", r.scopes, "window_start", day(r.windowStart), "window_from", strings.Join(r.sources, "; "),
		"listed", r.listed, "read", r.read, "already_read", r.alreadyRead, "bad", r.bad, "retry", r.retry,
		"records", r.records, "alerts", r.alerts}
	if b.Variant != "" {
		// Blocks of one bucket and prefix (repeated <bucket> blocks) are
		// told apart by what they select.
		attrs = append(attrs, "id", b.ID())
	}
	if r.olderCounted {
		attrs = append(attrs, "older", olderCount(r.older), "older_oldest", day(r.older.Oldest), "older_newest", day(r.older.Newest))
	}
	if r.top != nil && r.top.alerts > 0 {
		attrs = append(attrs, "top_object", r.top.key, "top_object_records", r.top.records, "top_object_alerts", r.top.alerts)
	}
	d.log.Info("bucket pass", attrs...)

	if r.read == 0 && r.alreadyRead == 0 && r.bad == 0 && r.older.Count > 0 {
		d.warnOlder(br, r)
	}
}

// warnOlder says that a pass read nothing although objects exist before
// its window, and how to read them: once per bucket and window start, then
// at debug level.
func (d *Daemon) warnOlder(br *bucketRun, r bucketReport) {
	b := br.cfg
	hint := "set only_logs_after on the bucket to the first day to read, e.g. only_logs_after: " +
		strings.ToUpper(r.older.Oldest.Format("2006-Jan-02")) + "; the objects not read yet from that day on are read at the next pass"
	if !b.OnlyLogsAfter.IsZero() && !r.older.Oldest.Before(b.OnlyLogsAfter) {
		hint = "they are before the window of the last complete pass (look_back " + d.cfg.LookBack.String() +
			"); raise look_back, or reset the bucket with `vpcalertd state reset --bucket " + b.Name + "` to read from only_logs_after again"
	}
	scopes := r.olderScopes
	if len(scopes) > 10 {
		scopes = append(scopes[:10:10], "…")
	}
	only := "not set (the default is the day of the bucket's first pass)"
	if !b.OnlyLogsAfter.IsZero() {
		only = day(b.OnlyLogsAfter)
	}
	d.warnOnce("older:"+b.ID()+day(r.windowStart), "nothing read: objects exist only before the window start",
		slog.String("bucket", b.Name), slog.String("window_start", day(r.windowStart)), slog.String("only_logs_after", only),
		slog.String("older", olderCount(r.older)), slog.String("older_oldest", day(r.older.Oldest)),
		slog.String("older_newest", day(r.older.Newest)), slog.String("accounts_regions", strings.Join(scopes, " ")),
		slog.String("hint", hint))
}

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func olderCount(o s3.Older) string {
	s := ""
	if o.More {
		s = "more than "
	}
	return s + strconv.Itoa(o.Count)
}
