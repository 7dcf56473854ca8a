package rules

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// snapRules has every kind of correlation state: fired counters, an
// ignore time, a frequency rule with same_field on the processing clock
// and one with different_field on the event clock (two targets), and the
// three aggregate kinds on both clocks.
const snapRules = `
rules:
  - id: "1"
    level: 0
    condition: integration == "aws"
    description: root
  - id: "2"
    level: 3
    if_sid: "1"
    condition: aws.kind == "fail"
    description: "failure of $(aws.user)"
  - id: "3"
    level: 10
    if_matched_sid: "2"
    frequency: 3
    timeframe: 40
    same_field: [aws.user]
    ignore: 15
    description: "failures of $(aws.user)"
  - id: "4"
    level: 3
    if_sid: "1"
    condition: aws.kind == "login"
    description: "login of $(aws.user)"
  - id: "5"
    level: 8
    if_matched_sid: "4"
    frequency: 4
    timeframe: 30
    time: event
    different_field: [aws.user]
    description: "logins of many users"
  - id: "10"
    level: 0
    if_sid: "1"
    condition: aws.action == "REJECT"
    description: gate
  - id: "11"
    level: 10
    if_sid: "10"
    description: "scan from $(aws.src)"
    aggregate: {kind: distinct, field: aws.port, threshold: 5, timeframe: 30, same_field: [aws.src]}
  - id: "12"
    level: 7
    if_sid: "10"
    description: "rejects from $(aws.src)"
    aggregate: {kind: count, threshold: 6, timeframe: 20, time: processing, same_field: [aws.src]}
  - id: "13"
    level: 6
    if_sid: "10"
    description: "bytes from $(aws.src)"
    aggregate: {kind: sum, field: aws.bytes, threshold: 5000, timeframe: 25, cooldown: 10, same_field: [aws.src]}
`

// snapEvents makes n events of the kinds snapRules correlates, with event
// and processing times moving forward by a few seconds (sometimes back,
// for late events), from a fixed seed.
func snapEvents(n int) (evs []*event.Event, at []time.Time) {
	rng := rand.New(rand.NewPCG(14, 3))
	evt, proc := t0.Unix(), t0
	for range n {
		evt += int64(rng.IntN(4)) - 1
		proc = proc.Add(time.Duration(rng.IntN(3)) * time.Second)
		ev := &event.Event{Time: evt}
		ev.Add("integration", []byte("aws"), event.String, event.NoSym)
		user := fmt.Sprintf("u%d", rng.IntN(3))
		switch k := rng.IntN(10); {
		case k < 3:
			ev.Add("aws.kind", []byte("fail"), event.String, event.NoSym)
			ev.Add("aws.user", []byte(user), event.String, event.NoSym)
		case k < 5:
			ev.Add("aws.kind", []byte("login"), event.String, event.NoSym)
			ev.Add("aws.user", []byte(user), event.String, event.NoSym)
		default:
			ev.Add("aws.action", []byte("REJECT"), event.String, event.NoSym)
			ev.Add("aws.src", []byte(fmt.Sprintf("10.0.0.%d", rng.IntN(3))), event.String, event.NoSym)
			ev.Add("aws.port", []byte(fmt.Sprint(rng.IntN(12))), event.String, event.NoSym)
			ev.Add("aws.bytes", []byte(fmt.Sprint(rng.IntN(1500))), event.Number, event.NoSym)
		}
		evs, at = append(evs, ev), append(at, proc)
	}
	return evs, at
}

// outcome is what an evaluation gave, as it shows in an alert.
func outcome(m Match) string {
	if m.Rule == nil {
		return "-"
	}
	return fmt.Sprintf("%s firedtimes=%d %q prev=%q", m.Rule.ID(), m.Firedtimes, m.Description, m.PreviousOutput)
}

func evalAll(s *Set, evs []*event.Event, at []time.Time) []string {
	e := s.NewEvaluator()
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = outcome(e.Eval(ev, at[i], nil))
	}
	return out
}

func loadSnapRules(t testing.TB, rules string) *Set {
	t.Helper()
	s, err := loadYAML(t, map[string]string{"a.yml": rules}, nil)
	require.NoError(t, err)
	return s
}

// TestSnapshotResumes: evaluating a stream in one go, or up to any point,
// then restoring that point's snapshot into a freshly loaded set and
// evaluating the rest, gives the same result for every event: the same
// rules fire on the same events, with the same firedtimes, descriptions
// and previous_output.
func TestSnapshotResumes(t *testing.T) {
	evs, at := snapEvents(400)
	whole := evalAll(loadSnapRules(t, snapRules), evs, at)
	fired := map[string]int{}
	for _, o := range whole {
		fired[strings.Fields(o)[0]]++
	}
	t.Logf("results by rule: %v", fired)
	for _, id := range []string{"3", "5", "11", "12", "13"} {
		require.Positive(t, fired[id], "the stream fires rule %s (else the test proves nothing): %v", id, fired)
	}
	for k := 0; k <= len(evs); k += 13 {
		first := loadSnapRules(t, snapRules)
		got := evalAll(first, evs[:k], at[:k])
		snap := first.Snapshot()

		second := loadSnapRules(t, snapRules)
		rep, err := second.Restore(snap)
		require.NoError(t, err)
		assert.Empty(t, rep.Skipped)
		assert.Equal(t, snap, second.Snapshot(), "split at %d: the restored state is the saved one", k)
		got = append(got, evalAll(second, evs[k:], at[k:])...)
		require.Equal(t, whole, got, "split at %d", k)
	}
}

// TestSnapshotWithoutRestoreDiffers is the control: resuming from an empty
// state gives other results, so TestSnapshotResumes shows what the
// snapshot carries.
func TestSnapshotWithoutRestoreDiffers(t *testing.T) {
	evs, at := snapEvents(400)
	whole := evalAll(loadSnapRules(t, snapRules), evs, at)
	for _, k := range []int{100, 200, 300} {
		got := evalAll(loadSnapRules(t, snapRules), evs[:k], at[:k])
		got = append(got, evalAll(loadSnapRules(t, snapRules), evs[k:], at[k:])...)
		assert.NotEqual(t, whole, got, "split at %d", k)
	}
}

// TestSnapshotOnlyOpenWindows: groups whose window and cooldown are over
// are left out, so the snapshot does not grow with the groups ever seen.
func TestSnapshotOnlyOpenWindows(t *testing.T) {
	s := aggSet(t, "      kind: count\n      threshold: 1000\n      timeframe: 60\n      same_field: [aws.src]\n")
	e := s.NewEvaluator()
	eval := func(evt int64, src string) {
		ev := &event.Event{Time: t0.Unix() + evt}
		ev.Add("aws.action", []byte("REJECT"), event.String, event.NoSym)
		ev.Add("aws.src", []byte(src), event.String, event.NoSym)
		e.Eval(ev, t0, nil)
	}
	for i := range 5000 {
		eval(int64(i/100), fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	big := len(s.Snapshot())
	// An hour later, one source: every other group is closed.
	eval(3600, "192.0.2.1")
	small := len(s.Snapshot())
	assert.Greater(t, big, 5000*10, "5000 open groups")
	assert.Less(t, small, 200, "one open group")
}

// TestSnapshotRuleChanges: state of rules that are gone or whose
// correlation changed is left out and reported; the rest is restored.
func TestSnapshotRuleChanges(t *testing.T) {
	evs, at := snapEvents(200)
	first := loadSnapRules(t, snapRules)
	evalAll(first, evs, at)
	snap := first.Snapshot()

	changed := strings.Replace(snapRules, "threshold: 6, timeframe: 20", "threshold: 6, timeframe: 21", 1)
	changed = strings.Replace(changed, "different_field: [aws.user]", "different_field: [aws.kind]", 1)
	second := loadSnapRules(t, changed)
	rep, err := second.Restore(snap)
	require.NoError(t, err)
	require.Len(t, rep.Skipped, 2, "%q", rep.Skipped)
	assert.Contains(t, rep.Skipped[0], "rule 4: remembered events lack the field(s) aws.kind")
	assert.Contains(t, rep.Skipped[1], "rule 12: aggregate changed (count threshold 6 timeframe 20")
	assert.Equal(t, first.st.fired[first.byID["3"].index].Load(), second.st.fired[second.byID["3"].index].Load())
	assert.NotZero(t, second.st.fired[second.byID["3"].index].Load())
	assert.NotEmpty(t, second.st.agg[second.byID["11"].index].groups, "unchanged aggregates restored")
	assert.Empty(t, second.st.agg[second.byID["12"].index].groups, "the changed one starts empty")
}

// TestSnapshotDamaged: a snapshot cut short, of another version or not a
// snapshot at all is an ErrSnapshot, and the state is left as it was.
func TestSnapshotDamaged(t *testing.T) {
	evs, at := snapEvents(200)
	src := loadSnapRules(t, snapRules)
	evalAll(src, evs, at)
	snap := src.Snapshot()

	dst := loadSnapRules(t, snapRules)
	evalAll(dst, evs[:50], at[:50])
	before := dst.Snapshot()
	for name, data := range map[string][]byte{
		"empty":      nil,
		"foreign":    []byte(`{"not":"a snapshot"}`),
		"version":    append([]byte(snapshotMagic), 99),
		"cut":        snap[:len(snap)/2],
		"cut-header": snap[:len(snapshotMagic)+3],
		"trailing":   append(append([]byte{}, snap...), 0, 1),
		"huge-count": append([]byte(snapshotMagic+"\x01"), 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dst.Restore(data)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrSnapshot), err.Error())
			assert.Equal(t, before, dst.Snapshot(), "state unchanged")
		})
	}
}

// FuzzSnapshotRestore: any bytes either restore or give an ErrSnapshot;
// never a panic.
func FuzzSnapshotRestore(f *testing.F) {
	evs, at := snapEvents(120)
	s := loadSnapRules(f, snapRules)
	evalAll(s, evs, at)
	f.Add(s.Snapshot())
	f.Add([]byte(snapshotMagic + "\x01\x00\x00\x00"))
	dst := loadSnapRules(f, snapRules)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := dst.Restore(data); err != nil && !errors.Is(err, ErrSnapshot) {
			t.Fatalf("error not ErrSnapshot: %v", err)
		}
	})
}
