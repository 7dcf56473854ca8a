package alert

import (
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// Alert is one alert as written to alerts.json.
type Alert struct {
	// JSON is the complete alerts.json line without the trailing newline. It
	// is only valid during Sink.Write; a sink that keeps it must copy it.
	JSON []byte
	// Description is the alert's rule.description (the rule's description
	// with its fields filled in), valid like JSON.
	Description []byte
	// RuleID and Level are those of the rule that fired.
	RuleID string
	Level  int
	// Time is the alert's timestamp (the processing time, as Wazuh).
	Time time.Time
	// Origin is where the record that caused the alert came from (bucket,
	// key, line or record index, byte offset).
	Origin event.Origin
	// Seq numbers the alerts of one record from 0, so that Origin, RuleID and
	// Seq identify an alert across re-reads of the same object.
	Seq int
}

// Sink receives alerts. Write may buffer; Sync returns once every alert
// written before it is durable (fsync'd to a file, accepted by the indexer or
// stored in its disk queue). Only after Sync may a collector mark the records
// behind those alerts as read. A Sink is used by one goroutine at a time
// unless its documentation says otherwise.
type Sink interface {
	Write(a *Alert) error
	Sync() error
	Close() error
}

// Discard is a Sink that drops every alert.
type Discard struct{}

var _ Sink = Discard{}

// Write drops a.
func (Discard) Write(*Alert) error { return nil }

// Sync does nothing.
func (Discard) Sync() error { return nil }

// Close does nothing.
func (Discard) Close() error { return nil }
