package specfile

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNearest(t *testing.T) {
	t.Parallel()
	keys := []string{"interval", "look_back", "regions", "region_x", "value", "field"}
	for _, c := range []struct {
		name  string
		limit int
		want  string
	}{
		{"intervall", 2, "interval"},
		{"region", 2, "regions"}, // one edit from both: the first listed wins
		{"valeu", 2, "value"},    // a swap of neighbours is one edit
		{"vlaue", 1, "value"},
		{"lookback", 2, "look_back"},
		{"zzz", 2, ""},
		{"zzz", -1, "value"}, // no limit: the closest whatever its distance (value and field are 5 away: the first)
		{"value", 2, ""},     // a known name needs no hint
		{"", 2, ""},
	} {
		assert.Equal(t, c.want, Nearest(c.name, keys, c.limit), "%q limit %d", c.name, c.limit)
	}
	assert.Equal(t, `, did you mean "interval"?`, DidYouMean("intervl", keys))
	assert.Equal(t, "", DidYouMean("somethingelse", keys))
	assert.Equal(t, 3, editDistance("us-fake-1", "us-east-1"))
	assert.Equal(t, 1, editDistance("ab", "ba"))
}
