package rules

import (
	"os"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

const stockTree = `
group: [test]
rules:
  - id: "1"
    level: 0
    condition: integration == "aws"
    description: root
  - id: "2"
    level: 3
    if_sid: "1"
    condition: aws.action == "ACCEPT"
    description: accepted
  - id: "3"
    level: 4
    if_sid: "1"
    condition: aws.action == "REJECT"
    description: rejected
`

const packFile = `
pack: demo
group: [demo]
rules:
  - id: "100"
    level: 0
    condition: integration == "aws" && aws.action == "ACCEPT"
    description: accepted (pack root)
  - id: "101"
    level: 8
    if_sid: "100"
    condition: aws.dstport == "22"
    description: "ssh accepted from $(aws.src)"
  - id: "110"
    level: 6
    condition: integration == "aws" && aws.src == "198.51.100.7"
    description: listed address
`

func packSet(t *testing.T, opts Options, extra map[string]string) (*Set, error) {
	t.Helper()
	fsys := fstest.MapFS{
		"rules/0350-stock.yml": {Data: []byte(stockTree)},
		"rules/0900-pack.yml":  {Data: []byte(packFile)},
	}
	layers := []Layer{{FS: fsys, RulesDir: "rules"}}
	if extra != nil {
		user := fstest.MapFS{}
		for n, body := range extra {
			user[n] = &fstest.MapFile{Data: []byte(body)}
		}
		layers = append(layers, Layer{FS: user, RulesDir: "."})
	}
	return Load(layers, opts)
}

func ids(ms []Match) []string {
	var out []string
	for _, m := range ms {
		if m.Rule == nil {
			out = append(out, "-")
			continue
		}
		out = append(out, m.Rule.ID())
	}
	return out
}

func TestPackPasses(t *testing.T) {
	s, err := packSet(t, Options{}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"demo"}, s.Packs())
	assert.Equal(t, []string{"100", "110"}, []string{s.PackRoots()[0].ID(), s.PackRoots()[1].ID()})
	assert.Equal(t, []string{"1"}, []string{s.Roots()[0].ID()}, "pack roots are not stock roots")
	cases := []struct {
		name, event string
		want        []string
	}{
		{"the stock result first, then every pack root that matched",
			`{"integration":"aws","aws":{"action":"ACCEPT","dstport":"22","src":"198.51.100.7"}}`, []string{"2", "101", "110"}},
		{"a pack root of level 0 is a result without alert",
			`{"integration":"aws","aws":{"action":"ACCEPT","dstport":"443"}}`, []string{"2", "100"}},
		{"the stock result is kept when no pack matches",
			`{"integration":"aws","aws":{"action":"REJECT"}}`, []string{"3"}},
		{"nothing at all", `{"integration":"gcp"}`, []string{"-"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := mustEvent(t, c.event)
			e := s.NewEvaluator()
			ms := e.EvalAll(ev, t0, nil)
			assert.Equal(t, c.want, ids(ms))
			// Eval gives the stock result alone, as Wazuh would.
			stock := s.NewEvaluator().Eval(ev, t0, nil)
			assert.Equal(t, ids([]Match{stock}), ids(ms[:1]))
			for _, m := range ms[1:] {
				assert.Equal(t, m.Rule.Level() >= 3, m.Alert, m.Rule.ID())
			}
		})
	}
	ms := s.NewEvaluator().EvalAll(mustEvent(t, `{"integration":"aws","aws":{"action":"ACCEPT","dstport":"22","src":"198.51.100.7"}}`), t0, nil)
	assert.Equal(t, "accepted", string(ms[0].Description))
	assert.Equal(t, "ssh accepted from 198.51.100.7", string(ms[1].Description))
	assert.Equal(t, "listed address", string(ms[2].Description))
	assert.Equal(t, []string{"demo"}, ms[1].Rule.Groups())
	assert.Equal(t, "demo", ms[1].Rule.Pack())

	// Set.EvalAll returns copies.
	out := s.EvalAll(mustEvent(t, `{"integration":"aws","aws":{"action":"ACCEPT","dstport":"22","src":"x"}}`), t0, nil)
	assert.Equal(t, []string{"2", "101"}, ids(out))
	assert.Equal(t, "ssh accepted from x", string(out[1].Description))
}

func TestPackTrace(t *testing.T) {
	s, err := packSet(t, Options{}, nil)
	require.NoError(t, err)
	var tr Trace
	s.NewEvaluator().EvalAll(mustEvent(t, `{"integration":"aws","aws":{"action":"ACCEPT","dstport":"443"}}`), t0, &tr)
	var steps []string
	for _, st := range tr.Steps {
		steps = append(steps, st.Pack+":"+st.Rule.ID())
	}
	assert.Equal(t, []string{":1", ":3", ":2", "demo:100", "demo:101", "demo:110"}, steps)
	assert.Equal(t, `aws.dstport == "22"`, tr.Steps[4].Failed)
}

func TestDisabledPacks(t *testing.T) {
	for _, off := range [][]string{{"demo"}, {PackAll}} {
		s, err := packSet(t, Options{DisabledPacks: off}, nil)
		require.NoError(t, err)
		assert.Empty(t, s.Packs())
		assert.Nil(t, s.Rule("101"))
		ms := s.NewEvaluator().EvalAll(mustEvent(t, `{"integration":"aws","aws":{"action":"ACCEPT","dstport":"22"}}`), t0, nil)
		assert.Equal(t, []string{"2"}, ids(ms))
	}
	_, err := packSet(t, Options{DisabledPacks: []string{"dmeo"}}, nil)
	require.ErrorIs(t, err, ErrUnknownPack)
	assert.Contains(t, err.Error(), `unknown pack "dmeo", expected one of [demo] or "all"`)

	// A user overwrite of a rule of a disabled pack goes with it; a user
	// rule under it does not load.
	over := "rules:\n  - id: \"101\"\n    overwrite: true\n    level: 2\n    condition: aws.dstport == \"2222\"\n    description: x\n"
	s, err := packSet(t, Options{DisabledPacks: []string{"demo"}}, map[string]string{"u.yml": over})
	require.NoError(t, err)
	assert.Nil(t, s.Rule("101"))
	child := "pack: demo\nrules:\n  - id: \"102\"\n    level: 9\n    if_sid: \"101\"\n    condition: aws.src == \"x\"\n    description: x\n"
	s, err = packSet(t, Options{DisabledPacks: []string{"demo"}}, map[string]string{"u.yml": child})
	require.NoError(t, err)
	assert.Nil(t, s.Rule("102"))
}

func TestPackRulesStayInTheirPack(t *testing.T) {
	cases := []struct {
		name, file, msg string
	}{
		{"a stock rule under a pack rule",
			"rules:\n  - id: \"900\"\n    level: 5\n    if_sid: \"100\"\n    description: x\n",
			"u.yml:4:13: rule 900: if_sid: parent in another pack: rule 900 is in the stock rules (no pack), rule 100 in pack demo"},
		{"a pack rule under a stock rule",
			"pack: demo\nrules:\n  - id: \"900\"\n    level: 5\n    if_sid: \"2\"\n    description: x\n",
			"u.yml:5:13: rule 900: if_sid: parent in another pack: rule 900 is in pack demo, rule 2 in the stock rules (no pack)"},
		{"a pack rule correlating on a stock rule",
			"pack: demo\nrules:\n  - id: \"900\"\n    level: 5\n    if_sid: \"100\"\n    if_matched_sid: \"2\"\n    frequency: 2\n    description: x\n",
			"u.yml:6:21: rule 900: if_matched_sid: parent in another pack"},
		{"an overwrite moving a rule to another pack",
			"pack: other\nrules:\n  - id: \"2\"\n    overwrite: true\n    level: 5\n    description: x\n",
			`u.yml:4:16: rule 2: overwrite: overwrite cannot move rule 2 from pack "" to pack "other"`},
		{"a bad pack name", "pack: Demo_2\nrules: []\n", `u.yml:1:7: pack: pack name "Demo_2" must be lower-case letters, digits and '-'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := packSet(t, Options{}, map[string]string{"u.yml": c.file})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	// An overwrite without pack: keeps the rule in its pack.
	s, err := packSet(t, Options{}, map[string]string{"u.yml": "rules:\n  - id: \"101\"\n    overwrite: true\n    level: 10\n    condition: aws.dstport == \"2222\"\n    description: ssh on 2222\n"})
	require.NoError(t, err)
	assert.Equal(t, "demo", s.Rule("101").Pack())
	ms := s.NewEvaluator().EvalAll(mustEvent(t, `{"integration":"aws","aws":{"action":"ACCEPT","dstport":"2222"}}`), t0, nil)
	assert.Equal(t, []string{"2", "101"}, ids(ms))
	assert.Equal(t, 10, ms[1].Rule.Level())
}

// TestSilenceAcceptKeepsPacks is the documented way to silence the
// per-flow ACCEPT alerts (docs/authoring.md): a user file overwriting
// 80401 with level 0. REJECT alerts and the VPC pack's alerts stay.
func TestSilenceAcceptKeepsPacks(t *testing.T) {
	silence := `rules:
  - id: "80401"
    overwrite: true
    level: 0
    condition: osregex(aws.action, "ACCEPT")
    description: "AWS VPC Flow: [$(aws.action)] - Interface: $(aws.interface_id) - Protocol: $(aws.protocol)."
    groups: [aws_vpcflow]
    options: [no_full_log]
`
	user := fstest.MapFS{"rules/silence-accept.yml": {Data: []byte(silence)}}
	s, err := Load([]Layer{{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"}, {FS: user, RulesDir: "rules"}}, Options{})
	require.NoError(t, err)
	e := s.NewEvaluator()
	eval := func(line string) []Match {
		ev, err := splitV2(line)
		require.NoError(t, err)
		return e.EvalAll(ev, t0, nil)
	}
	accept := eval("2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.25 203.0.113.45 443 51522 6 12 4392 1709633700 1709633760 ACCEPT OK")
	assert.Equal(t, "80401", accept[0].Rule.ID())
	assert.False(t, accept[0].Alert, "ACCEPT is silenced")
	for _, m := range accept[1:] {
		assert.False(t, m.Alert, "no pack alert for a plain outbound flow: %s", m.Rule.ID())
	}
	reject := eval("2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.77 10.0.1.25 48211 22 6 1 40 1709633700 1709633760 REJECT OK")
	assert.Equal(t, "80402", reject[0].Rule.ID())
	assert.True(t, reject[0].Alert, "REJECT still alerts")
	ssh := eval("2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.77 10.0.1.25 48211 22 6 10 840 1709633700 1709633760 ACCEPT OK")
	assert.False(t, ssh[0].Alert)
	var packAlerts []string
	for _, m := range ssh[1:] {
		if m.Alert {
			packAlerts = append(packAlerts, m.Rule.ID())
		}
	}
	assert.Equal(t, []string{"100421"}, packAlerts, "SSH accepted from a public address still alerts")
}

// A user layer's list replaces the shipped one of the same name: a peer in
// vpc/known-accounts is a plain peering change.
func TestKnownAccountsFromUserLayer(t *testing.T) {
	peering := `{"integration":"aws","aws":{"source":"cloudtrail","eventSource":"ec2.amazonaws.com","eventName":"CreateVpcPeeringConnection",` +
		`"recipientAccountId":"123456789012","requestParameters":{"vpcId":"vpc-1","peerOwnerId":"444455556666"}}}`
	result := func(layers []Layer) string {
		s, err := Load(layers, Options{})
		require.NoError(t, err)
		for _, m := range s.NewEvaluator().EvalAll(mustEvent(t, peering), t0, nil)[1:] {
			if m.Rule.Pack() == "vpc-cloudtrail" {
				return m.Rule.ID()
			}
		}
		return ""
	}
	shippedLayer := Layer{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"}
	assert.Equal(t, "100222", result([]Layer{shippedLayer}))
	user := fstest.MapFS{"lists/vpc/known-accounts": {Data: []byte("444455556666:shared services\n")}}
	assert.Equal(t, "100220", result([]Layer{shippedLayer, {FS: user, ListsDir: "lists", RulesDir: "."}}))
}

// The packs' passes do not allocate once the windows hold their groups.
func TestEvalAllDoesNotAllocate(t *testing.T) {
	s := shipped(t)
	e := s.NewEvaluator()
	for _, line := range []string{benchFlow, "2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.77 10.0.1.25 48211 22 6 1 40 1709633700 1709633760 REJECT OK"} {
		ev, err := testDecode(TestInput{Log: line, Type: event.LogTypeVPCFlow})
		require.NoError(t, err)
		ev = withSyms(s, ev)
		e.EvalAll(ev, t0, nil)
		assert.Zero(t, testing.AllocsPerRun(200, func() { e.EvalAll(ev, t0, nil) }), line)
	}
	trail := withSyms(s, mustEvent(t, benchTrail))
	e.EvalAll(trail, t0, nil)
	assert.Zero(t, testing.AllocsPerRun(200, func() { e.EvalAll(trail, t0, nil) }))
}

// SSH from a network of the user's vpc/trusted-sources raises nothing.
func TestTrustedSourcesFromUserLayer(t *testing.T) {
	ssh := "2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.77 10.0.1.25 48211 22 6 10 840 1709633700 1709633760 ACCEPT OK"
	packIDs := func(layers []Layer) []string {
		s, err := Load(layers, Options{})
		require.NoError(t, err)
		ev, err := testDecode(TestInput{Log: ssh})
		require.NoError(t, err)
		var out []string
		for _, m := range s.NewEvaluator().EvalAll(withSyms(s, ev), t0, nil)[1:] {
			if m.Alert {
				out = append(out, m.Rule.ID())
			}
		}
		return out
	}
	shippedLayer := Layer{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"}
	assert.Equal(t, []string{"100421"}, packIDs([]Layer{shippedLayer}))
	user := fstest.MapFS{"lists/vpc/trusted-sources": {Data: []byte("198.51.100.0/24:office VPN\n")}}
	assert.Empty(t, packIDs([]Layer{shippedLayer, {FS: user, ListsDir: "lists", RulesDir: "."}}))
}
