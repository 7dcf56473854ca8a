package rules

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// prepRules exercises every piece of state Finish owns: a frequency rule
// with same_field, ignore, a condition that fails at run time (on the VM),
// a rule under two parents, an aggregate gate with a child, a noalert
// rule, and a pack with an aggregate and a frequency rule.
const prepRules = `
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
    timeframe: 30
    same_field: [aws.user]
    description: "many failures $(aws.user)"
  - id: "4"
    level: 5
    if_sid: "1"
    condition: aws.kind == "ok"
    ignore: 5
    description: "ok $(aws.user)"
  - id: "5"
    level: 4
    if_sid: "1"
    condition: aws.kind == "num" && int(aws.n) > 5
    description: "big n $(aws.n)"
  - id: "6"
    level: 6
    if_sid: "2, 4"
    condition: aws.user == "root" && int(aws.n) > 0
    description: "root $(aws.kind)"
  - id: "7"
    level: 3
    if_sid: "1"
    condition: aws.kind == "quiet"
    options: [noalert]
    description: quiet
`

const prepPack = `
pack: p
rules:
  - id: "100"
    level: 0
    condition: integration == "aws" && aws.kind in ["scan", "fail"]
    description: gate
  - id: "101"
    level: 8
    if_sid: "100"
    aggregate: {kind: distinct, field: aws.port, threshold: 3, timeframe: 60, same_field: [aws.user], cooldown: 20}
    description: "scan by $(aws.user)"
  - id: "102"
    level: 9
    if_sid: "101"
    condition: aws.port == "22"
    description: "scan ending on ssh by $(aws.user)"
  - id: "103"
    level: 7
    if_sid: "100"
    condition: aws.port == "22" && int(aws.n) >= 0
    description: ssh
  - id: "105"
    level: 0
    condition: integration == "aws" && aws.kind == "num"
    description: num gate
  - id: "106"
    level: 5
    if_sid: "105"
    options: [noalert]
    aggregate: {kind: count, threshold: 2, timeframe: 30, same_field: [aws.user], cooldown: 0}
    description: noalert counter
  - id: "107"
    level: 6
    if_sid: "106"
    condition: aws.n == "7"
    description: "counted n 7"
  - id: "108"
    level: 4
    if_sid: "105"
    condition: int(aws.n) > 0
    description: "n positive, after the counter"
  - id: "120"
    level: 9
    condition: integration == "aws" && aws.kind == "quiet"
    aggregate: {kind: count, threshold: 3, timeframe: 30, same_field: [aws.user], cooldown: 0}
    description: "three quiet events by $(aws.user) (a pack root that is an aggregate)"
  - id: "130"
    level: 2
    condition: integration == "aws" && aws.kind == "ok" && int(aws.n) > 5
    description: "ok with n above 5 (a pack root on the VM: the index cannot skip its condition)"
  - id: "110"
    level: 3
    condition: integration == "aws" && aws.kind == "fail"
    description: pack failure
  - id: "111"
    level: 12
    if_matched_sid: "110"
    frequency: 2
    timeframe: 10
    time: event
    description: "two failures (pack)"
`

// prepDeepIgnore is a frequency gate three levels deep (1 > 2 or 4 > 6 >
// 8) with ignore: while it is ignored, the result is its parent 6, which
// Finish must take from what Prepare recorded of the gate's ancestors.
const prepDeepIgnore = `
rules:
  - id: "8"
    level: 11
    if_matched_sid: "6"
    frequency: 2
    timeframe: 30
    same_field: [aws.user]
    ignore: 20
    description: "root again $(aws.kind)"
`

// randomEvents returns n events over a few users, kinds and ports, with
// event times and processing times that move forward in small steps.
func randomEvents(t testing.TB, s *Set, n int, seed int64) ([]*event.Event, []time.Time) {
	rng := rand.New(rand.NewSource(seed))
	// JSON numbers of more than nine digits or with a fraction: their
	// text is made in the Evaluator's buffer, which the next event reuses,
	// so what Prepare keeps of them for Finish must be a copy.
	users := []string{`"alice"`, `"bob"`, `"root"`, `12345678901`}
	ports := []string{`"21"`, `"22"`, `"23"`, `"80"`, `"443"`, `8080.5`}
	kinds := []string{"fail", "ok", "num", "scan", "quiet", "other"}
	ns := []string{"1", "7", "x", "0", "7"}
	evs := make([]*event.Event, n)
	nows := make([]time.Time, n)
	at := int64(0)
	for i := range evs {
		at += int64(rng.Intn(4))
		js := fmt.Sprintf(`{"integration":"aws","aws":{"kind":%q,"user":%s,"port":%s,"n":%q}}`,
			kinds[rng.Intn(len(kinds))], users[rng.Intn(len(users))], ports[rng.Intn(len(ports))], ns[rng.Intn(len(ns))])
		evs[i] = withSyms(s, mustEvent(t, js))
		evs[i].Time = t0.Unix() + at
		nows[i] = t0.Add(time.Duration(at) * time.Second)
	}
	return evs, nows
}

// matchText is a Match as text, for comparing.
func matchText(ms []Match) string {
	var b strings.Builder
	for _, m := range ms {
		id := "-"
		if m.Rule != nil {
			id = m.Rule.ID()
		}
		fmt.Fprintf(&b, "[%s alert=%v mail=%v fired=%d freq=%d desc=%q prev=%q] ", id, m.Alert, m.Mail, m.Firedtimes, m.Frequency, m.Description, m.PreviousOutput)
	}
	return b.String()
}

// TestPrepareFinishIsEvalAll: Prepare on events well ahead (another
// Evaluator, as a pipeline worker does), then Finish in order, gives
// exactly EvalAll's results, run-time error counts and reports.
func TestPrepareFinishIsEvalAll(t *testing.T) {
	for _, ahead := range []int{1, 7, 64} {
		t.Run(fmt.Sprintf("ahead=%d", ahead), func(t *testing.T) {
			load := func(reports *[]string) *Set {
				fsys := map[string]string{"a.yml": prepRules, "b.yml": prepDeepIgnore, "p.yml": prepPack}
				s, err := loadYAML(t, fsys, nil)
				require.NoError(t, err)
				s.opts.OnRuntimeError = func(r *Rule, err error) { *reports = append(*reports, r.ID()+": "+err.Error()) }
				return s
			}
			var serialReports, pipeReports []string
			serial, piped := load(&serialReports), load(&pipeReports)
			evs, nows := randomEvents(t, serial, 3000, 7)
			pevs, _ := randomEvents(t, piped, 3000, 7)

			se := serial.NewEvaluator()
			var want []string
			for i, ev := range evs {
				want = append(want, matchText(se.EvalAll(ev, nows[i], nil)))
			}

			workers := []*Evaluator{piped.NewEvaluator(), piped.NewEvaluator()}
			seq := piped.NewEvaluator()
			preps := make([]Prepared, len(pevs))
			var got []string
			prepared := 0
			for i, ev := range pevs {
				for prepared < len(pevs) && prepared < i+ahead {
					workers[prepared%2].Prepare(pevs[prepared], &preps[prepared])
					prepared++
				}
				got = append(got, matchText(seq.Finish(ev, &preps[i], nows[i])))
			}
			for i := range want {
				require.Equal(t, want[i], got[i], "event %d", i)
			}
			assert.Equal(t, serial.RuntimeErrors(), piped.RuntimeErrors())
			assert.Equal(t, serialReports, pipeReports)
			assert.NotEmpty(t, serial.RuntimeErrors(), "the test meets run-time errors")
			alerts := map[string]int{}
			for _, w := range want {
				for _, id := range []string{"[3 ", "[4 ", "[6 ", "[8 ", "[101 ", "[102 ", "[107 ", "[108 ", "[111 ", "[120 "} {
					if strings.Contains(w, id+"alert=true") {
						alerts[id]++
					}
				}
			}
			assert.Len(t, alerts, 10, "every stateful rule fired at least once: %v", alerts)
		})
	}
}

// Prepare runs on many goroutines at once: it touches no shared state
// (run with -race).
func TestPrepareConcurrent(t *testing.T) {
	s := shipped(t)
	evs := make([]*event.Event, 0, 64)
	for i := 0; i < 64; i++ {
		ev, err := testDecode(TestInput{Log: fmt.Sprintf("2 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.23 10.0.1.25 40000 %d 6 1 44 1709633700 1709633701 REJECT OK", 20+i)})
		require.NoError(t, err)
		evs = append(evs, withSyms(s, ev))
	}
	preps := make([]Prepared, len(evs))
	done := make(chan struct{})
	for w := 0; w < 4; w++ {
		go func(w int) {
			defer func() { done <- struct{}{} }()
			e := s.NewEvaluator()
			for i := w; i < len(evs); i += 4 {
				e.Prepare(evs[i], &preps[i])
			}
		}(w)
	}
	for range 4 {
		<-done
	}
	seq := s.NewEvaluator()
	scans := 0
	for i, ev := range evs {
		assert.True(t, preps[i].Stateful(), "a rejected flow reaches the scan aggregate")
		for _, m := range seq.Finish(ev, &preps[i], t0) {
			if m.Rule != nil && m.Rule.ID() == "100401" {
				scans++
			}
		}
	}
	assert.Equal(t, 1, scans, "64 ports in one second: one scan alert, then the cooldown")
}
