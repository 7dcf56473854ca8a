package rules

import (
	"fmt"
	"math/bits"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rootsTried returns the pack roots Prepare walks for the event: with the
// index, only those whose literal field tests can hold. (Prepare records
// only the passes that leave Finish something to do, so they are read from
// the index itself.)
func rootsTried(t *testing.T, s *Set, js string) []string {
	t.Helper()
	c := &s.NewEvaluator().c
	c.index(withSyms(s, mustEvent(t, js)))
	g := s.packRoots
	require.NotEmpty(t, g.discs, "the pack roots are not indexed")
	var out []string
	for w, word := range c.candidates(g) {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			out = append(out, g.rules[i].ID())
		}
	}
	return out
}

// TestPackRootsIndexedByLiteralTests (issue 16): a user's pack of many
// top-level rules that start with literal tests of one field is indexed by
// that field, like any group of siblings: a record tries only the roots
// whose tests on it can hold, so a pack of 200 roots costs about what one
// costs. Roots without a test of the field are always tried. The index
// changes nothing but the rules tried: the results equal those of a traced
// evaluation, which tries every root.
func TestPackRootsIndexedByLiteralTests(t *testing.T) {
	var b strings.Builder
	b.WriteString("pack: ports\ngroup: [ports]\nrules:\n")
	for k := 0; k < 200; k++ {
		fmt.Fprintf(&b, "  - id: \"%d\"\n    level: 5\n    condition: integration == \"aws\" && aws.dstport == \"%d\" && aws.action == \"REJECT\"\n    description: port %d\n", 2000+k, 1000+k, 1000+k)
	}
	// One root tests the port with an alternative (one field still), one
	// tests neither the port nor the action.
	b.WriteString("  - id: \"2900\"\n    level: 5\n    condition: integration == \"aws\" && (aws.dstport == \"1042\" || aws.dstport == \"22\")\n    description: either\n")
	b.WriteString("  - id: \"2901\"\n    level: 5\n    condition: integration == \"aws\" && aws.src != \"\"\n    description: any source\n")
	s, err := packSet(t, Options{}, map[string]string{"ports.yml": b.String()})
	require.NoError(t, err)

	cases := []struct {
		name, event string
		tried       []string
		results     []string
	}{
		// The demo pack's 100 tests aws.action == "ACCEPT": the index
		// (up to three fields, here the port and the action) rules it
		// out for a REJECT too.
		{"one port root of 200, with the roots that test neither field",
			`{"integration":"aws","aws":{"action":"REJECT","dstport":"1042","src":"x"}}`,
			[]string{"110", "2042", "2900", "2901"}, []string{"3", "2042", "2900", "2901"}},
		{"a port no root of the 200 tests, of an accepted flow",
			`{"integration":"aws","aws":{"action":"ACCEPT","dstport":"22","src":"x"}}`,
			[]string{"100", "110", "2900", "2901"}, []string{"2", "101", "2900", "2901"}},
		// Every root tests integration == "aws" the same way: that test
		// runs once for the group, before the index, and rules out
		// every root when it fails.
		{"a test all the roots have fails: no root is tried",
			`{"integration":"gcp","aws":{"action":"REJECT","dstport":"1042","src":"x"}}`,
			nil, []string{"-"}},
		{"no port at all: the alternative of tests of the port is ruled out too",
			`{"integration":"aws","aws":{"action":"REJECT"}}`,
			[]string{"110", "2901"}, []string{"3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tried := rootsTried(t, s, c.event)
			assert.ElementsMatch(t, c.tried, tried)
			ev := withSyms(s, mustEvent(t, c.event))
			got := ids(s.NewEvaluator().EvalAll(ev, t0, nil))
			var tr Trace
			all := ids(s.NewEvaluator().EvalAll(ev, t0, &tr))
			assert.Equal(t, c.results, got)
			assert.Equal(t, all, got, "the index changes the results")
			// Prepare keeps the stock pass and the pack passes that
			// left Finish something to do: here, those with a result.
			var p Prepared
			s.NewEvaluator().Prepare(ev, &p)
			var kept []string
			for _, ps := range p.passes {
				if ps.root != nil {
					kept = append(kept, ps.final.ID())
				}
			}
			assert.ElementsMatch(t, c.results[1:], kept, "pack passes recorded")
			steps := 0
			for _, st := range tr.Steps {
				if st.Pack == "ports" {
					steps++
				}
			}
			assert.GreaterOrEqual(t, steps, 202, "the traced evaluation tries every root")
		})
	}
}
