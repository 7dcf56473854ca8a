package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vpcalertd/vpcalertd/engine"
)

func runLogtest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("logtest", stderr, "logtest [-v] [--json] [flags] < events")
	var ef engineFlags
	ef.register(fs)
	verbose := fs.Bool("v", false, "show every rule tried and why it did or did not match")
	asJSON := fs.Bool("json", false, "print one JSON result per event")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vpcalertd logtest: takes no arguments, got %q: type the events on stdin\n", fs.Args())
		fs.Usage()
		return 2
	}
	opts, err := ef.options(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd logtest:", err)
		return 2
	}
	e, err := engine.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd logtest:", err)
		return 1
	}
	if !*asJSON {
		fmt.Fprintln(stderr, "Type one log per line")
	}
	if err := e.Logtest(ctx, stdin, stdout, engine.LogtestOptions{Verbose: *verbose, JSON: *asJSON}); err != nil {
		fmt.Fprintln(stderr, "vpcalertd logtest:", err)
		return 1
	}
	return 0
}
