package rules

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShippedRulesetInlineTests(t *testing.T) {
	s := shipped(t)
	results := s.RunTests(testDecode, time.Date(2024, 3, 5, 10, 20, 31, 0, time.UTC))
	require.NotEmpty(t, results)
	for _, r := range results {
		assert.True(t, r.Pass, r.String())
	}
}
