package rules

import (
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The XML shape of Wazuh's rule files, as much as the port needs.
type xmlGroup struct {
	Name  string    `xml:"name,attr"`
	Rules []xmlRule `xml:"rule"`
}

type xmlRule struct {
	ID           string `xml:"id,attr"`
	Level        int    `xml:"level,attr"`
	Frequency    int    `xml:"frequency,attr"`
	Timeframe    int    `xml:"timeframe,attr"`
	IfSID        string `xml:"if_sid"`
	IfMatchedSID string `xml:"if_matched_sid"`
	Fields       []struct {
		Name    string `xml:"name,attr"`
		Pattern string `xml:",chardata"`
	} `xml:"field"`
	Lists []struct {
		Field  string `xml:"field,attr"`
		Lookup string `xml:"lookup,attr"`
		Path   string `xml:",chardata"`
	} `xml:"list"`
	DecodedAs   string   `xml:"decoded_as"`
	Options     []string `xml:"options"`
	Description string   `xml:"description"`
	Group       string   `xml:"group"`
	Mitre       []string `xml:"mitre>id"`
}

var portedIDs = []string{"80200", "80202", "80203", "80250", "80251", "80252", "80253", "80254", "80255", "80400", "80401", "80402"}

// TestPortMatchesWazuhXML catches drift between ruleset/rules/
// 0350-amazon_rules.yml and Wazuh's 0350-amazon_rules.xml.
func TestPortMatchesWazuhXML(t *testing.T) {
	data, err := os.ReadFile("testdata/0350-amazon_rules.v4.14.7.xml")
	require.NoError(t, err)
	var g xmlGroup
	require.NoError(t, xml.Unmarshal(data, &g))
	byID := map[string]xmlRule{}
	for _, r := range g.Rules {
		byID[r.ID] = r
	}
	s := shipped(t)
	for _, id := range portedIDs {
		t.Run(id, func(t *testing.T) {
			x, ok := byID[id]
			require.True(t, ok)
			r := s.Rule(id)
			require.NotNil(t, r)
			assert.Equal(t, "rules/0350-amazon_rules.yml", r.File())
			assert.Equal(t, x.Level, r.Level(), "level")
			assert.Equal(t, x.Description, r.Description(), "description")
			var wantGroups []string
			for _, tok := range strings.Split(g.Name+","+x.Group, ",") {
				if tok = strings.TrimSpace(tok); tok != "" {
					wantGroups = append(wantGroups, tok)
				}
			}
			assert.Equal(t, wantGroups, r.AllGroups(), "groups")
			assert.Equal(t, strings.Contains(strings.Join(x.Options, ","), "no_full_log"), r.NoFullLog(), "no_full_log")
			var parents []string
			for _, p := range r.Parents() {
				parents = append(parents, p.ID())
			}
			wantParent := x.IfSID
			if wantParent == "" {
				wantParent = x.IfMatchedSID
			}
			if wantParent == "" {
				assert.Empty(t, parents)
			} else {
				assert.Equal(t, []string{wantParent}, parents, "parent")
			}
			assert.Equal(t, x.Frequency, r.Frequency(), "frequency")
			if x.Frequency > 0 {
				assert.Equal(t, int64(x.Timeframe), r.corr.timeframe, "timeframe")
				assert.Equal(t, x.IfMatchedSID, r.corr.target.ID(), "if_matched_sid")
			}
			if len(x.Mitre) > 0 {
				require.NotNil(t, r.Mitre())
				assert.Equal(t, x.Mitre, r.Mitre().IDs, "mitre")
			} else {
				assert.Nil(t, r.Mitre())
			}
			// Every <field> is an osregex() conjunct, every <list> an
			// in_list() conjunct, and nothing else.
			var want []string
			for _, f := range x.Fields {
				q := `"` + f.Pattern + `"`
				if strings.Contains(f.Pattern, `\`) {
					q = "`" + f.Pattern + "`"
				}
				want = append(want, "osregex("+f.Name+", "+q+")")
			}
			for _, l := range x.Lists {
				require.Equal(t, "match_key", l.Lookup)
				want = append(want, `in_list("`+strings.TrimPrefix(l.Path, "etc/lists/")+`", `+l.Field+`)`)
			}
			var got []string
			if r.cond != nil {
				for _, cj := range r.cond.conj {
					got = append(got, cj.src)
				}
			}
			assert.Equal(t, want, got, "conditions")
		})
	}
	list, err := os.ReadFile("../ruleset/lists/amazon/aws-eventnames")
	require.NoError(t, err)
	orig, err := os.ReadFile("testdata/aws-eventnames.v4.14.7.cdb-source.txt")
	require.NoError(t, err)
	assert.Equal(t, string(orig), string(list), "the list is a verbatim copy")
	assert.Equal(t, 347, s.List("amazon/aws-eventnames").Len())
}
