package decoders

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// jsonDecoder builds a decoder that reads one JSON object per line into aws
// after an envelope, then runs steps.
func jsonDecoder(t *testing.T, steps string) *Set {
	t.Helper()
	y := `name: t
inputs:
  - when: "true"
    framing: json_lines
steps:
  - set: {field: integration, value: aws}
  - set: {field: aws.log_info.s3bucket, origin: bucket}
  - parse_json: {into: aws}
` + steps
	set, err := Load(fstest.MapFS{"d/t.yml": {Data: []byte(y)}}, "d")
	require.NoError(t, err)
	return set
}

// S, N, B, A, E, Z are kv constructors for the tables below.
func S(k, v string) kv { return kv{k, v, event.String} }
func N(k, v string) kv { return kv{k, v, event.Number} }
func B(k, v string) kv { return kv{k, v, event.Bool} }
func A(k, v string) kv { return kv{k, v, event.Array} }
func E(k string) kv    { return kv{k, "{}", event.EmptyObject} }
func Z(k string) kv    { return kv{k, "null", event.Null} }

var envelope = []kv{S("integration", "aws"), S("aws.log_info.s3bucket", "bkt")}

// TestSteps runs each step kind on small records.
func TestSteps(t *testing.T) {
	cases := []struct {
		name  string
		steps string
		in    string
		want  []kv // after the envelope
		err   string
		whole bool // want is the whole event, envelope included
	}{
		{"parse_json/types-and-order", ``,
			`{"s":"x","n":1.50,"b":true,"z":null,"a":[1,"two",{"k":null}],"o":{"p":{"q":"r"},"e":{}},"last":"\u00e9\n"}`,
			[]kv{S("aws.s", "x"), N("aws.n", "1.50"), B("aws.b", "true"), Z("aws.z"), A("aws.a", `[1,"two",{"k":null}]`),
				S("aws.o.p.q", "r"), E("aws.o.e"), S("aws.last", "é\n")}, "", false},
		{"parse_json/repeated-key-python-dict", ``, `{"a":1,"b":2,"a":{"x":3}}`,
			[]kv{N("aws.a.x", "3"), N("aws.b", "2")}, "", false},
		{"parse_json/update-replaces-in-place", ``, `{"x":"1","log_info":"mine"}`,
			[]kv{S("integration", "aws"), S("aws.log_info", "mine"), S("aws.x", "1")}, "", true},
		{"parse_json/empty-record", ``, `{}`, nil, "", false},
		{"parse_json/not-an-object", ``, `[1]`, nil, "p:1: record is not a JSON object", false},
		{"parse_json/invalid", ``, `{"a":}`, nil, "p:1: invalid JSON: invalid character '}' looking for beginning of value", false},
		{"parse_json/trailing-data", ``, `{"a":1} x`, nil, "p:1: invalid JSON: invalid character 'x' after top-level value", false},
		{"parse_json/truncated", ``, `{"a":[1,`, nil, "p:1: invalid JSON: unexpected end of JSON input", false},

		{"set/new-goes-last-in-parent", `  - set: {field: aws.o.new, value: v}
  - set: {field: top, value: t}`, `{"o":{"a":1},"z":2}`,
			[]kv{N("aws.o.a", "1"), S("aws.o.new", "v"), N("aws.z", "2"), S("top", "t")}, "", false},
		{"set/replaces-field-and-object-in-place", `  - set: {field: aws.a, value: A}
  - set: {field: aws.o, value: O}`, `{"a":1,"o":{"x":1,"y":2},"z":3}`,
			[]kv{S("aws.a", "A"), S("aws.o", "O"), N("aws.z", "3")}, "", false},
		{"set/fills-empty-object", `  - set: {field: aws.e.x, value: v}`, `{"e":{},"z":1}`,
			[]kv{S("aws.e.x", "v"), N("aws.z", "1")}, "", false},
		{"set/origin", `  - set: {field: aws.acct, origin: account_id}
  - set: {field: aws.t, origin: type}`, `{}`,
			[]kv{S("aws.acct", "111"), S("aws.t", "cloudtrail")}, "", false},

		{"rename/field-and-object", `  - rename: {from: aws.a, to: aws.b}
  - rename: {from: aws.o, to: aws.p}`, `{"a":1,"o":{"x":{"y":2}},"b":0}`,
			[]kv{N("aws.b", "1"), N("aws.p.x.y", "2")}, "", false},
		{"rename/absent", `  - rename: {from: aws.nope, to: aws.b}`, `{"a":1}`, []kv{N("aws.a", "1")}, "", false},

		{"remove/field-leaves-empty-parent", `  - remove: {field: aws.o.x}`, `{"o":{"x":1},"z":2}`,
			[]kv{E("aws.o"), N("aws.z", "2")}, "", false},
		{"remove/object", `  - remove: {field: aws.o}`, `{"o":{"x":1,"y":{"z":1}},"z":2}`, []kv{N("aws.z", "2")}, "", false},

		{"copy/regex-match-appends-last", `  - copy: {from: aws.ip, to: aws.ip_copy, regex: '^\p{Nd}+\.\p{Nd}+.\p{Nd}+.\p{Nd}+'}`,
			`{"ip":"10.1x2y3","z":1}`, []kv{S("aws.ip", "10.1x2y3"), N("aws.z", "1"), S("aws.ip_copy", "10.1x2y3")}, "", false},
		{"copy/unicode-digits-as-python", `  - copy: {from: aws.ip, to: aws.c, regex: '^\p{Nd}+\.\p{Nd}+.\p{Nd}+.\p{Nd}+'}`,
			`{"ip":"١.٢.٣.٤"}`, []kv{S("aws.ip", "١.٢.٣.٤"), S("aws.c", "١.٢.٣.٤")}, "", false},
		{"copy/no-match", `  - copy: {from: aws.ip, to: aws.c, regex: '^\p{Nd}+\.\p{Nd}+.\p{Nd}+.\p{Nd}+'}`,
			`{"ip":"AWS Internal"}`, []kv{S("aws.ip", "AWS Internal")}, "", false},
		{"copy/kinds", `  - copy: {from: aws.ip, to: aws.c, kinds: [string]}`, `{"ip":5}`, []kv{N("aws.ip", "5")}, "", false},
		{"copy/number-text-for-regex", `  - copy: {from: aws.n, to: aws.c, regex: '^2$'}`, `{"n":2.0}`,
			[]kv{N("aws.n", "2.0"), N("aws.c", "2.0")}, "", false},
		{"copy/object-is-not-copied", `  - copy: {from: aws.o, to: aws.c}`, `{"o":{"a":1}}`, []kv{N("aws.o.a", "1")}, "", false},

		{"wrap/non-object", `  - wrap: {field: aws.tags, key: value}`, `{"tags":["a","b"],"z":1}`,
			[]kv{A("aws.tags.value", `["a","b"]`), N("aws.z", "1")}, "", false},
		{"wrap/object-and-empty-object-stay", `  - wrap: {field: aws.t, key: value}
  - wrap: {field: aws.e, key: value}`, `{"t":{"a":1},"e":{}}`, []kv{N("aws.t.a", "1"), E("aws.e")}, "", false},
		{"wrap/python-str", `  - wrap: {field: aws.s, key: string, python_str: true}
  - wrap: {field: aws.b, key: string, python_str: true}
  - wrap: {field: aws.n, key: string, python_str: true}
  - wrap: {field: aws.f, key: string, python_str: true}
  - wrap: {field: aws.l, key: string, python_str: true}`,
			`{"s":"text","b":false,"n":-0,"f":1E2,"l":["a",1,2.5e-7,true,null,{"k":"it's"},[]]}`,
			[]kv{S("aws.s.string", "text"), S("aws.b.string", "False"), S("aws.n.string", "0"), S("aws.f.string", "100.0"),
				S("aws.l.string", `['a', 1, 2.5e-07, True, None, {'k': "it's"}, []]`)}, "", false},
		{"wrap/kinds-bool-only", `  - wrap: {field: aws.p.d, key: value, kinds: [bool]}
  - wrap: {field: aws.p.s, key: value, kinds: [bool]}`, `{"p":{"d":true,"s":"true"}}`,
			[]kv{B("aws.p.d.value", "true"), S("aws.p.s", "true")}, "", false},

		{"epoch_to_utc", `  - epoch_to_utc: {fields: [aws.a, aws.b, aws.c, aws.d, aws.e]}`,
			`{"a":"0","b":"-","c":"253402300800","d":1709633760,"e":"12x"}`,
			[]kv{S("aws.a", "1970-01-01T00:00:00Z"), S("aws.b", "-"), S("aws.c", "253402300800"), S("aws.d", "2024-03-05T10:16:00Z"), S("aws.e", "12x")}, "", false},

		{"drop_nulls", `  - drop_nulls: {under: aws}`, `{"a":null,"o":{"x":null,"y":{"z":null}},"l":[null],"k":1,"w":{"q":null}}`,
			[]kv{E("aws.o.y"), A("aws.l", "[null]"), N("aws.k", "1"), E("aws.w")}, "", false},
		{"drop_nulls/under", `  - drop_nulls: {under: aws.o}`, `{"a":null,"o":{"x":null}}`, []kv{Z("aws.a"), E("aws.o")}, "", false},

		{"unwrap_lists", `  - unwrap_lists: {}`,
			`{"s":["x"],"o":[{"a":[1],"b":null}],"l":[[1,2]],"e":[],"two":[1,2],"deep":{"d":[{"k":"v"}]},"in":[{"x":1},{"x":2}]}`,
			[]kv{S("aws.s", "x"), A("aws.o.a", "[1]"), Z("aws.o.b"), A("aws.l", "[1,2]"), A("aws.e", "[]"), A("aws.two", "[1,2]"),
				S("aws.deep.d.k", "v"), A("aws.in", `[{"x":1},{"x":2}]`)}, "", false},
		{"unwrap_lists/empty-object-element", `  - unwrap_lists: {}`, `{"o":[{}]}`, []kv{E("aws.o")}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set := jsonDecoder(t, tc.steps)
			origin := event.Origin{Type: event.LogTypeCloudTrail, Path: "p", Bucket: "bkt", AccountID: "111"}
			got := decode(t, set, origin, []byte(tc.in+"\n"), OpenOptions{})
			if tc.err != "" {
				assert.Equal(t, []string{tc.err}, got.errStrings())
				assert.Empty(t, got.events)
				return
			}
			require.Empty(t, got.errs)
			require.Len(t, got.events, 1)
			want := append(append([]kv{}, envelope...), tc.want...)
			if tc.whole {
				want = tc.want
			}
			assert.Equal(t, want, fieldsOf(got.events[0]))
		})
	}
}

// TestEventTime checks event_time formats and the fallback order.
func TestEventTime(t *testing.T) {
	set := jsonDecoder(t, `  - event_time: {fields: [aws.a, aws.b], format: rfc3339}
  - event_time: {fields: [aws.u], format: unix}
`)
	for in, want := range map[string]int64{
		`{"a":"2024-03-05T10:14:52Z"}`:                     1709633692,
		`{"a":"junk","b":"2024-03-05T10:14:52+01:00"}`:     1709630092,
		`{"b":"2024-03-05T10:14:52Z","u":"1"}`:             1,
		`{"a":"2024-03-05"}`:                               0,
		`{"u":"-"}`:                                        0,
		`{"a":{"nested":"2024-03-05T10:14:52Z"},"u":"17"}`: 17,
	} {
		got := decode(t, set, event.Origin{Path: "p"}, []byte(in), OpenOptions{})
		require.Len(t, got.events, 1, in)
		assert.Equal(t, want, got.events[0].Time, in)
	}
}

func TestFormatUTC(t *testing.T) {
	var e epochCache
	for _, sec := range []int64{0, 59, 86399, 86400, 951782400, 951868800, 1709633760, 4102444800, 253402300799} {
		assert.Equal(t, time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05Z"), string(e.appendUTC(nil, sec)), sec)
	}
	for sec := int64(0); sec < maxUnix; sec += 7777777 {
		require.Equal(t, time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05Z"), string(e.appendUTC(nil, sec)), sec)
	}
}

func TestParseUnix(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "7": 7, "12345678": 12345678, "123456789": 123456789,
		"1709633760": 1709633760, "999999999999999999": 999999999999999999} {
		got, ok := parseUnix([]byte(s))
		assert.True(t, ok, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "-", "+1", "12a4567890", "1234567a", "1234567890123456789", " 1"} {
		_, ok := parseUnix([]byte(s))
		assert.False(t, ok, s)
	}
}
