package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func corrSet(t *testing.T, extra string) *Set {
	t.Helper()
	f := `
rules:
  - id: "1"
    level: 0
    condition: osregex(integration, "aws")
    description: root
  - id: "2"
    level: 3
    if_sid: "1"
    condition: osregex(aws.kind, "fail")
    description: one failure
  - id: "3"
    level: 10
    if_matched_sid: "2"
` + extra + `
    description: "many failures $(aws.user)"
`
	s, err := loadYAML(t, map[string]string{"a.yml": f}, nil)
	require.NoError(t, err)
	return s
}

type step struct {
	at   int64 // processing time, seconds after t0
	evt  int64 // event time, seconds after t0
	user string
	want string
}

func runSteps(t *testing.T, s *Set, steps []step) {
	t.Helper()
	for i, st := range steps {
		ev := mustEvent(t, `{"integration":"aws","aws":{"kind":"fail","user":"`+st.user+`"}}`)
		ev.Time = t0.Unix() + st.evt
		m := s.Eval(ev, t0.Add(time.Duration(st.at)*time.Second), nil)
		require.NotNil(t, m.Rule, "step %d", i)
		assert.Equal(t, st.want, m.Rule.ID(), "step %d", i)
	}
}

func TestCorrelation(t *testing.T) {
	cases := []struct {
		name, rule string
		steps      []step
	}{
		{"fires at the frequency-th event", "    frequency: 3\n    timeframe: 10",
			[]step{{at: 0, want: "2"}, {at: 1, want: "2"}, {at: 2, want: "3"}}},
		{"window expired", "    frequency: 3\n    timeframe: 10",
			[]step{{at: 0, want: "2"}, {at: 1, want: "2"}, {at: 12, want: "2"}, {at: 13, want: "2"}, {at: 14, want: "3"}}},
		{"edge of the window counts", "    frequency: 2\n    timeframe: 10",
			[]step{{at: 0, want: "2"}, {at: 10, want: "3"}}},
		{"restarts after firing", "    frequency: 3\n    timeframe: 100",
			[]step{{at: 0, want: "2"}, {at: 1, want: "2"}, {at: 2, want: "3"}, {at: 3, want: "2"}, {at: 4, want: "2"}, {at: 5, want: "3"}}},
		{"same_field", "    frequency: 3\n    timeframe: 100\n    same_field: [aws.user]",
			[]step{{at: 0, user: "a", want: "2"}, {at: 1, user: "b", want: "2"}, {at: 2, user: "a", want: "2"}, {at: 3, user: "b", want: "2"}, {at: 4, user: "a", want: "3"}}},
		{"different_field", "    frequency: 3\n    timeframe: 100\n    different_field: [aws.user]",
			[]step{{at: 0, user: "a", want: "2"}, {at: 1, user: "a", want: "2"}, {at: 2, user: "a", want: "2"}, {at: 3, user: "b", want: "3"}}},
		{"event-time window", "    frequency: 3\n    timeframe: 10\n    time: event",
			[]step{{evt: 0, want: "2"}, {evt: 100, want: "2"}, {evt: 200, want: "2"}, {evt: 205, want: "2"}, {evt: 209, want: "3"}}},
		{"event-time window ignores the processing clock", "    frequency: 2\n    timeframe: 10\n    time: event",
			[]step{{at: 0, evt: 0, want: "2"}, {at: 1000, evt: 5, want: "3"}}},
		{"ignore reports the parent inside the window", "    frequency: 2\n    timeframe: 100\n    ignore: 60",
			[]step{{at: 0, want: "2"}, {at: 1, want: "3"}, {at: 2, want: "2"}, {at: 3, want: "2"}, {at: 62, want: "3"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runSteps(t, corrSet(t, c.rule), c.steps)
		})
	}
}

func TestCorrelationOutput(t *testing.T) {
	s := corrSet(t, "    frequency: 3\n    timeframe: 100\n    mitre: [T1110]")
	var logs []string
	var m Match
	for i, u := range []string{"a", "b", "c"} {
		ev := mustEvent(t, `{"integration":"aws","aws":{"kind":"fail","user":"`+u+`"}}`)
		logs = append(logs, string(ev.AppendWodleJSON(nil)))
		m = s.Eval(ev, t0.Add(time.Duration(i)*time.Second), nil)
	}
	require.Equal(t, "3", m.Rule.ID())
	assert.Equal(t, 3, m.Frequency)
	assert.Equal(t, 1, m.Firedtimes)
	assert.Equal(t, "many failures c", string(m.Description))
	assert.Equal(t, logs[1]+"\n"+logs[0], string(m.PreviousOutput), "newest first")
	assert.Equal(t, &Mitre{IDs: []string{"T1110"}, Tactics: []string{"Credential Access"}, Techniques: []string{"Brute Force"}}, m.Rule.Mitre())

	// Frequency 2 collects one previous event: no previous_output.
	s = corrSet(t, "    frequency: 2\n    timeframe: 100")
	s.Eval(mustEvent(t, `{"integration":"aws","aws":{"kind":"fail"}}`), t0, nil)
	m = s.Eval(mustEvent(t, `{"integration":"aws","aws":{"kind":"fail"}}`), t0, nil)
	require.Equal(t, "3", m.Rule.ID())
	assert.Nil(t, m.PreviousOutput)
}

func TestCorrelationPreviousOutputCap(t *testing.T) {
	s := corrSet(t, "    frequency: 20\n    timeframe: 100")
	var m Match
	for i := 0; i < 20; i++ {
		m = s.Eval(mustEvent(t, `{"integration":"aws","aws":{"kind":"fail"}}`), t0, nil)
	}
	require.Equal(t, "3", m.Rule.ID())
	assert.Len(t, strings.Split(string(m.PreviousOutput), "\n"), 11, "at most 11 previous events")
}

func TestMemoryBound(t *testing.T) {
	s := corrSet(t, "    frequency: 2\n    timeframe: 10\n    same_field: [aws.user]")
	mem := s.st.mem[s.Rule("2").Index()]
	for i := 0; i < memoryCap+50; i++ {
		s.Eval(mustEvent(t, `{"integration":"aws","aws":{"kind":"fail","user":"u`+itoa(i)+`"}}`), t0, nil)
	}
	assert.LessOrEqual(t, len(mem.entries)-mem.start, memoryCap)
	// Everything expires with the window.
	s.Eval(mustEvent(t, `{"integration":"aws","aws":{"kind":"fail","user":"late"}}`), t0.Add(time.Hour), nil)
	assert.Equal(t, 1, len(mem.entries)-mem.start)
}
