package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
)

// StateOptions select what `vpcalertd state show|reset` looks at.
type StateOptions struct {
	// Bucket limits the command to the configured buckets of that name;
	// "" means every configured bucket.
	Bucket string
	// Before, for reset, forgets only the marks of objects whose day is
	// before it (and counts those objects as never read); zero: the whole
	// bucket (Wazuh's reparse).
	Before time.Time
	// Poison, for reset, clears only the objects skipped as poison (the
	// daemon died while reading them too often): they are read again.
	Poison bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ErrNoSuchBucketName is the error of --bucket naming no configured bucket.
var ErrNoSuchBucketName = errors.New("no configured bucket has that name")

// selected returns the configured buckets opts selects.
func selected(cfg *config.Config, opts StateOptions) ([]*config.Bucket, error) {
	var out []*config.Bucket
	var names []string
	for i := range cfg.Buckets {
		b := &cfg.Buckets[i]
		names = append(names, b.Name)
		if opts.Bucket == "" || b.Name == opts.Bucket {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--bucket %q: %w (expected one of %v)", opts.Bucket, ErrNoSuchBucketName, names)
	}
	return out, nil
}

// scopeOf rebuilds the listing scope of a state scope id
// ("bucket/prefix").
func scopeOf(id string, t event.LogType) s3.Scope {
	bucket, prefix, _ := strings.Cut(id, "/")
	k, _ := collector.ParseScope(prefix)
	sc := s3.ScopeOf(bucket, k)
	sc.Prefix, sc.Type = prefix, t
	return sc
}

// owns says whether a listing scope id belongs to bucket configuration b.
func owns(b *config.Bucket, id string) bool {
	bucket, prefix, _ := strings.Cut(id, "/")
	k, ok := collector.ParseScope(prefix)
	return ok && bucket == b.Name && k.Base == b.Path+"AWSLogs/"+b.PathSuffix && k.Type == b.Type &&
		(b.OrganizationID == "" || k.OrgID == b.OrganizationID)
}

// ownsQueue says whether a queue mark scope belongs to bucket b.
func ownsQueue(b *config.Bucket, id string) bool {
	return strings.HasPrefix(id, sqsScopePrefix+b.Name+":")
}

// ShowState writes what the state file of cfg holds for the selected
// buckets: per bucket its first day and, per account/region, the last
// pass, the window the next pass lists, the marks kept and how far back it
// was listed; the alerts file checkpoint and the alert-id high-water mark.
// It opens the state read-only and refuses (naming the holder) while a
// daemon holds it.
func ShowState(cfg *config.Config, w io.Writer, opts StateOptions) error {
	buckets, err := selected(cfg, opts)
	if err != nil {
		return err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	store, err := state.OpenWith(cfg.StatePath, state.OpenOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer store.Close()
	if st, err := os.Stat(cfg.StatePath); err == nil {
		fmt.Fprintf(w, "state file %s (%s)\n", cfg.StatePath, size(st.Size()))
	}
	if err := showOutputs(store, w); err != nil {
		return err
	}
	scopes, err := store.Scopes("")
	if err != nil {
		return err
	}
	since, err := store.SinceAll()
	if err != nil {
		return err
	}
	for _, b := range buckets {
		fmt.Fprintf(w, "\nbucket %s (%s, %s)\n", b.Name, b.Type, b.ID())
		first, src := b.OnlyLogsAfter, windowConfigured
		switch day, ok := since[b.ID()]; {
		case !first.IsZero():
			fmt.Fprintf(w, "  first day: %s (only_logs_after)\n", dayOf(first))
		case ok:
			first, src = day, windowDefault
			fmt.Fprintf(w, "  first day: %s (no only_logs_after: the day of the bucket's first pass)\n", dayOf(day))
		default:
			first, src = utcDay(opts.Now()), windowDefault
			fmt.Fprintf(w, "  first day: none yet (no only_logs_after: the first pass records its day)\n")
		}
		n := 0
		for _, s := range scopes {
			if !owns(b, s.ID) {
				continue
			}
			n++
			showScope(w, store, cfg.LookBack, scopeOf(s.ID, b.Type), s, first, src)
		}
		for _, s := range scopes {
			if ownsQueue(b, s.ID) {
				n++
				fmt.Fprintf(w, "  queue marks %s: %d marks (day recorded %s)\n", strings.TrimPrefix(s.ID, sqsScopePrefix+b.Name+":"), s.Marks, s.LastPass.Format(time.RFC3339))
			}
		}
		if n == 0 {
			fmt.Fprintf(w, "  no account/region passed yet\n")
		}
		if err := showObjects(w, store, b); err != nil {
			return err
		}
	}
	return nil
}

// showObjects lists a bucket's objects skipped as poison and those whose
// reading began and never ended (the daemon died, or is reading them).
func showObjects(w io.Writer, store *state.Store, b *config.Bucket) error {
	ps, err := store.Poisoned()
	if err != nil {
		return err
	}
	for _, p := range ps {
		if owns(b, p.Scope) || ownsQueue(b, p.Scope) {
			fmt.Fprintf(w, "  skipped (poison): s3://%s/%s etag %s: %s, at %s, recorded in %s\n",
				p.Bucket, p.Key, p.ETag, p.Reason, p.At.UTC().Format(time.RFC3339), p.Quarantine)
		}
	}
	return store.Readings(func(id state.ObjectID, r state.Reading) error {
		if owns(b, r.Scope) || ownsQueue(b, r.Scope) {
			fmt.Fprintf(w, "  read and not done: s3://%s/%s etag %s: %d read(s) begun since %s, %d cut by the daemon's death\n",
				id.Bucket, id.Key, id.ETag, r.Tries, r.Started.UTC().Format(time.RFC3339), max(r.Tries-r.Ended, 0))
		}
		return nil
	})
}

func showOutputs(store *state.Store, w io.Writer) error {
	v, err := store.Meta(metaCheckpoint)
	if err != nil {
		return err
	}
	if v != nil {
		cp, err := decodeCheckpoint(v)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "alerts file %s: %d bytes committed (inode %d)\n", cp.Path, cp.Size, cp.Ino)
	} else {
		fmt.Fprintf(w, "alerts file: no checkpoint recorded\n")
	}
	if v, err = store.Meta(metaIDs); err != nil {
		return err
	}
	if v != nil {
		fmt.Fprintf(w, "alert-id high-water mark: %s (ids continue above it)\n", v)
	}
	return nil
}

func showScope(w io.Writer, store *state.Store, lookBack time.Duration, sc s3.Scope, s state.ScopeState, first time.Time, src windowSource) {
	fmt.Fprintf(w, "  %s (account %s, region %s)\n", sc.Prefix, sc.AccountID, sc.Region)
	if s.LastPass.IsZero() {
		fmt.Fprintf(w, "    last pass: none complete\n")
	} else {
		fmt.Fprintf(w, "    last pass: %s", s.LastPass.Format(time.RFC3339))
		if l := s.Info.Last; l != nil {
			fmt.Fprintf(w, ", listed %d, read %d, already read %d", l.Listed, l.Read, l.AlreadyRead)
		}
		fmt.Fprintln(w)
	}
	if win, err := scopeWindow(store, lookBack, sc, first, src); err == nil {
		fmt.Fprintf(w, "    next window: from %s (%s)\n", dayOf(win.day), win.source)
	}
	fmt.Fprintf(w, "    marks: %d", s.Marks)
	if s.Info.Floor != "" {
		fmt.Fprintf(w, "; listed from %s", strings.TrimPrefix(s.Info.Floor, sc.Prefix))
	}
	if s.Info.Pruned != "" {
		fmt.Fprintf(w, "; marks pruned through %s", strings.TrimPrefix(s.Info.Pruned, sc.Prefix))
	}
	fmt.Fprintln(w)
}

func dayOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// ResetReport says what ResetState did.
type ResetReport struct {
	Scopes, Marks int
	// Poison is the number of poison objects cleared (StateOptions.Poison).
	Poison int
	// MovedAside is where a state file that could not be used was moved.
	MovedAside string
	// Accepted is set when the alerts file was taken as it is for a new
	// state; CutPartial is the unterminated last line cut from it.
	Accepted   bool
	CutPartial int64
}

// ResetState resets the selected buckets of cfg's state: every mark and
// pass record of their accounts and regions and their first day are
// forgotten, so that the next pass reads them again from only_logs_after
// (or that pass's day), as Wazuh's reparse does; with opts.Before, only
// the marks of objects before that day are forgotten. A state file that
// cannot be used (damaged, of another program or a newer vpcalertd) is
// moved aside and a new one started when every bucket is reset; a new
// state takes the alerts file as it is (its alerts are not read again). It
// refuses, naming the holder, while a daemon holds the state or the alerts
// file.
func ResetState(cfg *config.Config, opts StateOptions) (ResetReport, error) {
	var rep ResetReport
	buckets, err := selected(cfg, opts)
	if err != nil {
		return rep, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	exists, err := state.Exists(cfg.StatePath)
	if err != nil {
		return rep, err
	}
	store, err := state.Open(cfg.StatePath)
	var fe *state.FileError
	if errors.As(err, &fe) && !errors.Is(err, state.ErrLocked) {
		if opts.Bucket != "" || !opts.Before.IsZero() || opts.Poison {
			return rep, fmt.Errorf("%w; `state reset` without --bucket and --before moves it aside and starts a new state", err)
		}
		rep.MovedAside = cfg.StatePath + ".unusable-" + opts.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(cfg.StatePath, rep.MovedAside); err != nil {
			return rep, fmt.Errorf("state file %s: moving it aside: %w", cfg.StatePath, err)
		}
		exists = false
		store, err = state.Open(cfg.StatePath)
	}
	if err != nil {
		return rep, err
	}
	defer store.Close()
	if !exists {
		if err := acceptAlertsFile(cfg, store, &rep); err != nil {
			return rep, err
		}
	}
	if opts.Poison {
		n, err := store.ClearPoison(func(p state.ObjectPoison) bool {
			for _, b := range buckets {
				if owns(b, p.Scope) || ownsQueue(b, p.Scope) {
					return true
				}
			}
			return false
		})
		rep.Poison = n
		return rep, err
	}
	if !opts.Before.IsZero() {
		n, err := store.ForgetBefore(func(id string) (string, bool) {
			for _, b := range buckets {
				if owns(b, id) {
					return scopeOf(id, b.Type).StartAfter(opts.Before), true
				}
			}
			return "", false
		})
		rep.Marks = n
		return rep, err
	}
	rep.Scopes, rep.Marks, err = store.ResetScopes(func(id string) bool {
		for _, b := range buckets {
			if owns(b, id) || ownsQueue(b, id) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return rep, err
	}
	for _, b := range buckets {
		if err := store.ForgetSince(b.ID()); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// acceptAlertsFile records the alerts file as it is (an unterminated last
// line cut) in a new state, so that the daemon appends to it instead of
// refusing a fresh state beside a file of alerts.
func acceptAlertsFile(cfg *config.Config, store *state.Store, rep *ResetReport) error {
	fo := cfg.Output.File
	if fo == nil {
		return nil
	}
	if _, err := os.Stat(fo.Path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	f, rec, err := output.OpenFile(fo.Path, fileOptions(cfg), nil)
	if err != nil {
		return err
	}
	defer f.Close()
	cp, err := f.Checkpoint()
	if err != nil {
		return err
	}
	b, err := encodeCheckpoint(cp)
	if err != nil {
		return err
	}
	meta := map[string][]byte{metaCheckpoint: b, metaIDs: []byte(strconv.FormatInt(cp.Size, 10))}
	if err := store.Commit(state.Commit{Meta: meta}); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	rep.Accepted, rep.CutPartial = cp.Size > 0, rec.PartialLine
	return nil
}

// scopeWindow is Daemon.window for the state command.
func scopeWindow(store *state.Store, lookBack time.Duration, sc s3.Scope, first time.Time, src windowSource) (window, error) {
	d := &Daemon{opts: Options{Store: store}, cfg: &config.Config{LookBack: lookBack}}
	return d.window(sc, first, src)
}
