package rules

import (
	"testing"
	"time"

	"github.com/vpcalertd/vpcalertd/event"
)

// What the external tests of the package (package rules_test: those that
// need rules/redisstore, which imports rules) use of the internal ones.
var (
	PrepRulesForTest = prepRules
	PrepPackForTest  = prepPack
)

func LoadYAMLForTest(t testing.TB, files, lists map[string]string) (*Set, error) {
	return loadYAML(t, files, lists)
}

func RandomEventsForTest(t testing.TB, s *Set, n int, seed int64) ([]*event.Event, []time.Time) {
	return randomEvents(t, s, n, seed)
}

func MatchTextForTest(ms []Match) string { return matchText(ms) }

func ShippedForTest(t testing.TB) *Set { return shipped(t) }

// DecodeFlowForTest decodes a flow-log line (version 2 default format)
// with the shipped decoders, symbols resolved for s.
func DecodeFlowForTest(s *Set, line string) (*event.Event, error) {
	ev, err := testDecode(TestInput{Log: line, Type: event.LogTypeVPCFlow})
	if err != nil {
		return nil, err
	}
	return withSyms(s, ev), nil
}

// EventForTest is the event of a JSON object, symbols resolved for s, at
// event time at.
func EventForTest(t testing.TB, s *Set, js string, at int64) *event.Event {
	ev := withSyms(s, mustEvent(t, js))
	ev.Time = at
	return ev
}
