package indexer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

func TestDeliverConstructedAlerts(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	s, _ := newSink(t, fastConfig(srv.URL))
	ids := map[string]bool{}
	written := 0
	for _, f := range constructedFiles {
		alerts := readAlerts(t, f)
		writeAll(t, s, alerts)
		for _, a := range alerts {
			ids[docID(a)] = true
			written++
		}
	}
	require.NoError(t, s.Sync())
	assert.Equal(t, []string{"wazuh-alerts-4.x-2024.03.05"}, srv.Indices())
	assert.Equal(t, ids, storedIDs(t, srv))
	st := s.Stats()
	// The agent-forwarded sample comes from the same line of the same
	// object as the first VPC alert and the same rule: it is the same
	// alert, so the indexer already has it.
	assert.Equal(t, 13, written)
	assert.EqualValues(t, 12, st.Delivered)
	assert.EqualValues(t, 1, st.Duplicates)
	assert.Zero(t, st.DeadLettered)

	// A CloudTrail alert gains the pipeline's fields.
	ct := readAlerts(t, constructedFiles[2])[0]
	doc, ok := srv.Doc("wazuh-alerts-4.x-2024.03.05", docID(ct))
	require.True(t, ok)
	d := mustJSON(t, doc).(map[string]any)
	aws := d["data"].(map[string]any)["aws"].(map[string]any)
	assert.Equal(t, "us-east-1", aws["region"])
	assert.Equal(t, "123456789012", aws["accountId"])
	assert.Equal(t, "2024-03-05T10:20:31.105Z", d["@timestamp"])
	assert.Equal(t, map[string]any{"type": "log"}, d["input"])
	assert.Equal(t, "date", srv.FieldType("wazuh-alerts-4.x-2024.03.05", "@timestamp"))
	assert.Equal(t, "ip", srv.FieldType("wazuh-alerts-4.x-2024.03.05", "data.aws.srcaddr"))
}
