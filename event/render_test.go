package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flatten turns a JSON object into an Event the way a decoder does: keys in
// document order, dotted paths, JSON kinds kept.
func flatten(t testing.TB, js []byte) *Event {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	ev := &Event{}
	var walk func(prefix string)
	walk = func(prefix string) {
		tok, err := d.Token()
		require.NoError(t, err)
		switch v := tok.(type) {
		case json.Delim:
			if v == '[' {
				var raw []json.RawMessage
				for d.More() {
					var m json.RawMessage
					require.NoError(t, d.Decode(&m))
					raw = append(raw, m)
				}
				_, err := d.Token()
				require.NoError(t, err)
				var b bytes.Buffer
				b.WriteByte('[')
				for i, m := range raw {
					if i > 0 {
						b.WriteByte(',')
					}
					require.NoError(t, json.Compact(&b, m))
				}
				b.WriteByte(']')
				ev.Add(prefix, b.Bytes(), Array, NoSym)
				return
			}
			n := 0
			for d.More() {
				k, err := d.Token()
				require.NoError(t, err)
				key := k.(string)
				if prefix != "" {
					key = prefix + "." + key
				}
				walk(key)
				n++
			}
			_, err := d.Token()
			require.NoError(t, err)
			if n == 0 && prefix != "" {
				ev.Add(prefix, []byte("{}"), EmptyObject, NoSym)
			}
		case string:
			ev.Add(prefix, []byte(v), String, NoSym)
		case json.Number:
			ev.Add(prefix, []byte(v), Number, NoSym)
		case bool:
			if v {
				ev.Add(prefix, []byte("true"), Bool, NoSym)
			} else {
				ev.Add(prefix, []byte("false"), Bool, NoSym)
			}
		case nil:
			ev.Add(prefix, []byte("null"), Null, NoSym)
		}
	}
	walk("")
	return ev
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, sc.Err())
	return out
}

// dataOf extracts the "data" object of an alerts.json line as raw text.
func dataOf(t *testing.T, line string) string {
	t.Helper()
	i := strings.Index(line, `"data":`)
	require.GreaterOrEqual(t, i, 0)
	j := strings.LastIndex(line, `,"location":`)
	return line[i+len(`"data":`) : j]
}

// The wodle rendering of an event decoded from a datagram must give the
// datagram back byte for byte.
func TestWodleJSONRoundTrip(t *testing.T) {
	for _, file := range []string{
		"testdata/vpcflow-default-format.datagrams.txt",
		"testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt",
		"testdata/cloudtrail-ConsoleLogin-6-failures.datagrams.txt",
	} {
		for i, line := range readLines(t, file) {
			body := strings.TrimPrefix(line, "1:Wazuh-AWS:")
			ev := flatten(t, []byte(body))
			assert.Equal(t, body, string(ev.AppendWodleJSON(nil)), "%s line %d", file, i+1)
		}
	}
}

// The data rendering must equal the data object of the constructed alerts.
func TestDataJSONMatchesConstructedAlerts(t *testing.T) {
	cases := []struct {
		datagrams, alerts string
		lines             []int // datagram line (0-based) of each alert
	}{
		{"testdata/vpcflow-default-format.datagrams.txt", "testdata/vpcflow.alerts.CONSTRUCTED.jsonl", []int{1, 2}},
		{"testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt", "testdata/cloudtrail-CreateVpc-ok-denied-CreateUser-denied.alerts.CONSTRUCTED.jsonl", []int{0, 1, 2}},
	}
	for _, c := range cases {
		dg := readLines(t, c.datagrams)
		al := readLines(t, c.alerts)
		for i, n := range c.lines {
			ev := flatten(t, []byte(strings.TrimPrefix(dg[n], "1:Wazuh-AWS:")))
			assert.Equal(t, dataOf(t, al[i]), string(ev.AppendDataJSON(nil)), "%s alert %d", c.alerts, i+1)
		}
	}
}

func TestDataJSONEdgeCases(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"numbers", `{"a":1.5,"b":1709633700000,"c":-3,"d":true,"e":null}`, `{"a":"1.500000","b":"1709633700000.000000","c":"-3","d":"true","e":"null"}`},
		{"empty values dropped", `{"a":"","b":{},"c":{"d":""},"e":"x"}`, `{"e":"x"}`},
		{"arrays keep types", `{"a":[1,"x",true,null,{"k":2.5}],"b":[]}`, `{"a":[1,"x",true,null,{"k":2.5}],"b":[]}`},
		{"string that is an array", `{"a":"[1, 2]","b":"[nope"}`, `{"a":[1,2],"b":"[nope"}`},
		{"escapes", `{"a":"q\"b\\s/é\u0001\n"}`, `{"a":"q\"b\\s/é\u0001\n"}`},
		{"first key wins", `{"a":{"b":"1"},"x":"2","a.b":"3","a.c":"4"}`, `{"a":{"b":"1","c":"4"},"x":"2"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := flatten(t, []byte(c.in))
			assert.Equal(t, c.want, string(ev.AppendDataJSON(nil)))
		})
	}
}

func TestWodleJSONEscapes(t *testing.T) {
	ev := flatten(t, []byte(`{"a":"é😀\u007f<>&","b":[1,{"c":"ü"}],"e":{}}`))
	assert.Equal(t, `{"a": "\u00e9\ud83d\ude00\u007f<>&", "b": [1, {"c": "\u00fc"}], "e": {}}`, string(ev.AppendWodleJSON(nil)))
}

// A DataWriter must write exactly what AppendDataJSON writes, whatever
// sequence of layouts it sees.
func TestDataWriterMatchesAppendDataJSON(t *testing.T) {
	inputs := []string{
		`{"integration":"aws","aws":{"log_info":{"aws_account_alias":"","log_file":"k","s3bucket":"b"},"version":"2","action":"ACCEPT","source":"vpc"}}`,
		`{"integration":"aws","aws":{"log_info":{"aws_account_alias":"","log_file":"k2","s3bucket":"b"},"version":"2","action":"REJECT","source":"vpc"}}`,
		`{"integration":"aws","aws":{"log_info":{"aws_account_alias":"x","log_file":"k2","s3bucket":"b"},"version":"2","action":"","source":"vpc"}}`,
		`{"a":{"b":"1"},"x":"2","a.b":"3","a.c":"4"}`,
		`{"a":{"b":"1"},"x":"2","a.b":"3","a.c":"5"}`,
		`{"integration":"aws","aws":{"n":[1,2],"s":"[1, 2]","num":1.5,"e":{}}}`,
		`{}`,
		`{"integration":"aws","aws":{"log_info":{"aws_account_alias":"","log_file":"k","s3bucket":"b"},"version":"2","action":"ACCEPT","source":"vpc"}}`,
	}
	var w DataWriter
	for i, in := range inputs {
		ev := flatten(t, []byte(in))
		assert.Equal(t, string(ev.AppendDataJSON(nil)), string(w.Append([]byte("prefix"), ev))[len("prefix"):], "input %d", i)
	}
}
