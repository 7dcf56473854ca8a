package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// transcriptBlocks splits the constructed wazuh-logtest transcript into its
// input lines and the output printed for each (comment lines dropped).
func transcriptBlocks(t *testing.T) (inputs, outputs []string) {
	b, err := os.ReadFile("../testdata/wazuh-parity/wazuh-logtest-transcript-vpcflow.CONSTRUCTED.txt")
	require.NoError(t, err)
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			outputs = append(outputs, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "#"), strings.HasPrefix(l, "Starting"), strings.HasPrefix(l, "Type one"):
			flush()
		case strings.HasPrefix(l, "{"):
			flush()
			inputs = append(inputs, l)
		case strings.HasPrefix(l, "**Phase 1"):
			flush()
			cur = append(cur, l)
		case len(cur) > 0:
			cur = append(cur, l)
		}
	}
	flush()
	return inputs, outputs
}

// The phases printed for the transcript's events match wazuh-logtest's
// (its -v block is abridged, so only the plain blocks are compared).
func TestLogtestMatchesWazuhTranscript(t *testing.T) {
	inputs, outputs := transcriptBlocks(t)
	require.Len(t, inputs, 2)
	require.Len(t, outputs, 3)
	e, _ := newTestEngine(t, nil)
	var out bytes.Buffer
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(inputs[0]+"\n"), &out, LogtestOptions{}))
	assert.Equal(t, strings.TrimSpace(outputs[0]), strings.TrimSpace(out.String()))

	// The header line ends on 80400, level 0: no alert.
	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(inputs[1]+"\n"), &out, LogtestOptions{}))
	want := strings.TrimSpace(outputs[2])
	assert.Equal(t, want, strings.TrimSpace(out.String()))
}

// TestLogtestHeaderLine: a flow-log header typed into logtest sets the
// columns of the lines that follow, as in a file, and logtest says so; a
// CloudTrail record in between is not affected, and lines are numbered as
// typed.
func TestLogtestHeaderLine(t *testing.T) {
	const header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id flow-direction"
	in := header + "\n" +
		"3 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK vpc-0a1 ingress\n" +
		`{"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","eventName":"CreateVpc"}` + "\n\n" +
		"3 123456789010 eni-1 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK vpc-0a1\n"
	e, _ := newTestEngine(t, nil)
	var out bytes.Buffer
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(in), &out, LogtestOptions{}))
	got := out.String()
	assert.True(t, strings.HasPrefix(got, "**Header line (decoder vpcflow): the lines that follow are read with these 16 columns, as in a file:\n\t"+header+"\n\n"), got)
	assert.Contains(t, got, "\taws.flow_direction: 'ingress'\n")
	assert.Contains(t, got, "\taws.vpc_id: 'vpc-0a1'\n")
	assert.Contains(t, got, "\taws.eventName: 'CreateVpc'\n", "a CloudTrail record is read as such")
	assert.Contains(t, got, "No decoder matched: stdin:5: expected 16 fields, got 15\n", "the header is still in force, and line 5 is line 5")

	// Without the header, the v3 line is refused by the default format.
	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(in[len(header)+1:]), &out, LogtestOptions{}))
	assert.Contains(t, out.String(), "stdin:1: expected 14 fields, got 16")

	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(header+"\n"), &out, LogtestOptions{JSON: true}))
	assert.Equal(t, `{"alert":false,"codemsg":0,"decoder":"vpcflow","header":["version","account-id","interface-id","srcaddr","dstaddr","srcport","dstport","protocol","packets","bytes","start","end","action","log-status","vpc-id","flow-direction"]}`+"\n", out.String())
}

// TestLogtestWarnings: what the decoders warn about — a header column no
// decoder knows, say a typo a rule would then never see — is printed with
// the line that caused it, once: not again for each line read with that
// header, again when the header is typed again. JSON results carry it in
// "messages" with codemsg 1, as wazuh-logtest's do.
func TestLogtestWarnings(t *testing.T) {
	const header = "version account-id interface-id scraddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	const line = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 40 1431280876 1431280934 REJECT OK"
	in := header + "\n" + line + "\n" + line + "\n" + header + "\n"
	e, _ := newTestEngine(t, nil)
	var out bytes.Buffer
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(in), &out, LogtestOptions{}))
	got := out.String()
	warn := "** Logtest: WARNING: stdin:%d: unknown columns \"scraddr\" kept as strings\n**Header line"
	assert.Contains(t, got, fmt.Sprintf(warn, 1))
	assert.Contains(t, got, fmt.Sprintf(warn, 4), "the header typed again")
	assert.Equal(t, 2, strings.Count(got, "WARNING"), got)
	assert.Contains(t, got, "\taws.scraddr: '10.0.0.1'\n")

	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(in), &out, LogtestOptions{JSON: true}))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	for i, want := range []struct {
		code     int
		messages []string
	}{
		{1, []string{`WARNING: stdin:1: unknown columns "scraddr" kept as strings`}},
		{0, nil}, {0, nil},
		{1, []string{`WARNING: stdin:4: unknown columns "scraddr" kept as strings`}},
	} {
		var res struct {
			Codemsg  int      `json:"codemsg"`
			Messages []string `json:"messages"`
		}
		require.NoError(t, json.Unmarshal([]byte(lines[i]), &res), lines[i])
		assert.Equal(t, want.code, res.Codemsg, lines[i])
		assert.Equal(t, want.messages, res.Messages, lines[i])
	}
}
