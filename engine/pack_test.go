package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector"
)

// alertRuleID returns the rule.id of an alerts.json line.
func alertRuleID(t *testing.T, line string) string {
	t.Helper()
	var a struct {
		Rule struct {
			ID string `json:"id"`
		} `json:"rule"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &a))
	return a.Rule.ID
}

func lines(b []byte) []string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestPacksOnlyAddAlerts replays every golden input with the packs off and
// checks that its alerts are the golden file's stock alerts, byte for byte
// except the alert id: a pack alert written before a stock alert moves that
// alert's offset in the file, which is what the id's second half is
// (docs/wazuh-compat.md, "The alerts.json line").
func TestPacksOnlyAddAlerts(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	added := 0
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			files, err := collector.Local(c.paths, c.opts)
			require.NoError(t, err)
			stock, _ := replay(t, files, func(o *Options) { o.DisabledPacks = []string{"all"} })
			golden, err := os.ReadFile(filepath.Join("../testdata/alerts", c.name+".golden.json"))
			if os.IsNotExist(err) {
				golden = nil
			} else {
				require.NoError(t, err)
			}
			var want []string
			for _, l := range lines(golden) {
				r := e.Rules().Rule(alertRuleID(t, l))
				require.NotNil(t, r)
				if r.Pack() != "" {
					added++
					continue
				}
				want = append(want, alertIDRe.ReplaceAllString(l, ","))
			}
			var got []string
			for _, l := range lines(stock) {
				got = append(got, alertIDRe.ReplaceAllString(l, ","))
			}
			assert.Equal(t, want, got)
		})
	}
	assert.Greater(t, added, 10, "the goldens hold pack alerts")
}

// TestPackGolden checks the flow-behaviour fixture's pack alerts: a port
// scan, a large transfer, a threat-listed address (both ways) and SSH from
// the internet, each once.
func TestPackGolden(t *testing.T) {
	b, err := os.ReadFile("../testdata/alerts/vpcflow-pack-behaviour.golden.json")
	require.NoError(t, err)
	count := map[string]int{}
	for _, l := range lines(b) {
		count[alertRuleID(t, l)]++
	}
	assert.Equal(t, map[string]int{"80401": 12, "80402": 21, "100401": 1, "100421": 1, "100431": 1, "100432": 1, "100441": 1}, count)
}

func TestDisabledPacksOption(t *testing.T) {
	files, err := collector.Local([]string{"../testdata/alerts/vpcflow-pack-behaviour.log"}, collector.LocalOptions{})
	require.NoError(t, err)
	out, _ := replay(t, files, func(o *Options) { o.DisabledPacks = []string{"vpc-flow"} })
	for _, l := range lines(out) {
		id := alertRuleID(t, l)
		assert.True(t, id == "80401" || id == "80402", id)
	}
	_, err = New(Options{DisabledPacks: []string{"vpc-flows"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown pack "vpc-flows", expected one of [vpc-cloudtrail vpc-flow] or "all"`)
}

// TestSilenceAcceptFromUserLayer is the documented recipe of
// docs/authoring.md: a user file overwriting 80401 with level 0 removes the
// per-flow ACCEPT alerts, and nothing else.
func TestSilenceAcceptFromUserLayer(t *testing.T) {
	user := fstest.MapFS{"rules/silence-accept.yml": {Data: []byte(`rules:
  - id: "80401"
    overwrite: true
    level: 0
    condition: osregex(aws.action, "ACCEPT")
    description: "AWS VPC Flow: [$(aws.action)] - Interface: $(aws.interface_id) - Protocol: $(aws.protocol)."
    groups: [aws_vpcflow]
    options: [no_full_log]
`)}}
	files, err := collector.Local([]string{"../testdata/alerts/vpcflow-pack-behaviour.log"}, collector.LocalOptions{})
	require.NoError(t, err)
	out, _ := replay(t, files, func(o *Options) { o.UserRulesets = []fs.FS{user} })
	count := map[string]int{}
	for _, l := range lines(out) {
		count[alertRuleID(t, l)]++
	}
	assert.Equal(t, map[string]int{"80402": 21, "100401": 1, "100421": 1, "100431": 1, "100432": 1, "100441": 1}, count)
}

// TestShippedRulesetTests runs the inline tests of the built-in ruleset
// with the real decoders, as `vpcalertd ruleset test` does, and checks the
// coverage promise: every rule of level 3 or more has a test, and every
// pack rule a match case and a near-miss no_match case.
func TestShippedRulesetTests(t *testing.T) {
	var out, errs bytes.Buffer
	code := TestRuleset(Options{}, "built-in ruleset", TestOptions{Now: goldenNow}, &out, &errs)
	require.Equal(t, 0, code, out.String()+errs.String())
	assert.Contains(t, out.String(), " 0 failed")
	assert.NotContains(t, out.String(), "rules without tests")

	e, _ := newTestEngine(t, nil)
	for _, r := range e.Rules().Rules() {
		if r.Pack() == "" {
			continue
		}
		match, noMatch := r.TestCounts()
		assert.Positive(t, match, "rule %s has no match test", r.ID())
		assert.Positive(t, noMatch, "rule %s has no no_match test", r.ID())
	}
}

// A failing inline test prints the expected and the got rule.
func TestRulesetTestReportsFailures(t *testing.T) {
	user := fstest.MapFS{"rules/wrong.yml": {Data: []byte(`pack: vpc-flow
rules:
  - id: "100499"
    level: 9
    if_sid: "100440"
    condition: aws.dstport == "443"
    description: HTTPS to the internet
    tests:
      match:
        - name: expects the wrong level
          log: 2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 51522 443 6 12 4392 1709633700 1709633760 ACCEPT OK
          level: 7
      no_match:
        - name: not a near miss at all
          log: 2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 51522 443 6 12 4392 1709633700 1709633760 ACCEPT OK
`)}}
	var out, errs bytes.Buffer
	code := TestRuleset(Options{UserRulesets: []fs.FS{user}}, "layers", TestOptions{Now: goldenNow}, &out, &errs)
	assert.Equal(t, 1, code)
	assert.Contains(t, out.String(), "rules/wrong.yml:10: rule 100499: match \"expects the wrong level\":\n  exp: rule 100499 level 7\n  got: rule 100499 level 9")
	assert.Contains(t, out.String(), "rules/wrong.yml:14: rule 100499: no_match \"not a near miss at all\": got rule 100499 (level 9), want any other")
	// The new child also takes the result of its parent's own test.
	assert.Contains(t, out.String(), "rule 100440: match \"one flow to the internet ends here\":\n  exp: rule 100440 level 0\n  got: rule 100499 level 9")
	assert.Contains(t, out.String(), "3 failed")
}

func TestLogtestShowsPacks(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	line := "2 123456789012 eni-0a1b2c3d4e5f60718 10.0.0.5 10.0.1.25 48211 22 6 10 840 1709633700 1709633760 ACCEPT OK\n" +
		"2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.77 10.0.1.25 48211 22 6 10 840 1709633700 1709633760 ACCEPT OK\n"
	var out bytes.Buffer
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(line), &out, LogtestOptions{Verbose: true}))
	s := out.String()
	for _, want := range []string{
		"\tPack vpc-flow, rule tree 100420 (evaluated on its own):\n\tTrying rule: 100420 - AWS VPC pack - an accepted flow.\n\t\t*Rule 100420 matched\n",
		"\tTrying rule: 100423 - AWS VPC pack - TCP to SSH or RDP accepted from a public address.\n\t\t*Rule 100423 not matched: is_public(aws.srcaddr) is false: aws.srcaddr = \"10.0.0.5\"\n",
		"\t\t*Rule 100423 matched\n\t\t*Trying child rules\n\tTrying rule: 100421 - ",
		"**Pack vpc-flow (evaluated on its own, after the stock rules):\n\tid: '100421'\n\tlevel: '6'\n",
	} {
		assert.Contains(t, s, want)
	}
	// The stock result comes first and is unchanged.
	first := s[:strings.Index(s, "**Phase 1")+1+strings.Index(s[strings.Index(s, "**Phase 1")+1:], "**Phase 1")]
	assert.Contains(t, first, "**Phase 3: Completed filtering (rules).\n\tid: '80401'")
	assert.NotContains(t, first, "**Pack")

	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(line), &out, LogtestOptions{JSON: true}))
	res := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, res, 2)
	assert.NotContains(t, res[0], "pack_outputs")
	assert.Contains(t, res[1], `"pack_outputs":[{"timestamp":`)
	assert.Contains(t, res[1], `"id":"100421"`)
}

// The pack windows run on the events' own time: the same file replayed a
// day later (another processing clock) gives the same pack alerts.
func TestPackWindowsUseEventTime(t *testing.T) {
	files, err := collector.Local([]string{"../testdata/alerts/vpcflow-pack-behaviour.log"}, collector.LocalOptions{})
	require.NoError(t, err)
	packIDs := func(now time.Time) []string {
		out, _ := replay(t, files, func(o *Options) {
			o.Now = func() time.Time { return now }
			o.DisabledPacks = []string{"vpc-cloudtrail"}
		})
		var ids []string
		for _, l := range lines(out) {
			if id := alertRuleID(t, l); strings.HasPrefix(id, "1004") {
				ids = append(ids, id)
			}
		}
		return ids
	}
	live := packIDs(time.Unix(1709633000, 0))
	assert.Equal(t, live, packIDs(goldenNow.Add(24*time.Hour)))
	assert.Equal(t, []string{"100421", "100401", "100431", "100432", "100441"}, live)
}
