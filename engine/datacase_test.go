package engine

import (
	"context"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/output"
)

// Rules read the decoded fields as Wazuh's FindField does, before the
// alert's data merges names equal but for case (docs/wazuh-compat.md): a
// field that the data drops still matches a condition and fills a
// description, and the first of the names equal but for case is the one
// found.
func TestRulesReadFieldsTheDataDrops(t *testing.T) {
	user := fstest.MapFS{"rules/zone.yml": {Data: []byte(`rules:
  - id: "100900"
    level: 5
    if_sid: "80202"
    condition: aws.requestParameters.zone.id == "2"
    options: [no_full_log]
    description: "zone $(aws.requestParameters.ZONE) id $(aws.requestParameters.zone.id)"
    groups: [test]
`)}}
	e, errs := newTestEngine(t, func(o *Options) {
		o.UserRulesets = []fs.FS{user}
		o.DisabledPacks = []string{"all"}
	})
	record := `{"Records":[{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"CreateVpc",` +
		`"awsRegion":"us-east-1","requestParameters":{"zone":"a","Zone":{"id":"2"},"ZONE":"b","tags":"[1, 2]"}}]}`
	var out strings.Builder
	origin := event.Origin{Type: event.LogTypeCloudTrail, Bucket: "b", Key: "k", AccountID: "123456789012"}
	sink := output.NewStream(&out)
	_, err := e.Process(context.Background(), origin, strings.NewReader(record), sink)
	require.NoError(t, err)
	require.NoError(t, sink.Close())
	assert.Empty(t, errs.String())
	var alert struct {
		Rule struct{ ID, Description string }
		Data struct {
			AWS struct {
				RequestParameters json.RawMessage `json:"requestParameters"`
			} `json:"aws"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out.String()), &alert), out.String())
	assert.Equal(t, "100900", alert.Rule.ID)
	assert.Equal(t, "zone a id 2", alert.Rule.Description)
	assert.JSONEq(t, `{"zone":"a","tags":[1,2]}`, string(alert.Data.AWS.RequestParameters))
	assert.Contains(t, out.String(), `"requestParameters":{"zone":"a","tags":[1,2]}`)
}
