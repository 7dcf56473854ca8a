package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/daemon"
)

const stateUsage = `usage: vpcalertd state show|reset --config FILE [--bucket NAME] [--before DATE | --poison]

show   prints what the daemon's state file holds: per bucket its first day,
       and per account/region the last pass, the window the next pass lists,
       the marks kept; the alerts file checkpoint and the alert-id high-water
       mark.
reset  forgets what was read (Wazuh's reparse): every mark and pass of the
       buckets (all configured ones, or those named by --bucket), so that the
       next pass reads them again from only_logs_after, or from its own day.
       With --before DATE, only the marks of objects before that day are
       forgotten (they count as never read: an only_logs_after before DATE
       reads them again). A state file that cannot be used (damaged, of
       another program or of a newer vpcalertd) is moved aside and a new one
       started, which takes the alerts file as it is. With --poison, only
       the objects skipped as poison (the daemon died while reading them
       limits.crashes_per_object times) are forgotten: they are read again.

Both refuse, naming the process, while a daemon holds the state file.
DATE is YYYY-MM-DD or Wazuh's YYYY-MMM-DD.

`

// runState is `vpcalertd state show|reset`.
func runState(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vpcalertd state", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, stateUsage); fs.PrintDefaults() }
	if len(args) == 0 || (args[0] != "show" && args[0] != "reset") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.Usage()
			return 0
		}
		fs.Usage()
		return 2
	}
	verb := args[0]
	cfgPath := fs.String("config", "", "configuration `file` (YAML, or an ossec.conf)")
	bucket := fs.String("bucket", "", "only the configured buckets of this `name`")
	before := fs.String("before", "", "reset: only the marks of objects before this `date`")
	poison := fs.Bool("poison", false, "reset: only the objects skipped as poison")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *cfgPath == "" || fs.NArg() > 0 || (verb == "show" && (*before != "" || *poison)) || (*poison && *before != "") {
		fs.Usage()
		return 2
	}
	opts := daemon.StateOptions{Bucket: *bucket, Poison: *poison}
	if *before != "" {
		d, err := config.ParseDate(*before)
		if err != nil {
			fmt.Fprintf(stderr, "vpcalertd state: --before: %v\n", err)
			return 2
		}
		opts.Before = d
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "vpcalertd state: configuration errors:\n%v\n", err)
		return 2
	}
	if verb == "show" {
		if err := daemon.ShowState(cfg, stdout, opts); err != nil {
			fmt.Fprintf(stderr, "vpcalertd state show: %v\n", err)
			return stateExit(err)
		}
		return 0
	}
	rep, err := daemon.ResetState(cfg, opts)
	if err != nil {
		fmt.Fprintf(stderr, "vpcalertd state reset: %v\n", err)
		return stateExit(err)
	}
	printReset(stdout, cfg, opts, rep)
	return 0
}

func stateExit(err error) int {
	if errors.Is(err, daemon.ErrNoSuchBucketName) {
		return 2
	}
	return 1
}

func printReset(w io.Writer, cfg *config.Config, opts daemon.StateOptions, rep daemon.ResetReport) {
	if rep.MovedAside != "" {
		fmt.Fprintf(w, "moved the unusable state file aside to %s; started a new one at %s\n", rep.MovedAside, cfg.StatePath)
	}
	if rep.Accepted {
		fmt.Fprintf(w, "the new state takes the alerts file %s as it is and appends to it; the objects of its first window are read again\n", cfg.Output.File.Path)
	}
	if rep.CutPartial > 0 {
		fmt.Fprintf(w, "cut an unterminated last line (%d bytes) from %s\n", rep.CutPartial, cfg.Output.File.Path)
	}
	what := "every configured bucket"
	if opts.Bucket != "" {
		what = "bucket " + opts.Bucket
	}
	if opts.Poison {
		fmt.Fprintf(w, "%s: cleared %d objects skipped as poison; they are read again when a pass or a notification reaches them\n", what, rep.Poison)
		return
	}
	if !opts.Before.IsZero() {
		fmt.Fprintf(w, "%s: forgot %d marks of objects before %s; they are read again by a pass whose window reaches them (only_logs_after before that day)\n",
			what, rep.Marks, opts.Before.Format(time.DateOnly))
		return
	}
	fmt.Fprintf(w, "%s: forgot %d marks of %d accounts/regions and the first day; the next pass reads them again from only_logs_after, or from its own day\n",
		what, rep.Marks, rep.Scopes)
}
