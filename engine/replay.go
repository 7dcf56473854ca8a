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
	// Summary, when set, receives at the end the alerts per rule (the top
	// 20, with level and description), the files with bad records and the
	// rules whose conditions failed at run time.
	Summary io.Writer
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
	var bad []fileCount
	for i, f := range files {
		rc, err := f.Open()
		if err != nil {
			e.opts.OnError(fmt.Errorf("%s: %w", f.Origin.Path, err))
			total.BadLines++
			bad = append(bad, fileCount{f.Origin.Path, 1})
			continue
		}
		st, err := e.Process(ctx, f.Origin, rc, sink)
		rc.Close()
		total.Add(st)
		badHere := st.BadLines
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
				badHere++
			}
		}
		if badHere > 0 {
			bad = append(bad, fileCount{f.Origin.Path, badHere})
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
		fmt.Fprintf(opts.Progress, "replayed %s: %s\n", plural(len(files), "file", "files"), summary(total, time.Since(start)))
	}
	if opts.Summary != nil {
		e.writeSummary(opts.Summary, bad)
	}
	return total, nil
}

func summary(s Stats, d time.Duration) string {
	rate := 0.0
	if d > 0 {
		rate = float64(s.Records) / d.Seconds()
	}
	return fmt.Sprintf("%s, %s, %s, %s, %.0f records/s", plural(int(s.Records), "record", "records"), plural(int(s.Events), "event", "events"),
		plural(int(s.Alerts), "alert", "alerts"), plural(int(s.BadLines), "bad record", "bad records"), rate)
}
