package daemon

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/engine"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// badRecordsLogged is how many bad records of one object are logged one
// by one; the object's count is logged when it is done.
const badRecordsLogged = 5

// flight is one object being read: its progress for progress lines, and
// its bad records.
type flight struct {
	key     string // s3://bucket/key
	started time.Time
	watch   engine.Watch
	log     *slog.Logger
	m       *metrics.Metrics

	mu       sync.Mutex // guards bad and warnings
	bad      int64      // bad records
	warnings int64      // other problems (an unknown column, …)
}

// flights are the objects a pass or a queue is reading now.
type flights struct {
	mu  sync.Mutex // guards set
	set map[*flight]struct{}
}

func (fs *flights) start(key string, log *slog.Logger, m *metrics.Metrics) *flight {
	f := &flight{key: key, started: time.Now(), log: log, m: m}
	f.watch.OnError = f.onError
	fs.mu.Lock()
	if fs.set == nil {
		fs.set = map[*flight]struct{}{}
	}
	fs.set[f] = struct{}{}
	fs.mu.Unlock()
	return f
}

func (fs *flights) end(f *flight) {
	fs.mu.Lock()
	delete(fs.set, f)
	fs.mu.Unlock()
}

// flightsNow is what a progress line says of the objects in flight, read
// at one moment: the longest object's counts are the ones summed, so a
// line never shows that object ahead of the total.
type flightsNow struct {
	n                          int
	records, bytes             int64
	oldest                     *flight
	oldestRecords, oldestBytes int64
}

// snapshot sums the progress of the objects in flight and returns the one
// read longest, with its counts as summed.
func (fs *flights) snapshot() flightsNow {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var now flightsNow
	for f := range fs.set {
		now.n++
		r, b := f.watch.Records.Load(), f.watch.Bytes.Load()
		now.records += r
		now.bytes += b
		if now.oldest == nil || f.started.Before(now.oldest.started) {
			now.oldest, now.oldestRecords, now.oldestBytes = f, r, b
		}
	}
	return now
}

// onError receives the object's problems from the engine: the first few
// bad records are logged, the rest counted; a broken stream is reported
// with the object's outcome instead.
func (f *flight) onError(err error) {
	var se *decoders.StreamError
	if errors.As(err, &se) {
		return
	}
	var le *ojson.LimitError
	if errors.As(err, &le) {
		f.m.RecordsSkipped(skipReason(le), 1)
	}
	var re *decoders.RecordError
	f.mu.Lock()
	var n int64
	if errors.As(err, &re) {
		f.bad++
		n = f.bad
	} else {
		f.warnings++
		n = f.warnings
	}
	f.mu.Unlock()
	if n > badRecordsLogged {
		return
	}
	if re != nil {
		f.log.Warn("bad record", "error", strings.TrimSpace(err.Error()))
		return
	}
	f.log.Warn("object warning", "error", strings.TrimSpace(err.Error()))
}

// skipReason names a record limit for the metrics.
func skipReason(le *ojson.LimitError) metrics.SkipReason {
	switch {
	case errors.Is(le, ojson.ErrTooManyFields):
		return metrics.SkipTooManyFields
	case errors.Is(le, ojson.ErrTooDeep):
		return metrics.SkipTooDeep
	}
	return metrics.SkipTooLarge
}

// finish logs the object's count of bad records (every object with bad
// records is named, however many were logged one by one).
func (f *flight) finish() {
	f.mu.Lock()
	bad, warnings := f.bad, f.warnings
	f.mu.Unlock()
	if bad > 0 {
		f.log.Warn("object has bad records; they were skipped, the rest of the object was read",
			"bad_records", bad, "logged", min(bad, badRecordsLogged))
	}
	if warnings > badRecordsLogged {
		f.log.Warn("object warnings not logged", "count", warnings-badRecordsLogged)
	}
}
