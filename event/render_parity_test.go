package event

import (
	"github.com/vpcalertd/vpcalertd/ojson"

	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fields builds an event from key, value pairs in order; a value is a
// string unless it starts with one of the markers "#" (a number), "@" (a
// decoder's JSON array) or is exactly "{}" (an empty object).
func fields(kv ...string) *Event {
	ev := &Event{}
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		switch {
		case v == "{}":
			ev.Add(k, []byte(v), EmptyObject, NoSym)
		case strings.HasPrefix(v, "#"):
			ev.Add(k, []byte(v[1:]), Number, NoSym)
		case strings.HasPrefix(v, "@"):
			ev.Add(k, []byte(v[1:]), Array, NoSym)
		default:
			ev.Add(k, []byte(v), String, NoSym)
		}
	}
	return ev
}

// Issue 15, rule 1: W_JSON_AddField looks names up with
// cJSON_GetObjectItem, which ignores ASCII letter case.
func TestDataJSONKeyCase(t *testing.T) {
	cases := []struct {
		name string
		ev   *Event
		want string
	}{
		{"leaf equal but for case is dropped",
			fields("zone", "a", "ZONE", "b"), `{"zone":"a"}`},
		{"nested field merges into the object of another spelling",
			fields("Net.a", "1", "net.b", "2"), `{"Net":{"a":"1","b":"2"}}`},
		{"nested field under a scalar of another spelling is dropped",
			fields("zone", "a", "Zone.id", "2"), `{"zone":"a"}`},
		{"leaf under the name of an object of another spelling is dropped",
			fields("Zone.id", "2", "zone", "a"), `{"Zone":{"id":"2"}}`},
		{"the first spelling stays at every level",
			fields("aws.Net.a", "1", "AWS.NET.b", "2", "Aws.net.A", "3"), `{"aws":{"Net":{"a":"1","b":"2"}}}`},
		{"a merge reopens an object already closed",
			fields("Net.a", "1", "x", "2", "net.b", "3"), `{"Net":{"a":"1","b":"3"},"x":"2"}`},
		{"an empty first value leaves the name free",
			fields("zone", "", "ZONE", "b"), `{"ZONE":"b"}`},
		{"an empty object leaves the name free",
			fields("zone", "{}", "ZONE", "b"), `{"ZONE":"b"}`},
		{"exact repeats are dropped wherever they are",
			fields("a", "1", "b", "2", "a", "3"), `{"a":"1","b":"2"}`},
		{"exact repeats inside an object",
			fields("x.a", "1", "x.b", "2", "x.a", "3"), `{"x":{"a":"1","b":"2"}}`},
		{"only ASCII letters fold (C locale)",
			fields("é", "1", "É", "2", "k", "3", "\u212a", "4"), `{"é":"1","É":"2","k":"3","` + "\u212a" + `":"4"}`},
		{"digits and punctuation compare exactly",
			fields("a_1", "1", "A_1", "2", "a-1", "3"), `{"a_1":"1","a-1":"3"}`},
		{"a number and an array are dropped like strings",
			fields("n", "#1", "N", "#2", "l", "@[1]", "L", "@[2]"), `{"n":"1","l":[1]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, string(c.ev.AppendDataJSON(nil)))
			assert.Equal(t, c.want, refDataJSON(c.ev), "reference model")
			var w DataWriter
			for range 3 {
				assert.Equal(t, c.want, string(w.Append(nil, c.ev)), "DataWriter")
			}
		})
	}
}

// The wodle rendering (Python dicts) keeps names that differ only in case.
func TestWodleJSONKeepsCase(t *testing.T) {
	ev := fields("zone", "a", "ZONE", "b", "Net.a", "1", "net.b", "2")
	assert.Equal(t, `{"zone": "a", "ZONE": "b", "Net": {"a": "1"}, "net": {"b": "2"}}`, string(ev.AppendWodleJSON(nil)))
}

// Issue 15, rule 2: a string that starts with '[' becomes JSON when cJSON
// 1.7.18 reads all of it as one array, and only then.
func TestDataJSONStringArrays(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	num := func(n int) string { return "[" + strings.Repeat("1", n) + "]" }
	cases := []struct {
		in   string
		want string // the data value; "" means the string stays
	}{
		{"[1,2]", `[1,2]`},
		{"[7] ", ""},
		{"[1] [2]", ""},
		{"[1]x", ""},
		{"[1]\n", ""},
		{"[01]", `[1]`},
		{"[1.]", `[1]`},
		{"[-.5]", `[-0.5]`},
		{"[1.e2]", `[100]`},
		{"[1E+2,2e-1]", `[100,0.2]`},
		{"[.5]", ""},
		{"[+1]", ""},
		{"[-]", ""},
		{"[1e]", ""},
		{"[1e+]", ""},
		{"[1-2]", ""},
		{"[1.2.3]", ""},
		{"[0x10]", ""},
		{"[1e999,-1e999]", `[null,null]`},
		{"[2147483647,2147483648,-2147483648,1.5,-0]", `[2147483647,2147483648,-2147483648,1.5,0]`},
		{"[0.30000000000000004,0.1,123456789.123456789,1e20,1e-7]", `[0.3,0.1,123456789.12345679,1e+20,1e-07]`},
		{num(63), "[1.1111111111111112e+62]"},
		{num(64), ""},
		{"[ ]", `[]`},
		{"[\t1 ,\n2\r]", `[1,2]`},
		{"[\x011\x1f]", `[1]`},
		{"[1,]", ""},
		{"[,1]", ""},
		{"[", ""},
		{"[nope", ""},
		{"[true,false,null]", `[true,false,null]`},
		{"[tru]", ""},
		{"[nullx]", ""},
		{"[NULL]", ""},
		{`["a\u00e9\ud83d\ude00/\/"]`, `["aé😀//"]`},
		{`["q\"b\\s\b\f\n\r\t"]`, `["q\"b\\s\b\f\n\r\t"]`},
		{"[\"raw\ttab\x01\"]", `["raw\ttab\u0001"]`},
		{"[\"\xff\xfe\"]", "[\"\xff\xfe\"]"},
		{`["a\u0000b","c"]`, `["a","c"]`},
		{`["a\u00zzb"]`, `["a"]`},
		{`["\udc00"]`, ""},
		{`["\ud83d"]`, ""},
		{`["\ud83dx\ude00"]`, ""},
		{`["\ud83d\u0041"]`, ""},
		{`["\u12"]`, ""},
		{`["\x"]`, ""},
		{`["\'"]`, ""},
		{`["a]`, ""},
		{`[{"k":1,"k":2,"K":[]},{}]`, `[{"k":1,"k":2,"K":[]},{}]`},
		{`[{"a" : "b" }]`, `[{"a":"b"}]`},
		{`[{a:1}]`, ""},
		{`[{"a"}]`, ""},
		{`[{"a":}]`, ""},
		{`[{"a":1,}]`, ""},
		{`[{]`, ""},
		{deep(1000), deep(1000)},
		{deep(1001), ""},
		{"[1]\x00", ""},
		{"[\"a\x00\"]", ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.in), func(t *testing.T) {
			want := c.want
			if want == "" {
				want = string(ojson.AppendCJSONString(nil, c.in))
			}
			ev := fields("v", c.in)
			assert.Equal(t, `{"v":`+want+`}`, string(ev.AppendDataJSON(nil)))
			assert.Equal(t, `{"v":`+want+`}`, refDataJSON(ev), "reference model")
		})
	}
}

// DataNotes names every field the data drops, merges, or reads as an array
// or not, with what logtest -v prints for it.
func TestDataNotes(t *testing.T) {
	ev := fields("a", "1", "a", "2", "A.b", "3", "n.x", "4", "N.y", "[1", "s", "[1]\x00x", "t", "[true]", "u", "@[1]", "e", "")
	var got []string
	for _, n := range ev.DataNotes() {
		got = append(got, n.Message(ev))
	}
	assert.Equal(t, []string{
		"a: not in the alert's data: a field of that name came first (Wazuh keeps the first)",
		"A.b: not in the alert's data: a came first holding a value, not an object (Wazuh compares names ignoring case)",
		"N.y: in the alert's data as n.y (Wazuh compares names ignoring case; the first spelling stays)",
		"N.y: stays a string in the alert's data: cJSON cannot read it as JSON (it ends too early)",
		"s: stays a string in the alert's data: its array ends after 3 of its 5 bytes and Wazuh turns a string into JSON only when nothing follows",
		"t: written as a JSON array in the alert's data (the string is one whole JSON array for cJSON)",
	}, got)
}
