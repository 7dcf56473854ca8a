package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/event"
)

// recorder is an Observer that writes down what it sees.
type recorder struct{ calls []string }

func (r *recorder) Event(ev *event.Event) {
	f, _ := ev.Get("aws.srcaddr")
	src := "-"
	if f != nil {
		src = string(f.Value)
	}
	r.calls = append(r.calls, fmt.Sprintf("event %d %s", ev.Origin.Line, src))
}

func (r *recorder) Alert(ev *event.Event, a *alert.Alert) {
	r.calls = append(r.calls, fmt.Sprintf("alert %d %s", ev.Origin.Line, a.RuleID))
}

// refusing is a sink that refuses the alerts of one line.
type refusing struct {
	alert.Discard
	line int
}

func (s refusing) Write(a *alert.Alert) error {
	if a.Origin.Line == s.line {
		return fmt.Errorf("disk full")
	}
	return nil
}

// TestObserverSeesEventsThenTheirAlerts: each record's event comes first,
// then its alerts in the order written; an alert the sink refused is not
// observed.
func TestObserverSeesEventsThenTheirAlerts(t *testing.T) {
	rec := &recorder{}
	e, _ := newTestEngine(t, func(o *Options) { o.Observer = rec })
	in := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 123456789012 eni-1 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n" +
		"2 123456789012 eni-1 - - - - - - - 1709633700 1709633760 - NODATA\n" +
		"2 123456789012 eni-1 198.51.100.77 10.0.1.25 48211 22 6 1 40 1709633700 1709633760 REJECT OK\n"
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "local", Key: "f.log", Path: "f.log"}
	_, err := e.Process(context.Background(), origin, strings.NewReader(in), alert.Discard{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"event 2 10.0.1.25", "alert 2 80401",
		"event 3 -",
		"event 4 198.51.100.77", "alert 4 80402",
	}, rec.calls)

	rec.calls = nil
	_, err = e.Process(context.Background(), origin, strings.NewReader(in), refusing{line: 4})
	require.Error(t, err)
	assert.Equal(t, []string{"event 2 10.0.1.25", "alert 2 80401", "event 3 -", "event 4 198.51.100.77"}, rec.calls)
}

// described is an Observer that writes down each alert's rule, description
// and JSON.
type described struct{ alerts []alert.Alert }

func (d *described) Event(*event.Event) {}

func (d *described) Alert(_ *event.Event, a *alert.Alert) {
	d.alerts = append(d.alerts, alert.Alert{RuleID: a.RuleID, Level: a.Level, Time: a.Time, Origin: a.Origin,
		Description: bytes.Clone(a.Description), JSON: bytes.Clone(a.JSON)})
}

// TestNoJSON: with Options.NoJSON the same alerts reach the sink and the
// Observer, with the description the JSON line would have carried, and
// no JSON.
func TestNoJSON(t *testing.T) {
	in := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n" +
		"2 123456789012 eni-1 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK\n" +
		"2 123456789012 eni-1 - - - - - - - 1709633700 1709633760 - NODATA\n" +
		"2 123456789012 eni-2 198.51.100.77 10.0.1.25 48211 22 17 1 40 1709633700 1709633760 REJECT OK\n"
	origin := event.Origin{Type: event.LogTypeVPCFlow, Bucket: "local", Key: "f.log", Path: "f.log"}
	run := func(noJSON bool) []alert.Alert {
		d := &described{}
		e, _ := newTestEngine(t, func(o *Options) { o.Observer, o.NoJSON = d, noJSON })
		var sink sinkFunc = func(a *alert.Alert) error {
			assert.Equal(t, noJSON, a.JSON == nil, "JSON handed to the sink")
			return nil
		}
		_, err := e.Process(context.Background(), origin, strings.NewReader(in), sink)
		require.NoError(t, err)
		return d.alerts
	}
	lines, bare := run(false), run(true)
	require.Len(t, lines, 2)
	require.Len(t, bare, 2)
	for i, a := range lines {
		var doc struct {
			Rule struct{ Description string } `json:"rule"`
		}
		require.NoError(t, json.Unmarshal(a.JSON, &doc))
		assert.Equal(t, doc.Rule.Description, string(a.Description), "alert %d with JSON", i)
		assert.Contains(t, doc.Rule.Description, []string{"eni-1 - Protocol: 6", "eni-2 - Protocol: 17"}[i])
		a.JSON = nil
		assert.Equal(t, a, bare[i], "alert %d without JSON", i)
	}
}

// sinkFunc is a Sink calling itself for each alert.
type sinkFunc func(a *alert.Alert) error

func (f sinkFunc) Write(a *alert.Alert) error { return f(a) }
func (sinkFunc) Sync() error                  { return nil }
func (sinkFunc) Close() error                 { return nil }
