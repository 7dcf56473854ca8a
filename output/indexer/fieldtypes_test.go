package indexer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/internal/golden"
)

const templateFile = "testdata/wazuh-template.alerts-4.x.v4.14.7.json"

// TestFieldTypesFile checks that the embedded field types are exactly those
// of Wazuh's template; -update regenerates them.
func TestFieldTypesFile(t *testing.T) {
	raw, err := os.ReadFile(templateFile)
	require.NoError(t, err)
	var tpl struct {
		Mappings struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"mappings"`
	}
	require.NoError(t, json.Unmarshal(raw, &tpl))
	var lines []string
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for name, m := range props {
			var f struct {
				Type       string                     `json:"type"`
				Format     string                     `json:"format"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			require.NoError(t, json.Unmarshal(m, &f))
			path := prefix + name
			typ := f.Type
			if typ == "" {
				typ = "object"
			}
			line := path + " " + typ
			if f.Format != "" {
				line += " " + f.Format
			}
			lines = append(lines, line)
			if f.Properties != nil {
				walk(path+".", f.Properties)
			}
		}
	}
	walk("", tpl.Mappings.Properties)
	sort.Strings(lines)
	want := "# Field types of Wazuh's wazuh-alerts-4.x index template (wazuh/wazuh\n" +
		"# extensions/elasticsearch/7.x/wazuh-template.json @ v4.14.7), one \"path type [format]\" a line.\n" +
		"# Generated from " + templateFile + " by: go test -run TestFieldTypesFile -update\n" +
		strings.Join(lines, "\n") + "\n"
	golden.Check(t, "fieldtypes.txt", []byte(want))
	if golden.Update() {
		return
	}

	root, err := parseFieldTypes(fieldTypesText)
	require.NoError(t, err)
	for _, tc := range []struct {
		path string
		want ftype
	}{
		{"data.aws.srcaddr", ftIP}, {"data.aws.bytes", ftLong}, {"data.aws.start", ftDate},
		{"rule.level", ftLong}, {"rule.mail", ftBoolean}, {"timestamp", ftDate},
		{"GeoLocation.location", ftGeoPoint}, {"data.aws", ftObject}, {"agent.name", ftKeyword},
	} {
		n := root.lookup(tc.path)
		require.NotNil(t, n, tc.path)
		require.Equal(t, tc.want, n.typ, fmt.Sprint(tc.path))
	}
	require.True(t, root.lookup("timestamp").lenientDate)
	require.False(t, root.lookup("data.aws.start").lenientDate)
	require.Nil(t, root.lookup("data.aws.eventName_x"))
}
