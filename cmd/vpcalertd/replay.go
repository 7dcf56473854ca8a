package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/output"
	"github.com/vpcalertd/vpcalertd/output/indexer"
	"github.com/vpcalertd/vpcalertd/specfile"
)

func runReplay(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("replay", stderr, "replay [flags] PATH...")
	var ef engineFlags
	ef.register(fs)
	out := fs.String("out", "", "append alerts to `FILE` (\"-\": stdout) instead of writing them to stdout")
	var sf sourceFlags
	sf.register(fs)
	quiet := fs.Bool("quiet", false, "no progress or summary on stderr")
	summaryTo := fs.String("summary", "", "write the summary (alerts per rule, files with bad records, rules whose conditions failed) to `FILE` instead of stderr, even with --quiet")
	var ix indexerFlags
	ix.register(fs)
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
	if err := sf.check(); err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 2
	}
	opts, err := ef.options(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 2
	}
	files, err := sf.files(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 1
	}
	var sinks output.Tee
	switch {
	case *out == "-" || (*out == "" && !ix.enabled()):
		sinks = append(sinks, output.NewStream(stdout))
	case *out != "":
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd replay:", err)
			return 1
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			opts.IDOffset = st.Size()
		}
		sinks = append(sinks, output.NewStream(f))
	}
	if ix.enabled() {
		s, err := ix.open(ctx, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd replay:", err)
			return 1
		}
		sinks = append(sinks, s)
	}
	var sink alert.Sink = sinks
	e, err := engine.New(opts)
	if err != nil {
		fmt.Fprintln(stderr, "vpcalertd replay:", err)
		return 1
	}
	ro := engine.ReplayOptions{}
	if !*quiet {
		ro.Progress = stderr
		ro.Summary = stderr
	}
	if *summaryTo != "" {
		f, err := os.Create(*summaryTo)
		if err != nil {
			fmt.Fprintln(stderr, "vpcalertd replay: --summary:", err)
			return 1
		}
		defer f.Close()
		ro.Summary = f
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

// indexerFlags send replayed alerts to the Wazuh indexer (docs/indexer.md).
// Secrets never come from a flag: the password or API key is read from the
// environment variable or file the settings name.
type indexerFlags struct {
	url, config, user, ca string
}

// passwordEnv is where --indexer-user's password is read from.
const passwordEnv = "VPCALERTD_INDEXER_PASSWORD"

func (f *indexerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "indexer", "", "also send the alerts to the Wazuh indexer at `URL` (OpenSearch _bulk)")
	fs.StringVar(&f.config, "indexer-config", "", "indexer settings from a YAML `FILE` (the keys of the daemon's indexer block)")
	fs.StringVar(&f.user, "indexer-user", "", "basic-auth `USER`; the password is read from $"+passwordEnv)
	fs.StringVar(&f.ca, "indexer-ca", "", "PEM `FILE` of the CA that signs the indexer's certificate")
}

func (f *indexerFlags) enabled() bool { return f.url != "" || f.config != "" }

// open builds the indexer sink and checks that the indexer answers and
// accepts the credentials before anything is read.
func (f *indexerFlags) open(ctx context.Context, stderr io.Writer) (*indexer.Sink, error) {
	var cfg indexer.Config
	if f.config != "" {
		data, err := os.ReadFile(f.config)
		if err != nil {
			return nil, fmt.Errorf("--indexer-config: %w", err)
		}
		if err := specfile.DecodeFile(f.config, data, &cfg); err != nil {
			return nil, err
		}
	}
	if f.url != "" {
		cfg.URL = f.url
	}
	if f.user != "" {
		cfg.Auth.Username = f.user
		cfg.Auth.PasswordEnv = passwordEnv
	}
	if f.ca != "" {
		cfg.TLS.CAFile = f.ca
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("indexer: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := indexer.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
