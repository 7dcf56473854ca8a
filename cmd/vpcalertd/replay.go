package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/event"
)

func runReplay(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", stderr, "replay [flags] PATH...")
	var ef engineFlags
	ef.register(fs)
	out := fs.String("out", "", "append alerts to `FILE` instead of writing them to stdout")
	bucket := fs.String("bucket", "local", "log_info.s3bucket of the alerts")
	alias := fs.String("account-alias", "", "log_info.aws_account_alias of the alerts")
	typ := fs.String("type", "", "force the log type: vpcflow or cloudtrail (default: from the key layout, else the content)")
	quiet := fs.Bool("quiet", false, "no progress or summary on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "vpcalertd replay: no PATH given")
		fs.Usage()
		return 2
	}
	switch event.LogType(*typ) {
	case event.LogTypeUnknown, event.LogTypeVPCFlow, event.LogTypeCloudTrail:
	default:
		fmt.Fprintf(stderr, "vpcalertd replay: --type %q: expected one of [vpcflow cloudtrail]\n", *typ)
		return 2
	}
	opts, err := ef.options(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 2
	}
	files, err := collector.Local(fs.Args(), collector.LocalOptions{Bucket: *bucket, AccountAlias: *alias, Type: event.LogType(*typ)})
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 1
	}
	var sink alert.Sink = alert.NewWriterSink(nopCloser{stdout})
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd replay:", err)
			return 1
		}
		if st, err := f.Stat(); err == nil {
			opts.IDOffset = st.Size()
		}
		sink = alert.NewWriterSink(f)
	}
	e, err := engine.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 1
	}
	ro := engine.ReplayOptions{}
	if !*quiet {
		ro.Progress = stderr
	}
	_, err = e.Replay(ctx, files, sink, ro)
	if cerr := sink.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 1
	}
	return 0
}

// nopCloser keeps Close from closing stdout.
type nopCloser struct{ io.Writer }
