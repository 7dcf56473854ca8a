package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/report"
)

const reportUsage = "report [--out FILE] [--from T] [--to T] [--interval D] [--alerts] [replay's flags] PATH..."

// reportFlags are the flags of `vpcalertd report` beyond replay's.
type reportFlags struct {
	out, from, to, title string
	interval             time.Duration
	alerts, quiet        bool
}

func runReport(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("report", stderr, reportUsage)
	var ef engineFlags
	ef.register(fs)
	var sf sourceFlags
	sf.register(fs)
	var rf reportFlags
	fs.StringVar(&rf.out, "out", "vpcalertd-report.html", "write the page to `FILE` (\"-\": stdout)")
	fs.StringVar(&rf.from, "from", "", "count only records from `TIME` on (RFC 3339, e.g. 2024-03-05T10:00:00Z, or a date 2024-03-05)")
	fs.StringVar(&rf.to, "to", "", "count only records before `TIME` (RFC 3339 or a date)")
	fs.DurationVar(&rf.interval, "interval", 0, "interval `WIDTH`, e.g. 1m or 1h (default: a few hundred to 1,500 intervals over the span)")
	fs.BoolVar(&rf.alerts, "alerts", false, "the PATHs are alerts files (vpcalertd's or Wazuh's alerts.json, plain or .gz): flows come from flow alerts")
	fs.StringVar(&rf.title, "title", "", "page title (default: \"VPC traffic\")")
	fs.BoolVar(&rf.quiet, "quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(err error) int {
		fmt.Fprintln(stderr, "vpcalertd report:", err)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "vpcalertd report: no PATH given")
		fs.Usage()
		return 2
	}
	if err := sf.check(); err != nil {
		return usageErr(err)
	}
	opts := report.Options{Interval: rf.interval}
	var err error
	if opts.From, err = parseReportTime("--from", rf.from); err != nil {
		return usageErr(err)
	}
	if opts.To, err = parseReportTime("--to", rf.to); err != nil {
		return usageErr(err)
	}
	if rf.interval < 0 || rf.interval%time.Second != 0 {
		return usageErr(fmt.Errorf("--interval %s: want a positive whole number of seconds, e.g. 5m", rf.interval))
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
		return usageErr(fmt.Errorf("--from %s is not before --to %s", rf.from, rf.to))
	}
	agg, err := report.New(opts)
	if err != nil {
		return usageErr(err)
	}
	meta := report.Meta{Title: rf.title, Inputs: fs.Args(), Source: "replay"}
	var bad int64
	if rf.alerts {
		meta.Source, meta.AlertedOnly = "alerts", true
		for _, p := range fs.Args() {
			st, err := report.ReadAlerts(ctx, p, agg, func(err error) { fmt.Fprintln(stderr, err) })
			bad += st.BadLines
			if err != nil {
				fmt.Fprintln(stderr, "vpcalertd report:", err)
				return 1
			}
			if !rf.quiet {
				fmt.Fprintf(stderr, "%s: %d alerts, %d flows, %d lines that are not alerts\n", p, st.Alerts, st.Flows, st.BadLines)
			}
		}
	} else {
		eopts, err := ef.options(stderr)
		if err != nil {
			return usageErr(err)
		}
		files, err := sf.files(fs.Args())
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd report:", err)
			return 1
		}
		obs := report.NewAsyncObserver(agg)
		defer obs.Close()
		eopts.Observer = obs
		eopts.NoJSON = true // the page needs the alerts' rules and descriptions, not their lines
		e, err := engine.New(eopts)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd report:", err)
			return 1
		}
		ro := engine.ReplayOptions{}
		if !rf.quiet {
			ro.Progress = stderr
		}
		st, err := e.Replay(ctx, files, alert.Discard{}, ro)
		obs.Close() // everything observed is counted before the snapshot
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd report:", err)
			return 1
		}
		bad = st.BadLines
	}
	agg.SetBadLines(bad)
	snap := agg.Snapshot(meta)
	if snap.Summary.Flows == 0 {
		fmt.Fprintln(stderr, "vpcalertd report: no flow records in the input; the page says so")
	}
	if err := writePage(rf.out, stdout, snap); err != nil {
		fmt.Fprintln(stderr, "vpcalertd report:", err)
		return 1
	}
	if rf.out != "-" {
		fmt.Fprintf(stdout, "%s: %s\n", rf.out, oneLine(snap))
	}
	return 0
}

// parseReportTime reads --from or --to: RFC 3339, or a date (midnight UTC).
func parseReportTime(flagName, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time such as 2024-03-05T10:00:00Z, or a date such as 2024-03-05", flagName, v)
}

// writePage writes the page to path atomically (a temporary file renamed),
// or to stdout for "-".
func writePage(path string, stdout io.Writer, s *report.Snapshot) error {
	if path == "-" {
		return report.Render(stdout, s)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".vpcalertd-report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := report.Render(tmp, s); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// oneLine summarises a page for the terminal.
func oneLine(s *report.Snapshot) string {
	sum := s.Summary
	span := "no flows"
	if sum.First != 0 {
		span = time.Unix(sum.First, 0).UTC().Format("2006-01-02 15:04") + " to " + time.Unix(sum.Last, 0).UTC().Format("2006-01-02 15:04") + " UTC"
	}
	return fmt.Sprintf("%d records, %d flows, %d bytes, %d alerts, %d intervals of %s, %s, %d bad lines",
		sum.Records, sum.Flows, sum.Bytes, sum.Alerts, len(s.Intervals), s.Width, span, sum.BadLines)
}
