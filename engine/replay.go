package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/decoders"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Progress, when set, receives a progress line every ProgressEvery
	// (default 2s) and a summary at the end.
	Progress      io.Writer
	ProgressEvery time.Duration
}

// Replay processes local files in order and writes their alerts to sink,
// syncing it at the end. A file that cannot be opened, or whose stream ends
// early, is reported through Options.OnError and counted; the other files go
// on. Only a sink error or a cancelled context stops the replay.
// A file no decoder accepts counts as one bad record.
func (e *Engine) Replay(ctx context.Context, files []collector.File, sink alert.Sink, opts ReplayOptions) (Stats, error) {
	var total Stats
	start := time.Now()
	every := opts.ProgressEvery
	if every == 0 {
		every = 2 * time.Second
	}
	last := start
	for i, f := range files {
		rc, err := f.Open()
		if err != nil {
			e.opts.OnError(fmt.Errorf("%s: %w", f.Origin.Path, err))
			total.BadLines++
			continue
		}
		st, err := e.Process(ctx, f.Origin, rc, sink)
		rc.Close()
		total.Add(st)
		if err != nil {
			var sinkErr *SinkError
			if errors.As(err, &sinkErr) || ctx.Err() != nil {
				return total, err
			}
			var se *decoders.StreamError
			if !errors.As(err, &se) {
				// Not reported by Process yet: the file as a whole was refused.
				e.opts.OnError(err)
				total.BadLines++
			}
		}
		if opts.Progress != nil && time.Since(last) >= every {
			last = time.Now()
			fmt.Fprintf(opts.Progress, "progress: %d/%d files, %s\n", i+1, len(files), summary(total, time.Since(start)))
		}
	}
	if err := sink.Sync(); err != nil {
		return total, err
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "replayed %d files: %s\n", len(files), summary(total, time.Since(start)))
	}
	return total, nil
}

func summary(s Stats, d time.Duration) string {
	rate := 0.0
	if d > 0 {
		rate = float64(s.Records) / d.Seconds()
	}
	return fmt.Sprintf("%d records, %d events, %d alerts, %d bad records, %.0f records/s", s.Records, s.Events, s.Alerts, s.BadLines, rate)
}
