package rules

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// TestSplitListLineLikeWazuh: lines are split as Lists_OP_MakeCDB
// (src/analysisd/lists_make.c at v4.14.7) splits them, quotes and format
// errors included.
func TestSplitListLineLikeWazuh(t *testing.T) {
	cases := []struct{ line, key, value, why string }{
		{line: "CreateVpc:EC2 - VPC", key: "CreateVpc", value: "EC2 - VPC"},
		{line: "TEMPLATE:# a comment:with colons", key: "TEMPLATE", value: "# a comment:with colons"},
		{line: `"a:b":"quoted value"`, key: "a:b", value: "quoted value"},
		{line: `"2001:db8:bad::/48":label`, key: "2001:db8:bad::/48", value: "label"},
		{line: `ab"cd":x`, key: "cd", value: "x"},                    // text before the key's quote is dropped
		{line: `"abc"junk:x`, key: "abc", value: "x"},                // and text between the quote and ':'
		{line: `key:ab"cd"ef`, key: "key", value: "cd"},              // a value with quotes is what they hold
		{line: `a:b"c:d"`, key: "a", value: "c:d"},                   // ':' before the first quote: not a quoted key
		{line: "key:", key: "key", value: ""},                        // an empty value
		{line: ":value", key: "", value: "value"},                    // an empty key
		{line: "no colon here", why: "no ':' between key and value"}, // Wazuh: continue
		{line: `"abc:x`, why: `the key's opening '"' is not closed`},
		{line: `key:"x`, why: `the value's opening '"' is not closed`},
		{line: `"quoted" but no colon`, why: "no ':' between key and value"},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			key, value, why := splitListLine(c.line)
			assert.Equal(t, c.why, why)
			if c.why == "" {
				assert.Equal(t, c.key, key)
				assert.Equal(t, c.value, value)
			}
		})
	}
}

// TestListWarnings: lines Wazuh skips and duplicate keys load (as Wazuh
// loads them) and are reported at the list's file and line, with what
// Wazuh does; blank and comment lines are not.
func TestListWarnings(t *testing.T) {
	user := fstest.MapFS{"lists/vpc/trusted-sources": {Data: []byte("# office and VPN\n\n203.0.113.0/24:office\nvpn.example.com\n" +
		"198.51.100.7:vpn\r\n203.0.113.0/24:office again\n\"198.51.100.8:bad quote\n# for example \"2001:db8::/32\":label\n")}}
	s, err := Load([]Layer{
		{FS: fstest.MapFS{"rules/r.yml": {Data: []byte("rules: []\n")}, "lists/vpc/trusted-sources": {Data: []byte("")}}, RulesDir: "rules", ListsDir: "lists", Name: "built-in:"},
		{FS: user, RulesDir: ".", ListsDir: "lists", Name: "my-rules/"},
	}, Options{})
	require.NoError(t, err)
	var got []string
	for _, w := range s.ListWarnings() {
		var le *specfile.Error
		require.True(t, errors.As(w, &le))
		got = append(got, w.Error())
	}
	assert.Equal(t, []string{
		"my-rules/lists/vpc/trusted-sources:4: line skipped: no ':' between key and value; Wazuh skips such a line too",
		`my-rules/lists/vpc/trusted-sources:6: duplicate key "203.0.113.0/24", first on line 3: the first value is kept, as Wazuh's lookup returns the first record`,
		`my-rules/lists/vpc/trusted-sources:7: line skipped: the key's opening '"' is not closed; Wazuh skips such a line too`,
		`my-rules/lists/vpc/trusted-sources:8: comment line read as a key "2001:db8::/32": Wazuh reads the text between the first '"' and the next one as a key when a ':' follows; take the '"' or the ':' out of the comment`,
	}, got)
	l := s.List("vpc/trusted-sources")
	assert.Equal(t, 3, l.Len(), "the comment line's key is a key, as in Wazuh")
	v, _ := l.Lookup([]byte("203.0.113.0/24"))
	assert.Equal(t, "office", string(v))
	assert.Equal(t, "my-rules/lists/vpc/trusted-sources", l.File)
	assert.Equal(t, "built-in:lists/vpc/trusted-sources", l.Replaces, "a user list replacing a built-in one says so")
}

// TestShippedListsClean: the shipped lists have no line Wazuh would read
// otherwise than meant.
func TestShippedListsClean(t *testing.T) {
	assert.Empty(t, shipped(t).ListWarnings())
}
