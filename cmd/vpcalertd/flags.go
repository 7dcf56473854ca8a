package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/decoders/parquet"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
)

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// engineFlags are the flags every command that loads the ruleset shares.
type engineFlags struct {
	ruleset     string
	userRules   multiFlag
	managerName string
	now         string
	noPacks     multiFlag
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	f.registerLayers(fs, true)
	fs.StringVar(&f.managerName, "manager-name", "", "manager and agent `NAME` in alerts; default: the host name")
	f.registerNow(fs)
}

// registerLayers registers the flags that choose the rules: --ruleset
// (unless the command takes the ruleset as its argument), --rules and
// --disable-pack.
func (f *engineFlags) registerLayers(fs *flag.FlagSet, ruleset bool) {
	if ruleset {
		fs.StringVar(&f.ruleset, "ruleset", "", "ruleset `DIR` (decoders/, rules/, lists/); default: the built-in ruleset")
	}
	fs.Var(&f.userRules, "rules", "user rules `DIR` layered over the ruleset (repeatable)")
	fs.Var(&f.noPacks, "disable-pack", "switch off a rule pack by `NAME` (vpc-cloudtrail, vpc-flow, or all: only the Wazuh port); repeatable")
}

// registerNow registers --now.
func (f *engineFlags) registerNow(fs *flag.FlagSet) {
	fs.StringVar(&f.now, "now", "", "fix the processing `TIME` (RFC 3339, e.g. 2024-03-05T10:20:31Z), for reproducible output")
}

// options turns the flags into engine options.
func (f *engineFlags) options(stderr io.Writer) (engine.Options, error) {
	opts := engine.Options{ManagerName: f.managerName, DisabledPacks: f.noPacks, OpenTable: parquet.Open}
	if f.ruleset != "" {
		if _, err := os.Stat(f.ruleset); err != nil {
			return opts, fmt.Errorf("ruleset directory: %w", err)
		}
		opts.Ruleset = engine.Dir(f.ruleset)
	}
	for _, d := range f.userRules {
		if _, err := os.Stat(d); err != nil {
			return opts, fmt.Errorf("--rules directory: %w", err)
		}
		opts.UserRulesets = append(opts.UserRulesets, engine.Dir(d))
	}
	if f.now != "" {
		t, err := time.Parse(time.RFC3339Nano, f.now)
		if err != nil {
			return opts, fmt.Errorf("--now %q is not an RFC 3339 time; for example 2024-03-05T10:20:31Z or 2024-03-05T10:20:31.102+01:00", f.now)
		}
		opts.Now = func() time.Time { return t }
	}
	opts.OnError = func(err error) { fmt.Fprintln(stderr, err) }
	opts.OnWarning = func(err error) { fmt.Fprintln(stderr, "warning:", err) }
	return opts, nil
}

// sourceFlags say how local files and bucket mirrors are read: the flags
// replay and report share.
type sourceFlags struct {
	bucket, alias, typ string
}

func (f *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.bucket, "bucket", "local", "log_info.s3bucket of the alerts")
	fs.StringVar(&f.alias, "account-alias", "", "log_info.aws_account_alias of the alerts")
	fs.StringVar(&f.typ, "type", "", "force the log type: vpcflow or cloudtrail (default: from the key layout, else the content)")
}

// check validates the flags; the error is a usage error.
func (f *sourceFlags) check() error {
	switch event.LogType(f.typ) {
	case event.LogTypeUnknown, event.LogTypeVPCFlow, event.LogTypeCloudTrail:
		return nil
	}
	return fmt.Errorf("--type %q: expected one of [vpcflow cloudtrail]", f.typ)
}

// files lists the files to read under paths.
func (f *sourceFlags) files(paths []string) ([]collector.File, error) {
	return collector.Local(paths, collector.LocalOptions{Bucket: f.bucket, AccountAlias: f.alias, Type: event.LogType(f.typ)})
}

func newFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: vpcalertd %s\n\nflags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}
