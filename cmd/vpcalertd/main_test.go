package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run calls the CLI in process.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = realMain(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const mirror = "../../testdata/buckets/my-vpc-flowlogs"

func TestReplayWritesAlertsAndSummary(t *testing.T) {
	code, out, errs := run(t, "", "replay", "--bucket", "my-vpc-flowlogs", "--now", "2024-03-05T10:20:31.102Z", "--manager-name", "wazuh-manager", mirror)
	require.Equal(t, 0, code, errs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4)
	assert.Contains(t, lines[0], `{"timestamp":"2024-03-05T10:20:31.102+0000","rule":{"level":3,"description":"AWS VPC Flow: [ACCEPT]`)
	assert.Contains(t, lines[0], `"s3bucket":"my-vpc-flowlogs"`)
	assert.Contains(t, errs, "replayed 3 files")
}

func TestReplayBadLinesReportedExitZero(t *testing.T) {
	code, out, errs := run(t, "", "replay", "--quiet", "../../testdata/alerts/bad-lines.log")
	assert.Equal(t, 0, code)
	assert.Equal(t, 2, strings.Count(out, "\n"), "the good lines still alert")
	assert.Contains(t, errs, "bad-lines.log:2: field dstport")
	assert.Contains(t, errs, "bad-lines.log:4: invalid UTF-8")
}

func TestReplayOutFileAppendsWithUniqueIDs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alerts.json")
	for i := 0; i < 2; i++ {
		code, _, errs := run(t, "", "replay", "--quiet", "--out", out, "--now", "2024-03-05T10:20:31Z", mirror)
		require.Equal(t, 0, code, errs)
	}
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(t, lines, 8)
	ids := map[string]bool{}
	for _, l := range lines {
		i := strings.Index(l, `},"id":"`)
		require.Greater(t, i, 0)
		id := l[i+8 : i+8+strings.Index(l[i+8:], `"`)]
		assert.False(t, ids[id], "duplicate alert id %s", id)
		ids[id] = true
	}
}

func TestReplayErrors(t *testing.T) {
	code, _, errs := run(t, "", "replay", "does-not-exist")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "does-not-exist")
	code, _, _ = run(t, "", "replay")
	assert.Equal(t, 2, code)
	code, _, errs = run(t, "", "replay", "--type", "parquet", mirror)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "expected one of [vpcflow cloudtrail]")
}

func TestLogtestPhases(t *testing.T) {
	line := "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\n"
	code, out, errs := run(t, line, "logtest", "-v")
	require.Equal(t, 0, code, errs)
	for _, want := range []string{
		"**Phase 1: Completed pre-decoding.",
		"**Phase 2: Completed decoding.\n\tname: 'json'\n\taws.account_id: '123456789010'",
		"**Rule debugging:\n\tTrying rule: 80200 - AWS alert.\n\t\t*Rule 80200 matched",
		"\tTrying rule: 80402 - AWS VPC Flow",
		"\t\t*Rule 100420 not matched: aws.action == \"ACCEPT\" is false: aws.action = \"REJECT\"\n",
		"**Phase 3: Completed filtering (rules).\n\tid: '80402'\n\tlevel: '4'\n\tdescription: 'AWS VPC Flow: [REJECT] - Interface: eni-1235b8ca123456789 - Protocol: 6.'\n\tgroups: '['amazon', 'aws', 'aws_vpcflow']'\n\tfiredtimes: '1'\n\tmail: 'False'\n**Alert to be generated.",
	} {
		assert.Contains(t, out, want)
	}
}

func TestLogtestJSON(t *testing.T) {
	line := "2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n"
	code, out, _ := run(t, line, "logtest", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"alert":false`)
	assert.Contains(t, out, `"id":"80400"`)
}

func TestRulesetCheck(t *testing.T) {
	code, out, errs := run(t, "", "ruleset", "check")
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "Checking built-in ruleset\n  SUCCESS:")

	bad, err := filepath.Abs("testdata/badruleset")
	require.NoError(t, err)
	code, out, errs = run(t, "", "ruleset", "check", "--rules", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "FAILED")
	assert.Contains(t, errs, "bad.yml:4:28: rule 900001: condition: unexpected token EOF")

	code, out, errs = run(t, "", "ruleset", "check", "--rules", "testdata/unknownparent")
	assert.Equal(t, 1, code)
	assert.Equal(t, "Checking built-in ruleset + testdata/unknownparent\n  FAILED: 1 error\n", out)
	assert.Equal(t, "testdata/unknownparent/parent.yml:4:13: rule 900002: if_sid: unknown parent rule 123\n", errs)
}

func TestRulesetTestAndUserOverwrite(t *testing.T) {
	code, out, errs := run(t, "", "ruleset", "test")
	assert.Equal(t, 0, code, out+errs)
	assert.Contains(t, out, "0 failed")

	// A user rule file that overwrites 80401 with level 0 silences the
	// per-flow ACCEPT alerts and leaves REJECT alone.
	code, out, errs = run(t, "", "replay", "--quiet", "--rules", "testdata/userrules", mirror)
	require.Equal(t, 0, code, errs)
	assert.Equal(t, 1, strings.Count(out, "\n"))
	assert.Contains(t, out, `"id":"80402"`)
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := run(t, "", "version")
	assert.Equal(t, 0, code)
	assert.Regexp(t, `^vpcalertd (\(devel\)|v\S+)( [0-9a-f]{12})?\n$`, out, "the build's module version and revision")
	defer func(v string) { version = v }(version)
	version = "v1.2.3"
	code, out, _ = run(t, "", "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "vpcalertd v1.2.3\n", out, "the version set at build time")
	code, _, errs := run(t, "", "bogus")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown command "bogus"`)
}

func TestDisablePack(t *testing.T) {
	const fixture = "../../testdata/alerts/vpcflow-pack-behaviour.log"
	_, all, _ := run(t, "", "replay", "--quiet", "--now", "2024-03-05T10:40:00Z", fixture)
	_, stock, _ := run(t, "", "replay", "--quiet", "--now", "2024-03-05T10:40:00Z", "--disable-pack", "all", fixture)
	_, noFlow, _ := run(t, "", "replay", "--quiet", "--now", "2024-03-05T10:40:00Z", "--disable-pack", "vpc-flow", fixture)
	assert.Contains(t, all, `"id":"100401"`, "the port scan fires with the packs on")
	assert.NotContains(t, stock, `"id":"1004`)
	assert.Equal(t, stock, noFlow)
	assert.Greater(t, strings.Count(all, "\n"), strings.Count(stock, "\n"))
	code, out, errs := run(t, "", "replay", "--disable-pack", "nope", fixture)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, "vpcalertd replay: unknown pack \"nope\", expected one of [vpc-cloudtrail vpc-flow] or \"all\"\n", errs)
}

// TestMisspeltField: a rule on a field no decoder produces fails `ruleset
// check` at its position, with the field it probably means; replay and
// logtest load it and warn once.
func TestMisspeltField(t *testing.T) {
	const msg = "testdata/misspelt/rules/misspelt.yml:6:39: rule 110900: condition: unknown field aws.srcadr, did you mean aws.srcaddr?"
	code, out, errs := run(t, "", "ruleset", "check", "--rules", "testdata/misspelt")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "Checking built-in ruleset + testdata/misspelt\n  FAILED: 1 rule field unknown to the decoders\n")
	assert.NotContains(t, out, "SUCCESS")
	assert.Contains(t, errs, msg+"\n | aws.source == \"vpc\" && aws.srcadr == \"172.31.9.69\"\n | .......................^\n")

	line := "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK\n"
	code, _, errs = run(t, line+line, "logtest", "--rules", "testdata/misspelt")
	assert.Equal(t, 0, code, errs)
	assert.Equal(t, 1, strings.Count(errs, msg), "warned once, at load:\n%s", errs)
	assert.Contains(t, errs, "warning: testdata/misspelt/rules/misspelt.yml:6:39: ")

	code, _, errs = run(t, "", "replay", "--quiet", "--rules", "testdata/misspelt", mirror)
	assert.Equal(t, 0, code, errs)
	assert.Equal(t, 1, strings.Count(errs, msg), errs)
}

// TestReplaySummaryFlag: the per-rule summary ends replay's stderr, or goes
// to --summary FILE, even with --quiet.
func TestReplaySummaryFlag(t *testing.T) {
	code, _, errs := run(t, "", "replay", "--now", "2024-03-05T10:20:31Z", mirror)
	require.Equal(t, 0, code, errs)
	assert.Contains(t, errs, "alerts by rule (top 2 of 2 rules):\n  alerts  rule   level  description\n")
	file := filepath.Join(t.TempDir(), "summary.txt")
	code, _, errs = run(t, "", "replay", "--quiet", "--summary", file, mirror)
	require.Equal(t, 0, code, errs)
	assert.Empty(t, errs)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(b), "alerts by rule (top 2 of 2 rules):")
}

// TestRulesetTestExplains: a failing case lists the rules tried in its
// tree, with the part of each condition that was false and the values it
// read; -v lists the passing cases.
func TestRulesetTestExplains(t *testing.T) {
	code, out, errs := run(t, "", "ruleset", "test", "--rules", "testdata/failing", "--run", "^1108")
	assert.Equal(t, 1, code, errs)
	assert.Contains(t, out, `FAILED: testdata/failing/rules/failing.yml:19: rule 110801: match "SSH on 443":
  exp: rule 110801 level 7
  got: rule 110800 level 0
  rules tried (pack failing, each top-level rule a tree of its own):
    110800 matched
      110801 not matched: aws.dstport == "22" || aws.dstport == "2222" is false: aws.dstport = "443"
`)
	assert.NotContains(t, out, "PASS:")
	assert.Contains(t, out, "built-in ruleset + testdata/failing: 1 passed, 1 failed\n")

	_, out, errs = run(t, "", "ruleset", "test", "-v", "--rules", "testdata/failing", "--run", "^1108")
	assert.Contains(t, out, `PASS: testdata/failing/rules/failing.yml:10: rule 110800: match "an accepted flow ends here"`+"\n")
	assert.NotContains(t, errs, "WARNING", "only the selected tests' warnings")

	// The decoders' warning about a test's input says why it fails.
	code, out, errs = run(t, "", "ruleset", "test", "--rules", "testdata/failing", "--run", "^1109")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "aws.srcaddr is missing")
	assert.Contains(t, out, `FAILED: testdata/failing/rules/failing.yml:43: rule 110901: match "short line": log line 1: expected 14 fields, got 13`+"\n")
	assert.Equal(t, `WARNING: testdata/failing/rules/failing.yml:30: rule 110900: test "typo in the header": log line 1: unknown columns "scraddr" kept as strings`+"\n", errs)
}

// TestCLIHabits: --version, help COMMAND, exit status 2 for usage errors
// naming what is valid, 3 for --lint-fatal findings, examples for bad
// values, and each ruleset verb's own flags.
func TestCLIHabits(t *testing.T) {
	code, out, _ := run(t, "", "--version")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "vpcalertd "), out)
	code, _, _ = run(t, "", "version", "extra")
	assert.Equal(t, 2, code)

	code, _, errs := run(t, "", "help", "replay")
	assert.Equal(t, 0, code)
	assert.Contains(t, errs, "usage: vpcalertd replay [flags] PATH...")
	code, _, errs = run(t, "", "help", "state")
	assert.Equal(t, 0, code)
	assert.Contains(t, errs, "usage: vpcalertd state show|reset --config FILE")
	code, out, _ = run(t, "", "help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "Run 'vpcalertd help COMMAND'")

	code, _, errs = run(t, "", "frob")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `vpcalertd: unknown command "frob", expected one of [run state replay report logtest ruleset version help]`)
	code, _, errs = run(t, "", "help", "frob")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `unknown command "frob"`)
	code, _, errs = run(t, "", "ruleset", "chek")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `vpcalertd ruleset: unknown subcommand "chek", expected one of [check test]`)
	code, _, _ = run(t, "", "ruleset")
	assert.Equal(t, 2, code)

	_, _, check := run(t, "", "ruleset", "check", "-h")
	_, _, test := run(t, "", "help", "ruleset", "test")
	assert.Contains(t, check, "-lint-fatal")
	assert.Contains(t, test, "-run RULEID/NAME")
	assert.Contains(t, test, "-now TIME")
	for _, other := range []string{"-run", "-now", "-manager-name", "-ruleset"} {
		assert.NotContains(t, check, other)
	}
	for _, other := range []string{"-lint-fatal", "-manager-name", "-ruleset"} {
		assert.NotContains(t, test, other)
	}

	code, _, errs = run(t, "", "logtest", "events.log")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `vpcalertd logtest: takes no arguments, got ["events.log"]: type the events on stdin`)
	code, _, errs = run(t, "", "ruleset", "check", "no-such-dir")
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, "vpcalertd ruleset check: ruleset directory: stat no-such-dir: no such file or directory")

	code, _, errs = run(t, "", "replay", "--now", "yesterday", mirror)
	assert.Equal(t, 2, code)
	assert.Contains(t, errs, `--now "yesterday" is not an RFC 3339 time; for example 2024-03-05T10:20:31Z`)

	// An overwrite without tests is a lint finding: exit 3, and no SUCCESS.
	code, out, errs = run(t, "", "ruleset", "check", "--lint-fatal", "--rules", "testdata/userrules")
	assert.Equal(t, 3, code, errs)
	assert.NotContains(t, out, "SUCCESS")
	assert.Contains(t, out, "  FAILED: ")
	assert.Contains(t, out, ", 1 lint finding (--lint-fatal)\n")
	assert.Contains(t, errs, "rule 80401: lint: no inline tests")
	code, out, _ = run(t, "", "ruleset", "check", "--rules", "testdata/userrules")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "  SUCCESS: ")
}

// TestLayerPositions: files are named with their layer — built-in: for the
// shipped ruleset, the directory given for a user layer — so a duplicate id
// names both places, and a user list replacing a built-in one is shown.
func TestLayerPositions(t *testing.T) {
	code, _, errs := run(t, "", "ruleset", "check", "--rules", "testdata/layers")
	assert.Equal(t, 1, code)
	assert.Contains(t, errs, "testdata/layers/rules/dup.yml:3:9: rule 80401: id: duplicate rule id "+
		"(first defined at built-in:rules/0350-amazon_rules.yml:201); use overwrite: true to replace it\n")

	code, out, errs := run(t, "", "ruleset", "check", "--rules", "testdata/mylist")
	assert.Equal(t, 0, code, errs)
	assert.Contains(t, out, "Checking built-in ruleset + testdata/mylist\n"+
		"  list vpc/threat-addresses: testdata/mylist/lists/vpc/threat-addresses replaces built-in:lists/vpc/threat-addresses\n  SUCCESS: ")
}
