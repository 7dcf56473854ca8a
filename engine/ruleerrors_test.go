package engine

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/output"
)

// errorRules has a condition that fails at run time on a NODATA record
// (int("-")) and runs on expr's VM.
var errorRules = fstest.MapFS{"rules/errors.yml": {Data: []byte(`pack: errs
rules:
  - id: "110200"
    level: 5
    condition: aws.source == "vpc" && int(aws.dstport) > 1000
    description: high port $(aws.dstport)
`)}}

const (
	nodataLine = "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n"
	flowLine   = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\n"
)

// TestRuntimeErrorsSurface: a condition that fails at run time is counted
// per rule, reported once with its file and line, shown by logtest -v and
// summed up at the end of a replay.
func TestRuntimeErrorsSurface(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "flows.log")
	require.NoError(t, os.WriteFile(in, []byte(nodataLine+flowLine+nodataLine), 0o644))
	files, err := collector.Local([]string{in}, collector.LocalOptions{})
	require.NoError(t, err)

	var warnings []error
	e, _ := newTestEngine(t, func(o *Options) {
		o.UserRulesets = []fs.FS{errorRules}
		o.OnWarning = func(err error) { warnings = append(warnings, err) }
	})
	var out, summary bytes.Buffer
	_, err = e.Replay(context.Background(), files, output.NewStream(&out), ReplayOptions{Summary: &summary})
	require.NoError(t, err)

	assert.Equal(t, map[string]int64{"110200": 2}, e.RuleErrors())
	require.Len(t, warnings, 1, "reported once per rule")
	var re *RuleError
	require.True(t, errors.As(warnings[0], &re))
	assert.Equal(t, "110200", re.Rule.ID())
	assert.Contains(t, warnings[0].Error(), "rules/errors.yml:3: rule 110200: condition failed at run time, counted as not matching (later errors of this rule are only counted): ")
	assert.Contains(t, out.String(), `"id":"110200"`, "the good record still matches")
	assert.Contains(t, summary.String(), "conditions that failed at run time (counted as not matching): 2 in 1 rule:\n       2  rule 110200 (rules/errors.yml:3)\n")

	// logtest -v shows the error on the rule tried.
	var lt bytes.Buffer
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(nodataLine), &lt, LogtestOptions{Verbose: true}))
	assert.Contains(t, lt.String(), "\tTrying rule: 110200 - high port $(aws.dstport)\n\t\t*Rule 110200 error: ")
	assert.Equal(t, map[string]int64{"110200": 3}, e.RuleErrors())
	assert.Len(t, warnings, 1)
}

// TestWarningReachesOnError: without OnWarning, a warning reaches OnError
// as a *Warning, so that a caller can tell it from a bad record.
func TestWarningReachesOnError(t *testing.T) {
	var got []error
	e, err := New(Options{UserRulesets: []fs.FS{errorRules}, OnError: func(err error) { got = append(got, err) }})
	require.NoError(t, err)
	var out bytes.Buffer
	_, err = e.Process(context.Background(), collector.File{}.Origin, strings.NewReader(nodataLine), output.NewStream(&out))
	require.NoError(t, err)
	require.Len(t, got, 1)
	var w *Warning
	assert.True(t, errors.As(got[0], &w), "%T", got[0])
	assert.True(t, strings.HasPrefix(got[0].Error(), "warning: rules/errors.yml:3: rule 110200: "), got[0].Error())
}

// TestReplaySummary: alerts per rule with level and description, the most
// frequent first, and the files with bad records.
func TestReplaySummary(t *testing.T) {
	files, err := collector.Local([]string{"../testdata/alerts/vpcflow-pack-behaviour.log", "../testdata/alerts/bad-lines.log"}, collector.LocalOptions{})
	require.NoError(t, err)
	e, _ := newTestEngine(t, nil)
	var out, summary bytes.Buffer
	_, err = e.Replay(context.Background(), files, output.NewStream(&out), ReplayOptions{Summary: &summary})
	require.NoError(t, err)
	got := summary.String()
	assert.True(t, strings.HasPrefix(got, "alerts by rule (top 7 of 7 rules):\n"+
		"  alerts  rule    level  description\n"+
		"      22  80402       4  AWS VPC Flow: [$(aws.action)] - Interface: $(aws.interface_id) - Protocol: $(aws.protocol).\n"+
		"      13  80401       3  AWS VPC Flow: [$(aws.action)] - Interface: $(aws.interface_id) - Protocol: $(aws.protocol).\n"+
		"       1  100401     10  AWS VPC Flow: port scan"), got)
	assert.Contains(t, got, "bad records: 3 in 1 file (each reported above as path:line: reason):\n       3  ../testdata/alerts/bad-lines.log\n")
	assert.NotContains(t, got, "failed at run time")
	var total int64
	for _, c := range e.AlertCounts() {
		total += c.Alerts
	}
	assert.Equal(t, int64(strings.Count(out.String(), "\n")), total, "the counts add up to the alerts written")
}
