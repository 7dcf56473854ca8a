package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/vpcalertd/vpcalertd/engine"
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
	fs.StringVar(&f.ruleset, "ruleset", "", "ruleset `DIR` (decoders/, rules/, lists/); default: the built-in ruleset")
	fs.Var(&f.userRules, "rules", "user rules `DIR` layered over the ruleset (repeatable)")
	fs.StringVar(&f.managerName, "manager-name", "", "manager and agent `NAME` in alerts; default: the host name")
	fs.StringVar(&f.now, "now", "", "fix the processing time (RFC 3339), for reproducible output")
	fs.Var(&f.noPacks, "disable-pack", "switch off a rule pack by `NAME` (vpc-cloudtrail, vpc-flow, or all: only the Wazuh port); repeatable")
}

// options turns the flags into engine options.
func (f *engineFlags) options(stderr io.Writer) (engine.Options, error) {
	opts := engine.Options{ManagerName: f.managerName, DisabledPacks: f.noPacks}
	if f.ruleset != "" {
		if _, err := os.Stat(f.ruleset); err != nil {
			return opts, fmt.Errorf("--ruleset: %w", err)
		}
		opts.Ruleset = os.DirFS(f.ruleset)
	}
	for _, d := range f.userRules {
		if _, err := os.Stat(d); err != nil {
			return opts, fmt.Errorf("--rules: %w", err)
		}
		opts.UserRulesets = append(opts.UserRulesets, fs.FS(os.DirFS(d)))
	}
	if f.now != "" {
		t, err := time.Parse(time.RFC3339Nano, f.now)
		if err != nil {
			return opts, fmt.Errorf("--now: %w", err)
		}
		opts.Now = func() time.Time { return t }
	}
	opts.OnError = func(err error) { fmt.Fprintln(stderr, err) }
	opts.OnWarning = func(err error) { fmt.Fprintln(stderr, "warning:", err) }
	return opts, nil
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
