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

func runRuleset(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprintln(stderr, "usage: vpcalertd ruleset check|test [flags] [DIR]")
		return 2
	}
	verb := args[0]
	fs := newFlagSet("ruleset "+verb, stderr, "ruleset "+verb+" [flags] [DIR]")
	var ef engineFlags
	ef.register(fs)
	lintFatal := fs.Bool("lint-fatal", false, "check: exit 3 when lint finds something")
	run := fs.String("run", "", "test: run only the tests whose `RULEID/NAME` matches this regular expression")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "vpcalertd ruleset: at most one DIR")
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
		fmt.Fprintln(stderr, "vpcalertd ruleset:", err)
		return 2
	}
	if verb == "check" {
		return engine.CheckRuleset(opts, label, engine.CheckOptions{LintFatal: *lintFatal}, stdout, stderr)
	}
	to := engine.TestOptions{}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd ruleset: --run:", err)
			return 2
		}
		to.Run = re
	}
	return engine.TestRuleset(opts, label, to, stdout, stderr)
}
