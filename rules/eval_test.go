package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

var t0 = time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)

func evalIDs(t *testing.T, s *Set, js string) Match {
	t.Helper()
	return s.Eval(mustEvent(t, js), t0, nil)
}

func TestEvalSemantics(t *testing.T) {
	const tree = `
rules:
  - id: "1"
    level: 0
    condition: osregex(integration, "aws")
    description: root
  - id: "10"
    level: 3
    if_sid: "1"
    condition: osregex(aws.kind, "multi")
    description: three
  - id: "11"
    level: 0
    if_sid: "1"
    condition: osregex(aws.kind, "multi")
    description: zero
  - id: "12"
    level: 5
    if_sid: "1"
    condition: osregex(aws.kind, "multi|five")
    description: five
  - id: "20"
    level: 3
    if_sid: "1"
    condition: osregex(aws.kind, "deep")
    description: "deep $(aws.missing)[$(aws.kind)]"
  - id: "21"
    level: 2
    if_sid: "20"
    condition: osregex(aws.sub, "x")
    description: low child
  - id: "22"
    level: 12
    if_sid: "20"
    condition: osregex(aws.sub, "never")
    description: high child that does not match
  - id: "30"
    level: 7
    if_sid: "1"
    condition: osregex(aws.kind, "quiet")
    options: [noalert]
    description: noalert
  - id: "31"
    level: 4
    if_sid: "1"
    condition: osregex(aws.kind, "quiet")
    description: after noalert
  - id: "40"
    level: 12
    if_sid: "1"
    condition: osregex(aws.kind, "mail")
    description: mail
  - id: "41"
    level: 3
    if_sid: "1"
    condition: osregex(aws.kind, "post")
    options: [alert_by_email]
    description: by email
  - id: "42"
    level: 4
    if_sid: "1"
    condition: aws.EVENTNAME == "CaseTest"
    description: case-insensitive field names
  - id: "43"
    level: 4
    if_sid: "1"
    condition: has(aws.flag) && !has(aws.other)
    description: "has $(aws.num)"
`
	cases := []struct {
		name, event, id string
		level           int
		alert, mail     bool
		desc            string
	}{
		{"level-0 sibling is tried first", `{"integration":"aws","aws":{"kind":"multi"}}`, "11", 0, false, false, "zero"},
		{"then higher levels first", `{"integration":"aws","aws":{"kind":"five"}}`, "12", 5, true, false, "five"},
		{"first matching child wins, not the highest level", `{"integration":"aws","aws":{"kind":"deep","sub":"x"}}`, "21", 2, false, false, "low child"},
		{"a rule whose children fail is the result", `{"integration":"aws","aws":{"kind":"deep"}}`, "20", 3, true, false, "deep [deep]"},
		{"noalert passes to the next sibling", `{"integration":"aws","aws":{"kind":"quiet"}}`, "31", 4, true, false, "after noalert"},
		{"mail from email_alert_level", `{"integration":"aws","aws":{"kind":"mail"}}`, "40", 12, true, true, "mail"},
		{"alert_by_email", `{"integration":"aws","aws":{"kind":"post"}}`, "41", 3, true, true, "by email"},
		{"unanchored case-insensitive", `{"integration":"AWS-x","aws":{"kind":"FIVE!"}}`, "12", 5, true, false, "five"},
		{"missing field does not match", `{"integration":"aws","aws":{}}`, "1", 0, false, false, "root"},
		{"field names are case-insensitive", `{"integration":"aws","aws":{"eventName":"CaseTest"}}`, "42", 4, true, false, "case-insensitive field names"},
		{"has and numbers as text", `{"integration":"aws","aws":{"flag":"","num":12.5}}`, "43", 4, true, false, "has 12.500000"},
		{"nothing matches", `{"integration":"gcp"}`, "", 0, false, false, ""},
	}
	s, err := loadYAML(t, map[string]string{"a.yml": tree}, nil)
	require.NoError(t, err)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := evalIDs(t, s, c.event)
			if c.id == "" {
				assert.Nil(t, m.Rule)
				return
			}
			require.NotNil(t, m.Rule)
			assert.Equal(t, c.id, m.Rule.ID())
			assert.Equal(t, c.level, m.Rule.Level())
			assert.Equal(t, c.alert, m.Alert, "alert")
			assert.Equal(t, c.mail, m.Mail, "mail")
			assert.Equal(t, c.desc, string(m.Description))
		})
	}
	t.Run("sibling order", func(t *testing.T) {
		var ids []string
		for _, r := range s.Rule("1").Children() {
			ids = append(ids, r.ID())
		}
		assert.Equal(t, []string{"11", "40", "30", "12", "31", "42", "43", "10", "20", "41"}, ids)
	})
}

func TestFiredtimesAndLogAlertLevel(t *testing.T) {
	const f = `
rules:
  - id: "1"
    level: 0
    condition: osregex(aws.kind, "zero")
    description: zero
  - id: "2"
    level: 2
    condition: osregex(aws.kind, "two")
    description: two
`
	s, err := loadYAML(t, map[string]string{"a.yml": f}, nil)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		m := evalIDs(t, s, `{"aws":{"kind":"zero"}}`)
		assert.Equal(t, i, m.Firedtimes, "level-0 final rules count too")
		assert.False(t, m.Alert)
	}
	m := evalIDs(t, s, `{"aws":{"kind":"two"}}`)
	assert.Equal(t, 1, m.Firedtimes)
	assert.False(t, m.Alert, "level 2 < log_alert_level 3")

	fsys := map[string]string{"a.yml": f}
	s2, err := loadYAML(t, fsys, nil)
	require.NoError(t, err)
	s2.opts.LogAlertLevel = 1
	assert.True(t, evalIDs(t, s2, `{"aws":{"kind":"two"}}`).Alert)
}

func TestDescriptionTemplates(t *testing.T) {
	cases := []struct {
		name, desc, event, want string
	}{
		{"missing field is empty", "a $(aws.x) b", `{"aws":{}}`, "a  b"},
		{"field value", "[$(aws.x)]", `{"aws":{"x":"v"}}`, "[v]"},
		{"case-insensitive name", "[$(AWS.X)]", `{"aws":{"x":"v"}}`, "[v]"},
		{"first field wins", "[$(aws.x)]", `{"aws":{"x":"1","X":"2"}}`, "[1]"},
		{"bool and null", "$(aws.b) $(aws.n)", `{"aws":{"b":false,"n":null}}`, "false null"},
		{"just under the limit", strings.Repeat("a", 1013) + "$(aws.x)", `{"aws":{"x":"0123456789"}}`, strings.Repeat("a", 1013) + "0123456789"},
		{"over the limit keeps the template", strings.Repeat("a", 1014) + "$(aws.x)", `{"aws":{"x":"0123456789"}}`, strings.Repeat("a", 1014) + "$(aws.x)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := "rules:\n  - id: \"1\"\n    level: 3\n    description: '" + c.desc + "'\n"
			s, err := loadYAML(t, map[string]string{"a.yml": f}, nil)
			require.NoError(t, err)
			m := evalIDs(t, s, c.event)
			assert.Equal(t, c.want, string(m.Description))
		})
	}
}

func TestListsAndHelpers(t *testing.T) {
	const f = `
rules:
  - id: "1"
    level: 3
    condition: in_list("team/users", aws.user) && list_value("team/users", aws.user) == "admin"
    description: admin $(aws.user)
  - id: "2"
    level: 3
    condition: osmatch(aws.user, "^svc-") || aws.user in ["root", "bob"]
    description: svc
`
	s, err := loadYAML(t, map[string]string{"a.yml": f}, map[string]string{"team/users": "alice:admin\nbob:dev\n\"c:d\":admin\n"})
	require.NoError(t, err)
	assert.Equal(t, "1", evalIDs(t, s, `{"aws":{"user":"alice"}}`).Rule.ID())
	assert.Equal(t, "1", evalIDs(t, s, `{"aws":{"user":"c:d"}}`).Rule.ID())
	assert.Equal(t, "2", evalIDs(t, s, `{"aws":{"user":"bob"}}`).Rule.ID())
	assert.Equal(t, "2", evalIDs(t, s, `{"aws":{"user":"SVC-backup"}}`).Rule.ID())
	assert.Nil(t, evalIDs(t, s, `{"aws":{"user":"Alice"}}`).Rule, "list keys are case-sensitive")
}

func TestOverwriteAndLayers(t *testing.T) {
	base := `
rules:
  - id: "1"
    level: 0
    description: root
  - id: "2"
    level: 3
    if_sid: "1"
    condition: osregex(aws.kind, "a")
    description: two
  - id: "3"
    level: 5
    if_sid: "1"
    condition: osregex(aws.kind, "a")
    description: three
`
	over := `
rules:
  - id: "2"
    level: 9
    overwrite: true
    condition: osregex(aws.kind, "a")
    description: two overwritten
`
	s, err := loadYAML(t, map[string]string{"a.yml": base, "b.yml": over}, nil)
	require.NoError(t, err)
	// 2 keeps its place after 3 (tree order comes from the first definition).
	m := evalIDs(t, s, `{"aws":{"kind":"a"}}`)
	assert.Equal(t, "3", m.Rule.ID())
	assert.Equal(t, 9, s.Rule("2").Level())
	assert.Equal(t, "two overwritten", s.Rule("2").Description())
	assert.Equal(t, "1", s.Rule("2").Parents()[0].ID())
}

func TestTrace(t *testing.T) {
	s := shipped(t)
	ev, err := splitV2(benchFlow)
	require.NoError(t, err)
	var tr Trace
	m := s.Eval(ev, t0, &tr)
	require.Equal(t, "80401", m.Rule.ID())
	var lines []string
	for _, st := range tr.Steps {
		l := strings.Repeat("  ", st.Depth) + st.Rule.ID()
		if st.Matched {
			l += " matched"
		} else {
			l += " failed: " + st.Failed
		}
		lines = append(lines, l)
	}
	assert.Equal(t, []string{
		"80200 matched",
		"  80400 matched",
		`    80402 failed: osregex(aws.action, "REJECT")`,
		"    80401 matched",
	}, lines)
	// A CloudTrail event shows the false part of a conjunction.
	tr = Trace{}
	s.Eval(mustEvent(t, `{"integration":"aws","aws":{"source":"cloudtrail","eventName":"DeleteVpc"}}`), t0, &tr)
	require.Len(t, tr.Steps, 3)
	assert.Equal(t, `in_list("amazon/aws-eventnames", aws.eventName)`, tr.Steps[2].Failed)
}

func TestSymbolsAndUnresolvedEventsAgree(t *testing.T) {
	s := shipped(t)
	a, _ := splitV2(benchFlow)
	b, _ := splitV2(benchFlow)
	withSyms(s, b)
	ma, mb := s.Eval(a, t0, nil), s.Eval(b, t0, nil)
	assert.Equal(t, ma.Rule, mb.Rule)
	assert.Equal(t, string(ma.Description), string(mb.Description))
	assert.NotEqual(t, event.NoSym, s.Symbols().Lookup("aws.action"))
}

// logtest -v quotes the conjunct that failed as written, lists and
// member chains included.
func TestTraceQuotesFailedConjunct(t *testing.T) {
	s, err := loadYAML(t, map[string]string{"a.yml": `rules:
  - id: "1"
    level: 3
    condition: aws.action == "ACCEPT" && aws.dstport in ["22", "3389"] && has(aws.x)
    description: x
`}, nil)
	require.NoError(t, err)
	for js, want := range map[string]string{
		`{"aws":{"action":"REJECT"}}`:                 `aws.action == "ACCEPT"`,
		`{"aws":{"action":"ACCEPT","dstport":"443"}}`: `aws.dstport in ["22", "3389"]`,
		`{"aws":{"action":"ACCEPT","dstport":"22"}}`:  `has(aws.x)`,
	} {
		var tr Trace
		s.NewEvaluator().Eval(mustEvent(t, js), t0, &tr)
		require.Len(t, tr.Steps, 1)
		assert.Equal(t, want, tr.Steps[0].Failed, js)
	}
}

// index keeps the symbols' positions from one event to the next of the
// same Event.Layout (same keys in the same order): each event still sees
// its own values and number texts, an event of another layout or with an
// empty object among its fields is indexed from scratch.
func TestIndexKeptForLayout(t *testing.T) {
	s := helperSet(t, []string{`aws.a == aws.b`}, nil)
	ev := func(layout uint64, fs ...event.Field) *event.Event {
		e := &event.Event{Fields: fs, Layout: layout}
		return withSyms(s, e)
	}
	str := func(k, v string) event.Field { return event.Field{Key: k, Value: []byte(v), Kind: event.String} }
	num := func(k, v string) event.Field { return event.Field{Key: k, Value: []byte(v), Kind: event.Number} }
	a, b := s.Symbols().Lookup("aws.a"), s.Symbols().Lookup("aws.b")
	c := &s.NewEvaluator().c
	get := func(sym int32) string {
		v, ok := c.field(sym)
		if !ok {
			return "<absent>"
		}
		return string(v)
	}
	steps := []struct {
		ev   *event.Event
		a, b string
	}{
		{ev(7, str("aws.a", "1"), str("aws.x", "x"), str("aws.b", "2")), "1", "2"},
		{ev(7, str("aws.a", "3"), str("aws.x", "y"), num("aws.b", "4.50")), "3", "4.500000"},
		// Same layout, but aws.b is an empty object: not a field.
		{ev(7, str("aws.a", "5"), str("aws.x", "z"), event.Field{Key: "aws.b", Value: []byte("{}"), Kind: event.EmptyObject}), "5", "<absent>"},
		{ev(7, str("aws.a", "6"), str("aws.x", "z"), str("aws.b", "7")), "6", "7"},
		// Another layout: other positions.
		{ev(8, str("aws.b", "8"), str("aws.a", "9")), "9", "8"},
		{ev(7, str("aws.a", "10"), str("aws.x", "z"), str("aws.b", "11")), "10", "11"},
		// No layout: never kept.
		{ev(0, str("aws.x", "z"), str("aws.b", "12")), "<absent>", "12"},
		{ev(0, str("aws.a", "13"), str("aws.x", "z")), "13", "<absent>"},
	}
	for i, st := range steps {
		c.index(st.ev)
		assert.Equal(t, st.a, get(a), "event %d: aws.a", i)
		assert.Equal(t, st.b, get(b), "event %d: aws.b", i)
	}
}
