package rules

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/vpcalertd/vpcalertd/event"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The closures and expr's VM must agree on every condition and event.
func TestTypedAndVMAgree(t *testing.T) {
	conds := []struct {
		src   string
		typed bool
	}{
		{`osregex(aws.action, "ACCEPT")`, true},
		{"osregex(aws.errorCode, `\\.+`)", true},
		{`osmatch(aws.user, "^svc-|root$")`, true},
		{`aws.action == "ACCEPT"`, true},
		{`"ACCEPT" == aws.action`, true},
		{`aws.action != "REJECT"`, true},
		{`aws.action in ["ACCEPT", "REJECT"]`, true},
		{`aws.action not in ["ACCEPT"]`, true},
		{`aws.user contains "adm"`, true},
		{`aws.user startsWith "a"`, true},
		{`aws.user endsWith "n"`, true},
		{`aws.user matches "^a.*n$"`, true},
		{`has(aws.errorCode) || !has(aws.action)`, true},
		{`in_list("l", aws.user)`, true},
		{`list_value("l", aws.user) == "x"`, true},
		{`aws.a == aws.b`, true},
		{`not (aws.action == "ACCEPT") and aws.user != ""`, true},
		{`field("aws.dst-port") == "22"`, true},
		{`aws.packets == "12"`, true},
		{`true && aws.action == "ACCEPT"`, true},
		{`aws.action == "ACCEPT" ? true : false`, false},
		{`len(aws.user) > 3`, false},
		{`upper(aws.user) == "ADMIN"`, false},
		{`let u = aws.user; u == "admin"`, false},
	}
	events := []string{
		`{"aws":{"action":"ACCEPT","user":"admin","packets":12,"dst-port":"22","a":"1","b":"1","errorCode":"AccessDenied"}}`,
		`{"aws":{"action":"REJECT","user":"svc-backup","packets":12.5,"a":"1","b":"2"}}`,
		`{"aws":{"user":"root","errorCode":""}}`,
		`{"aws":{"action":"accept","user":"alan","packets":"12"}}`,
		`{}`,
	}
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, c := range conds {
		fmt.Fprintf(&b, "  - id: \"%d\"\n    level: 3\n    condition: '%s'\n    description: x\n", i+1, strings.ReplaceAll(c.src, "'", "''"))
	}
	s, err := loadYAML(t, map[string]string{"a.yml": b.String()}, map[string]string{"l": "admin:x\nroot:y\n"})
	require.NoError(t, err)
	e := s.NewEvaluator()
	for i, c := range conds {
		r := s.Rule(fmt.Sprint(i + 1))
		assert.Equal(t, c.typed, r.Fast(), "%s: fast path", c.src)
		if !r.Fast() {
			continue
		}
		for _, js := range events {
			e.c.index(mustEvent(t, js))
			typed := true
			for _, cj := range r.cond.conj {
				typed = typed && cj.fn(&e.c)
			}
			vm, err := e.c.runVM(r.cond)
			require.NoError(t, err)
			assert.Equal(t, vm, typed, "%s on %s", c.src, js)
		}
	}
}

// fieldEquals compares a field with a constant without memequal for
// constants of up to 16 bytes: it must agree with string comparison for
// every length, every value that differs from the constant in one byte,
// every value one byte shorter or longer, and an absent field.
func TestFieldEqualsAgreesWithStrings(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab"[rng.Intn(2)]
		}
		return string(b)
	}
	c := &evalCtx{idx: []int32{1}, ev: &event.Event{Fields: []event.Field{{Kind: event.String}}}}
	check := func(k, v string) {
		t.Helper()
		c.ev.Fields[0].Value = []byte(v)
		if got := fieldEquals(0, k)(c); got != (v == k) {
			t.Fatalf("fieldEquals(%q) on %q = %v", k, v, got)
		}
	}
	for n := 0; n <= 20; n++ {
		for range 50 {
			k := word(n)
			check(k, k)
			for i := range n {
				b := []byte(k)
				b[i] ^= 'a' ^ 'b'
				check(k, string(b))
			}
			if n > 0 {
				check(k, k[:n-1])
			}
			check(k, k+"a")
			check(k, word(n))
			check(k, word(max(0, n-1)))
		}
	}
	c.idx[0] = 0 // absent: compares as ""
	assert.True(t, fieldEquals(0, "")(c))
	assert.False(t, fieldEquals(0, "a")(c))
}

// foldWords compares a value with a literal OS_Regex text of the same
// length as litMatch does (each byte lowered), as words: it must agree with
// foldHasPrefix for texts of 1 to 16 bytes and values made of the text's
// bytes, their other case, and the bytes that differ from a letter by the
// case bit only ('@' and '`', '[' and '{').
func TestFoldWordsAgreesWithLitMatch(t *testing.T) {
	rng := rand.New(rand.NewSource(16))
	litBytes := "ab0.`{-z"
	valBytes := "abABzZ0.`@{[-"
	pick := func(from string, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = from[rng.Intn(len(from))]
		}
		return b
	}
	for n := 1; n <= 16; n++ {
		for range 200 {
			lit := string(pick(litBytes, n))
			f, ok := newFoldWords(lit)
			require.True(t, ok, lit)
			vals := [][]byte{[]byte(lit), []byte(strings.ToUpper(lit)), pick(valBytes, n)}
			for i := range n {
				b := []byte(lit)
				b[i] ^= 0x20 // the case bit: a letter's other case, or another byte
				vals = append(vals, b)
			}
			for _, v := range vals {
				if got, want := f.equal(v), foldHasPrefix(v, lit); got != want {
					t.Fatalf("%q against %q: %v, litMatch %v", v, lit, got, want)
				}
			}
		}
	}
	_, ok := newFoldWords("Upper")
	assert.False(t, ok, "a text with an upper-case letter is left to litMatch")
}
