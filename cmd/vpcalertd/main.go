package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name  string
	usage string
	run   func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"run", "run --config FILE            run the daemon", runDaemon},
		{"state", "state show|reset --config FILE  show or reset what the daemon has read", runState},
		{"replay", "replay [flags] PATH...        read local files or bucket mirrors, write alerts", runReplay},
		{"report", "report [flags] PATH...        write one HTML page of traffic peaks, talkers and alerts", runReport},
		{"logtest", "logtest [-v] [--json]         test events typed on stdin, like wazuh-logtest", runLogtest},
		{"ruleset", "ruleset check|test [DIR]      lint the ruleset or run its inline tests", runRuleset},
		{"version", "version                       print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func realMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stderr)
		return 0
	case "-version", "--version":
		return runVersion(ctx, nil, stdin, stdout, stderr)
	case "help":
		return runHelp(ctx, args[1:], stdin, stdout, stderr)
	}
	if c, ok := findCommand(args[0]); ok {
		return c.run(ctx, args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "vpcalertd: unknown command %q, expected one of %v\n\n", args[0], commandNames())
	usage(stderr)
	return 2
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return append(names, "help")
}

// runHelp is `vpcalertd help [COMMAND]`: the command's usage and flags, as
// `vpcalertd COMMAND -h` prints them.
func runHelp(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout)
		return 0
	case len(args) > 2 || len(args) == 2 && args[0] != "ruleset":
		fmt.Fprintf(stderr, "vpcalertd help: takes one COMMAND (or ruleset check|test), got %q\n", args)
		return 2
	}
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "vpcalertd help: unknown command %q, expected one of %v\n", args[0], commandNames())
		return 2
	}
	return c.run(ctx, append(args[1:], "-h"), stdin, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vpcalertd COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintln(w, "  "+c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'vpcalertd help COMMAND' (or 'vpcalertd COMMAND -h') for the flags of a command,")
	fmt.Fprintln(w, "'vpcalertd --version' for the version.")
}
