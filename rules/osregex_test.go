package rules

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// OS_Regex as documented (docs/wazuh-compat.md, "Field matches: OS_Regex and OS_Match"; Wazuh's regex.rst) and
// as os_regex_execute.c behaves.
func TestOSRegex(t *testing.T) {
	cases := []struct {
		pattern, input string
		want           bool
	}{
		{"ACCEPT", "ACCEPT", true},
		{"ACCEPT", "accepted", true}, // unanchored, case-insensitive
		{"accept", "ACCEPT", true},   // the pattern is folded too
		{"ACCEPT", "REJECT", false},
		{"AccessDenied", "AccessDeniedException", true},
		{"AccessDenied", "Client.UnauthorizedOperation", false},
		{"vpc", "vpc", true},
		{"aab", "aaab", true}, // restarts one past the failed start
		{`\.+`, "x", true},    // non-empty
		{`\.+`, "", false},    // empty never matches
		{"^abc$", "abc", true},
		{"^abc$", "ABC", true},
		{"^abc$", "abcd", false},
		{"^abc", "xabc", false},
		{"abc$", "xabc", true},
		{"abc$", "abcx", false},
		{"a.c", "a.c", true}, // a bare dot is a literal dot
		{"a.c", "abc", false},
		{`a\.c`, "abc", true}, // \. is any character
		{`foo\sbar`, "foo bar", true},
		{`foo\sbar`, "foo\tbar", false}, // \s is a space only
		{`foo\tbar`, "foo\tbar", true},
		{`^\w+$`, "user-name@x_1", true}, // \w includes - @ _
		{`^\w+$`, "a b", false},
		{`^\d+$`, "12345", true},
		{`^\d+$`, "12a45", false},
		{`\d+`, "port 8080", true},
		{`a\d*`, "a5", true},
		{`\d*`, "5", false},                  // r_code stays NULL: an OS_Regex quirk
		{"vpc|guardduty", "guardduty", true}, // top-level alternation
		{"vpc|guardduty", "macie", false},
		{"0|1|2|3", "3", true},
		{"0|1|2|3", "5", false},
		{`a\pb`, "a,b", true},
		{`a\pb`, "a_b", false}, // _ is not punctuation
		{`a\Wb`, "a b", true},
		{`a\Wb`, "a-b", false}, // - is a word character
		{`a\Sb`, "axb", true},
		{`a\Sb`, "a b", false},
		{`a\Db`, "axb", true},
		{`a\Db`, "a1b", false},
		{`a\$b`, "a$b", true},
		{`a\|b`, "a|b", true},
		{`a\(b`, "a(b", true},
		{`a\<b`, "a<b", true},
		{`a\\b`, `a\b`, true},
		{`user (\w+) logged`, "user bob logged in", true}, // groups do not change matching
	}
	for _, c := range cases {
		t.Run(c.pattern+"/"+c.input, func(t *testing.T) {
			re, err := CompileOSRegex(c.pattern)
			require.NoError(t, err)
			assert.Equal(t, c.want, re.MatchString(c.input), "string")
			assert.Equal(t, c.want, re.Match([]byte(c.input)), "bytes")
		})
	}
}

func TestOSRegexCompileErrors(t *testing.T) {
	for _, p := range []string{`\x`, `a\`, `(a(b))`, `(a|b)`, `(a`, `a)`} {
		_, err := CompileOSRegex(p)
		assert.ErrorIs(t, err, ErrBadPattern, p)
	}
}

func TestOSMatch(t *testing.T) {
	cases := []struct {
		pattern, input string
		want           bool
	}{
		{"deny", "Access DENY now", true},
		{"deny", "allow", false},
		{"^access", "ACCESS denied", true},
		{"^access", "no access", false},
		{"denied$", "access DENIED", true},
		{"^access denied$", "Access Denied", true},
		{"^access denied$", "Access Denied!", false},
		{"allow|deny", "deny", true},
		{"!deny", "allow", true},
		{"!deny", "deny", false},
		{"a.c", "abc", false}, // literal
		{"", "anything", true},
	}
	for _, c := range cases {
		t.Run(c.pattern+"/"+c.input, func(t *testing.T) {
			m, err := CompileOSMatch(c.pattern)
			require.NoError(t, err)
			assert.Equal(t, c.want, m.MatchString(c.input))
			assert.Equal(t, c.want, m.Match([]byte(c.input)))
		})
	}
}

func TestListParsing(t *testing.T) {
	l := parseList("x", "lists/x", []byte("TEMPLATE:# a comment:with colons\r\nCreateVpc:EC2 - VPC\n\"a:b\":\"quoted value\"\nno colon here\nCreateVpc:second\n"))
	v, ok := l.Lookup([]byte("TEMPLATE"))
	assert.True(t, ok)
	assert.Equal(t, "# a comment:with colons", string(v))
	v, ok = l.Lookup([]byte("CreateVpc"))
	assert.True(t, ok)
	assert.Equal(t, "EC2 - VPC", string(v))
	v, ok = l.Lookup([]byte("a:b"))
	assert.True(t, ok)
	assert.Equal(t, "quoted value", string(v))
	_, ok = l.Lookup([]byte("createvpc"))
	assert.False(t, ok, "lookups are case-sensitive")
	assert.Equal(t, 3, l.Len())
}
