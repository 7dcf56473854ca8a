package decoders

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// loadRuleset loads the shipped decoders.
func loadRuleset(t testing.TB) *Set {
	t.Helper()
	set, err := Load(os.DirFS("../ruleset"), "decoders")
	require.NoError(t, err)
	return set
}

// kv is a field as the tests compare it.
type kv struct {
	Key   string
	Value string
	Kind  event.Kind
}

func fieldsOf(ev *event.Event) []kv {
	out := make([]kv, len(ev.Fields))
	for i, f := range ev.Fields {
		out[i] = kv{f.Key, string(f.Value), f.Kind}
	}
	return out
}

// decoded is everything a stream produced.
type decoded struct {
	decoder string
	events  []*event.Event
	errs    []error // RecordErrors and the StreamError, in order
	// errAt[i] is the number of events returned before errs[i].
	errAt    []int
	warnings []string
	records  int64
	bytes    int64
}

func decode(t testing.TB, set *Set, origin event.Origin, data []byte, opts OpenOptions) *decoded {
	t.Helper()
	return decodeReader(t, set, origin, bytes.NewReader(data), opts)
}

func decodeReader(t testing.TB, set *Set, origin event.Origin, r io.Reader, opts OpenOptions) *decoded {
	t.Helper()
	d := &decoded{}
	opts.OnWarning = func(err error) { d.warnings = append(d.warnings, err.Error()) }
	st, err := set.Open(origin, r, opts)
	require.NoError(t, err)
	d.decoder = st.Decoder()
	var ev event.Event
	for n := 0; ; n++ {
		require.Less(t, n, 10_000_000, "stream does not end")
		err := st.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			var re *RecordError
			var se *StreamError
			require.True(t, errors.As(err, &re) || errors.As(err, &se), "unexpected error type %T: %v", err, err)
			d.errs = append(d.errs, err)
			d.errAt = append(d.errAt, len(d.events))
			if se != nil {
				require.Equal(t, io.EOF, st.Next(&ev), "a StreamError ends the stream")
				break
			}
			continue
		}
		d.events = append(d.events, ev.Clone())
	}
	require.Equal(t, io.EOF, st.Next(&ev), "io.EOF stays")
	d.records, d.bytes = st.Records(), st.BytesRead()
	return d
}

func (d *decoded) errStrings() []string {
	s := make([]string, len(d.errs))
	for i, e := range d.errs {
		s[i] = e.Error()
	}
	return s
}

// get returns the value of key in ev, or "<absent>".
func get(ev *event.Event, key string) string {
	if f, ok := ev.Get(key); ok {
		return string(f.Value)
	}
	return "<absent>"
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return b
}

// flattenJSON flattens a JSON object the way analysisd's JSON decoder walks
// it (docs/wazuh-compat.md, "Decoded values"), keeping key order and JSON types: written
// independently of the decoder under test, on json.RawMessage.
func flattenJSON(t testing.TB, data []byte) []kv {
	t.Helper()
	var out []kv
	// As analysisd joins keys: a member of a member gets its parent's key
	// and a dot, even when a name is empty.
	var walk func(prefix string, top bool, raw json.RawMessage)
	walk = func(prefix string, top bool, raw json.RawMessage) {
		raw = bytes.TrimSpace(raw)
		switch raw[0] {
		case '{':
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			_, err := dec.Token()
			require.NoError(t, err)
			n := 0
			for dec.More() {
				tok, err := dec.Token()
				require.NoError(t, err)
				var v json.RawMessage
				require.NoError(t, dec.Decode(&v))
				key := tok.(string)
				if !top {
					key = prefix + "." + key
				}
				walk(key, false, v)
				n++
			}
			if n == 0 {
				out = append(out, kv{prefix, "{}", event.EmptyObject})
			}
		case '[':
			var buf bytes.Buffer
			require.NoError(t, json.Compact(&buf, raw))
			out = append(out, kv{prefix, buf.String(), event.Array})
		case '"':
			var s string
			require.NoError(t, json.Unmarshal(raw, &s))
			out = append(out, kv{prefix, s, event.String})
		case 't', 'f':
			out = append(out, kv{prefix, string(raw), event.Bool})
		case 'n':
			out = append(out, kv{prefix, "null", event.Null})
		default:
			out = append(out, kv{prefix, string(raw), event.Number})
		}
	}
	walk("", true, data)
	return out
}

// datagrams reads a wodle datagram file: one "1:Wazuh-AWS:<json>" per line.
func datagrams(t testing.TB, name string) [][]kv {
	t.Helper()
	var out [][]kv
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, name))), "\n") {
		body, ok := strings.CutPrefix(line, "1:Wazuh-AWS:")
		require.True(t, ok, line)
		out = append(out, flattenJSON(t, []byte(body)))
	}
	return out
}

func value(fields []kv, key string) string {
	for _, f := range fields {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

func newGzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }
