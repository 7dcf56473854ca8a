package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dataCaseEvent is a decoded CloudTrail event whose fields the alert's data
// does not take as they are: names equal but for letter case, and strings
// that look like arrays.
const dataCaseEvent = `{"integration":"aws","aws":{"source":"cloudtrail","eventSource":"ec2.amazonaws.com","eventName":"CreateVpc",` +
	`"requestParameters":{"zone":"a","ZONE":"b","Zone":{"id":"2"},"Net":{"a":"1"},"net":{"b":"2"},"tags":"[1, 2]","x":"[7] ","y":"[1.2.3]"}}}`

// logtest -v says which fields the alert's data drops or merges and which
// strings it writes as JSON; phase 2 lists the data as the alert has it.
func TestLogtestExplainsDataNotes(t *testing.T) {
	e, _ := newTestEngine(t, func(o *Options) { o.DisabledPacks = []string{"all"} })
	var out bytes.Buffer
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(dataCaseEvent+"\n"), &out, LogtestOptions{Verbose: true}))
	text := out.String()
	phase2 := text[strings.Index(text, "**Phase 2"):strings.Index(text, "**Alert data")]
	assert.Contains(t, phase2, "\taws.requestParameters.zone: 'a'\n")
	assert.Contains(t, phase2, "\taws.requestParameters.Net.b: '2'\n")
	assert.NotContains(t, phase2, "ZONE")
	assert.NotContains(t, phase2, "Zone.id")
	assert.NotContains(t, phase2, "net.b")
	assert.Contains(t, text, `**Alert data (rules see the decoded fields above; the alert's data differs):
	aws.requestParameters.ZONE: not in the alert's data: aws.requestParameters.zone came first, the same name but for letter case (Wazuh compares names ignoring case and keeps the first)
	aws.requestParameters.Zone.id: not in the alert's data: aws.requestParameters.zone came first holding a value, not an object (Wazuh compares names ignoring case)
	aws.requestParameters.net.b: in the alert's data as aws.requestParameters.Net.b (Wazuh compares names ignoring case; the first spelling stays)
	aws.requestParameters.tags: written as a JSON array in the alert's data (the string is one whole JSON array for cJSON)
	aws.requestParameters.x: stays a string in the alert's data: its array ends after 3 of its 4 bytes and Wazuh turns a string into JSON only when nothing follows
	aws.requestParameters.y: stays a string in the alert's data: cJSON cannot read it as JSON (it stops at offset 4, '.')

**Rule debugging:`)

	// Without -v there is no such block; --json -v carries the same lines.
	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(dataCaseEvent+"\n"), &out, LogtestOptions{}))
	assert.NotContains(t, out.String(), "**Alert data")
	out.Reset()
	require.NoError(t, e.Logtest(context.Background(), strings.NewReader(dataCaseEvent+"\n"), &out, LogtestOptions{Verbose: true, JSON: true}))
	var res struct {
		DataNotes []string `json:"data_notes"`
		Output    struct {
			Data json.RawMessage `json:"data"`
		} `json:"output"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	assert.Len(t, res.DataNotes, 6)
	assert.Contains(t, string(res.Output.Data), `"requestParameters":{"zone":"a","Net":{"a":"1","b":"2"},"tags":[1,2],"x":"[7] ","y":"[1.2.3]"}`)
}
