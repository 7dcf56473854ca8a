package engine

import (
	"bytes"
	"context"
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
