package rules

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWazuhParity feeds the datagrams the real Wazuh wodle wrote through
// the shipped ruleset and compares every alert with the alerts.json lines
// constructed from analysisd's source: rule id, level, description,
// firedtimes, mail, frequency, groups and compliance arrays in key order,
// mitre and previous_output.
func TestWazuhParity(t *testing.T) {
	cases := []struct {
		datagrams []string
		alerts    string
	}{
		{[]string{"vpcflow-default-format.datagrams.txt", "vpcflow-custom-format-appended-columns.datagrams.txt"}, "vpcflow.alerts.CONSTRUCTED.jsonl"},
		{[]string{"cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt"}, "cloudtrail-CreateVpc-ok-denied-CreateUser-denied.alerts.CONSTRUCTED.jsonl"},
		{[]string{"cloudtrail-ConsoleLogin-6-failures.datagrams.txt"}, "cloudtrail-ConsoleLogin-bruteforce-80254x5-80255.alerts.CONSTRUCTED.jsonl"},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.alerts, ".alerts.CONSTRUCTED.jsonl"), func(t *testing.T) {
			s := shipped(t)
			want := readLinesT(t, "testdata/"+tc.alerts)
			now := time.Date(2024, 3, 5, 10, 40, 0, 0, time.UTC)
			var got []string
			var dgs []string
			for _, f := range tc.datagrams {
				dgs = append(dgs, readLinesT(t, "testdata/"+f)...)
			}
			for i, dg := range dgs {
				_, body, ok := strings.Cut(strings.TrimPrefix(dg, "1:"), ":")
				require.True(t, ok)
				ev := withSyms(s, mustEvent(t, body))
				m := s.Eval(ev, now.Add(time.Duration(i)*time.Second), nil)
				if m.Alert {
					got = append(got, ruleJSON(m))
				}
			}
			require.Len(t, got, len(want))
			for i := range want {
				assert.JSONEq(t, wantRule(t, want[i]), got[i], "alert %d", i)
				assert.Equal(t, keyOrder(t, wantRule(t, want[i])), keyOrder(t, got[i]), "alert %d key order", i)
			}
		})
	}
}

func readLinesT(t *testing.T, p string) []string {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// wantRule returns the rule object of an alert plus its previous_output.
func wantRule(t *testing.T, line string) string {
	var a struct {
		Rule           json.RawMessage `json:"rule"`
		PreviousOutput *string         `json:"previous_output"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &a))
	out := map[string]any{"rule": json.RawMessage(a.Rule)}
	if a.PreviousOutput != nil {
		out["previous_output"] = *a.PreviousOutput
	}
	b, err := json.Marshal(out)
	require.NoError(t, err)
	// Keep the rule object's own key order: splice it in as raw text.
	return strings.Replace(string(b), string(mustCompact(t, a.Rule)), string(a.Rule), 1)
}

func mustCompact(t *testing.T, raw []byte) []byte {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw))
	return b.Bytes()
}

// ruleJSON renders a Match the way the alert's rule object looks
// (docs/wazuh-compat.md, "The alerts.json line"), for comparison only.
func ruleJSON(m Match) string {
	var b strings.Builder
	r := m.Rule
	q := func(s string) string { j, _ := json.Marshal(s); return string(j) }
	arr := func(v []string) string { j, _ := json.Marshal(v); return string(j) }
	b.WriteString(`{"rule":{"level":` + itoa(r.Level()) + `,"description":` + q(string(m.Description)) + `,"id":` + q(r.ID()))
	if mi := r.Mitre(); mi != nil {
		b.WriteString(`,"mitre":{"id":` + arr(mi.IDs) + `,"tactic":` + arr(mi.Tactics) + `,"technique":` + arr(mi.Techniques) + `}`)
	}
	if m.Frequency > 0 {
		b.WriteString(`,"frequency":` + itoa(m.Frequency))
	}
	b.WriteString(`,"firedtimes":` + itoa(m.Firedtimes))
	if m.Mail {
		b.WriteString(`,"mail":true`)
	} else {
		b.WriteString(`,"mail":false`)
	}
	b.WriteString(`,"groups":` + arr(r.Groups()))
	for _, c := range r.Compliance() {
		b.WriteString(`,` + q(c.Name) + `:` + arr(c.Values))
	}
	b.WriteString(`}`)
	if m.PreviousOutput != nil {
		b.WriteString(`,"previous_output":` + q(string(m.PreviousOutput)))
	}
	b.WriteString(`}`)
	return b.String()
}

// keyOrder lists the keys of the rule object in order.
func keyOrder(t *testing.T, js string) []string {
	var a struct {
		Rule json.RawMessage `json:"rule"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &a))
	dec := json.NewDecoder(bytes.NewReader(a.Rule))
	_, _ = dec.Token()
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}
