package decoders

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vpcalertd/vpcalertd/event"
)

// splitColumns marks a line safe exactly when every column may be copied
// into JSON as is.
func TestSplitColumnsSafe(t *testing.T) {
	lines := []string{
		"2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 40 1 2 ACCEPT OK",
		"2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 40 1 2 ACC\"EPT OK",
		"2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 80 6 1 40 1 2 ACCEPT O\\K",
		"2\t123456789012\teni-1 x",
		"2 1234567\x01 eni-1 10.0.0.1",
		"2 1234567 eni-1 10.0.0.1 \x7f",
		"a\"",
		"short",
		"2 123456789012 é",
	}
	for _, l := range lines {
		spans, _, safe := splitColumns(nil, []byte(l))
		all := true
		for _, sp := range spans {
			all = all && event.IsSafe([]byte(l[sp.start:sp.end]))
		}
		if safe {
			assert.True(t, all, "%q marked safe", l)
		}
		if all && l != "2\t123456789012\teni-1 x" {
			assert.True(t, safe, "%q not marked safe", l)
		}
	}
}
