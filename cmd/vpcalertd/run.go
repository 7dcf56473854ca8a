package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/daemon"
)

const runUsage = `usage: vpcalertd run --config FILE [--once] [--reparse]

Collects the configured S3 buckets every interval, and follows the SQS
queues of buckets with an sqs section, until SIGTERM or SIGINT. With --once
it lists the buckets once and reads what the queues hold now, then exits.
With --reparse it first forgets what was read (vpcalertd state reset) and
then runs one pass, as Wazuh's --reparse: every object from only_logs_after
(or today) is read again and its alerts written again.
FILE is the daemon's YAML configuration, or an ossec.conf whose
<wodle name="aws-s3"> block is read as is (see docs/daemon.md, docs/sqs.md).

`

// runDaemon is `vpcalertd run --config FILE`: the long-running collector
// (docs/daemon.md). The exit status is 0 after a clean stop (SIGTERM,
// SIGINT or the end of ctx) or a clean --once pass, 1 on a fatal error or a
// --once pass that left objects or buckets unread, 2 on a usage or
// configuration error (22 when every configuration error is an unknown
// region, as Wazuh's wodle exits: config.ExitCode).
func runDaemon(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vpcalertd run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	cfgPath := fs.String("config", "", "configuration `file` (YAML, or an ossec.conf)")
	once := fs.Bool("once", false, "run one pass over the buckets and exit")
	reparse := fs.Bool("reparse", false, "forget what was read, then run one pass (implies --once)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "vpcalertd run: configuration errors:\n%v\n", err)
		return config.ExitCode(err)
	}
	log := daemon.NewLogger(stderr, cfg.Log)
	if *reparse {
		rep, err := daemon.ResetState(cfg, daemon.StateOptions{})
		if err != nil {
			log.Error("fatal", "error", "--reparse: "+err.Error())
			return 1
		}
		log.Info("--reparse: state reset; every configured bucket is read again from its first day", "marks", rep.Marks,
			"accounts_regions", rep.Scopes, "moved_aside", rep.MovedAside)
		*once = true
	}
	code, err := daemon.Serve(ctx, daemon.Options{Config: cfg, Once: *once, Stdout: stdout, Logger: log})
	if err != nil {
		log.Error("fatal", "error", err.Error())
	}
	return code
}
