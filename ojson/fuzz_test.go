package ojson

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzParse: Parse accepts exactly what encoding/json accepts, and writes a
// document with valid UTF-8 back as json.Compact does (no repeated names).
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u00e9"],"b":{"c":null}}`, `[true,false]`, `"\ud83d"`, `{"a":1,"a":2}`, `-0.0e+1`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tr Tree
		err := tr.Parse(b)
		if valid := json.Valid(b); valid != (err == nil) {
			t.Fatalf("json.Valid %v, Parse error %v for %q", valid, err, b)
		}
		if err != nil || !utf8.Valid(b) || bytes.Contains(b, []byte(`\u2028`)) {
			return
		}
		var m any
		if json.Unmarshal(b, &m) != nil {
			return
		}
		var want bytes.Buffer
		if json.Compact(&want, b) != nil {
			return
		}
		got := tr.Encode(nil, 0)
		if len(got) == want.Len() && !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("Encode %s, json.Compact %s", got, want.Bytes())
		}
	})
}
