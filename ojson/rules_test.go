package ojson

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPython(t *testing.T) {
	t.Parallel()
	floats := map[float64]string{1: "1.0", 100: "100.0", 1e16: "1e+16", 1234567890123456: "1234567890123456.0",
		0.0001: "0.0001", 0.00001: "1e-05", 1.5e-7: "1.5e-07", 3.14: "3.14", 1.2345678901234568e+17: "1.2345678901234568e+17",
		-2.5: "-2.5", 1e22: "1e+22", 123.456e5: "12345600.0"}
	for f, want := range floats {
		assert.Equal(t, want, string(appendPyFloat(nil, f)), "%v", f)
	}
	for lit, want := range map[string]string{"-0": "0", "0": "0", "12345678901234567890": "12345678901234567890",
		"-7": "-7", "1e400": "inf", "-1e400": "-inf", "0.0": "0.0", "-0.0": "-0.0", "1E2": "100.0"} {
		assert.Equal(t, want, string(AppendPyNumber(nil, []byte(lit))), lit)
	}
	for s, want := range map[string]string{"a": "'a'", "it's": `"it's"`, `a"b`: `'a"b'`, `it's "x"`: `'it\'s "x"'`,
		"t\tn\nr\r\\": `'t\tn\nr\r\\'`, "\x00\x1f\x7f": `'\x00\x1f\x7f'`, "é": "'é'", "\u00a0": `'\xa0'`,
		"\u200b": `'\u200b'`, "😀": "'😀'", "\U000e0001": `'\U000e0001'`} {
		assert.Equal(t, want, string(AppendPyStrRepr(nil, s)), s)
	}
}

// TestCountElements checks the quick element count unwrap_lists relies on.
func TestCountElements(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{`[]`: 0, `[1]`: 1, `["a,b"]`: 1, `[[1,2]]`: 1, `[{"a":[1,2]}]`: 1, `[1,2]`: 2,
		`["\"",3]`: 2, `[ ]`: 0, `x`: -1, `[1`: -1} {
		assert.Equal(t, want, CountElements([]byte(in)), in)
	}
}

func TestNumberText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"12": "12", "1.5": "1.500000", "2147483647": "2147483647", "2147483648": "2147483648.000000", "-0": "0", "1e3": "1000"} {
		assert.Equal(t, want, string(AppendNumberText(nil, []byte(in))), in)
	}
}

// The 8-bytes-at-a-time scan must escape exactly what a byte-by-byte scan
// escapes.
func TestCJSONStringMatchesByteScan(t *testing.T) {
	t.Parallel()
	ref := func(s string) string {
		var b strings.Builder
		b.WriteByte('"')
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c == '"' || c == '\\' {
				b.Write(appendControl(nil, c, false))
				continue
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
		return b.String()
	}
	alphabet := []byte{'a', 'Z', '0', ' ', '"', '\\', '\n', 0x01, 0x1f, 0x7f, 0x80, 0xc3, 0xa9, '!', '#', '[', ']'}
	for n := 0; n < 40; n++ {
		for seed := 0; seed < 50; seed++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[(i*7+seed*13+n)%len(alphabet)]
			}
			assert.Equal(t, ref(string(b)), string(AppendCJSONString(nil, b)), "%q", b)
		}
	}
}
