package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"

	"github.com/vpcalertd/vpcalertd/engine"
)

// rulesetVerbs are the subcommands of ruleset.
var rulesetVerbs = []struct{ name, usage string }{
	{"check", "check [flags] [DIR]   load and lint the ruleset: every error at its file, line and column"},
	{"test", "test [flags] [DIR]    run the rules' inline tests"},
}

func rulesetUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: vpcalertd ruleset check|test [flags] [DIR]")
	fmt.Fprintln(w)
	for _, v := range rulesetVerbs {
		fmt.Fprintln(w, "  "+v.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "DIR is a ruleset directory (decoders/, rules/, lists/); default: the built-in ruleset.")
	fmt.Fprintln(w, "Run 'vpcalertd ruleset check -h' or 'vpcalertd ruleset test -h' for their flags.")
}

func runRuleset(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		rulesetUsage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		rulesetUsage(stderr)
		return 0
	case "check", "test":
	default:
		fmt.Fprintf(stderr, "vpcalertd ruleset: unknown subcommand %q, expected one of [check test]\n\n", args[0])
		rulesetUsage(stderr)
		return 2
	}
	verb := args[0]
	fs := newFlagSet("ruleset "+verb, stderr, "ruleset "+verb+" [flags] [DIR]")
	var ef engineFlags
	ef.registerLayers(fs, false)
	var lintFatal *bool
	var run *string
	var verbose *bool
	if verb == "check" {
		lintFatal = fs.Bool("lint-fatal", false, "exit 3 when lint finds something (a rule without tests, a condition on the slower VM)")
	} else {
		run = fs.String("run", "", "run only the tests whose `RULEID/NAME` matches this regular expression")
		verbose = fs.Bool("v", false, "list the passing tests too")
		ef.registerNow(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "vpcalertd ruleset %s: at most one DIR, got %d arguments\n", verb, fs.NArg())
		return 2
	}
	label := "built-in ruleset"
	if fs.NArg() == 1 {
		ef.ruleset = fs.Arg(0)
		label = fs.Arg(0)
	}
	for _, d := range ef.userRules {
		label += " + " + d
	}
	opts, err := ef.options(stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vpcalertd ruleset %s: %v\n", verb, err)
		return 2
	}
	if verb == "check" {
		return engine.CheckRuleset(opts, label, engine.CheckOptions{LintFatal: *lintFatal}, stdout, stderr)
	}
	to := engine.TestOptions{Verbose: *verbose}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd ruleset test: --run:", err)
			return 2
		}
		to.Run = re
	}
	return engine.TestRuleset(opts, label, to, stdout, stderr)
}
