package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExplainFalseCondition: a traced rule that does not match names the
// smallest part of its condition that is false and the values that part
// read, whether the condition runs as closures or on expr's VM.
func TestExplainFalseCondition(t *testing.T) {
	const ev = `{"integration":"aws","aws":{"source":"vpc","action":"ACCEPT","dstport":"443","protocol":"6","srcaddr":"10.0.1.25"}}`
	cases := []struct{ name, cond, want string }{
		{"first-conjunct", `aws.action == "REJECT" && aws.dstport == "22"`,
			`aws.action == "REJECT" is false: aws.action = "ACCEPT"`},
		{"later-conjunct", `aws.source == "vpc" && aws.dstport in ["22", "3389"]`,
			`aws.dstport in ["22", "3389"] is false: aws.dstport = "443"`},
		{"nested-and", `aws.source == "vpc" && (aws.protocol == "6" && (is_public(aws.srcaddr) && aws.dstport == "443"))`,
			`is_public(aws.srcaddr) is false: aws.srcaddr = "10.0.1.25"`},
		{"or-whole", `aws.source == "vpc" && (aws.dstport == "22" || aws.action == "REJECT")`,
			`aws.dstport == "22" || aws.action == "REJECT" is false: aws.dstport = "443", aws.action = "ACCEPT"`},
		{"missing", `has(aws.errorCode)`, `has(aws.errorCode) is false: aws.errorCode is missing`},
		{"vm", `aws.source == "vpc" && len(aws.dstport) > 3`, `len(aws.dstport) > 3 is false: aws.dstport = "443"`},
		{"let", `let p = aws.dstport; aws.source == "vpc" && p == "22"`,
			`let p = aws.dstport; aws.source == "vpc" && p == "22" is false: aws.dstport = "443", aws.source = "vpc"`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadYAML(t, map[string]string{"x.yml": fmt.Sprintf("rules:\n  - id: \"%d\"\n    level: 3\n    condition: '%s'\n    description: d\n", 900+i, tc.cond)}, nil)
			require.NoError(t, err)
			var tr Trace
			s.Eval(mustEvent(t, ev), time.Unix(0, 0), &tr)
			require.Len(t, tr.Steps, 1)
			assert.False(t, tr.Steps[0].Matched)
			assert.Equal(t, tc.want, tr.Steps[0].Reason())
		})
	}
}
