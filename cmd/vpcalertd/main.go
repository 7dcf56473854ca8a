// Command vpcalertd turns Amazon VPC flow logs and CloudTrail files into
// Wazuh-compatible alerts: run the daemon, replay files, test a log line like
// wazuh-logtest, and check or test the ruleset.
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdin, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "vpcalertd: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vpcalertd COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintln(w, "  "+c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'vpcalertd COMMAND -h' for the flags of a command.")
}
