package engine

import (
	"context"
	"io"
	"io/fs"
	"time"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// Options configure an Engine. Zero values get defaults in New.
type Options struct {
	// Ruleset is the ruleset tree (decoders/, rules/, lists/). Nil means
	// the built-in one.
	Ruleset fs.FS
	// ManagerName is the manager and agent name in alerts; default: the host
	// name.
	ManagerName string
	// Now is the processing clock; default time.Now.
	Now func() time.Time
	// OnError receives every non-fatal problem, such as a bad line, already
	// formatted as "path:line: reason". Default: discard.
	OnError func(err error)
}

// Stats counts what one Process call did.
type Stats struct {
	Bytes    int64 // decompressed bytes read
	Records  int64 // records seen (lines, CloudTrail records), header lines included
	Events   int64 // records decoded into events
	Alerts   int64 // alerts written
	BadLines int64 // records rejected with an error
}

// Add adds o to s.
func (s *Stats) Add(o Stats) {
	s.Bytes += o.Bytes
	s.Records += o.Records
	s.Events += o.Events
	s.Alerts += o.Alerts
	s.BadLines += o.BadLines
}

var _ = event.Origin{}
var _ alert.Sink = alert.Discard{}
var _ context.Context
var _ io.Reader
