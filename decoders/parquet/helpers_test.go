package parquet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	pq "github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

func loadSet(t testing.TB) *decoders.Set {
	t.Helper()
	set, err := decoders.Load(os.DirFS("../../ruleset"), "decoders")
	require.NoError(t, err)
	return set
}

// result is what a stream gave.
type result struct {
	events []*event.Event
	errs   []string
	// errAt[i] is the number of events before errs[i].
	errAt    []int
	warnings []string
	records  int64
}

func decodeAll(t testing.TB, set *decoders.Set, origin event.Origin, r io.Reader) *result {
	t.Helper()
	res := &result{}
	st, err := set.Open(origin, r, decoders.OpenOptions{OpenTable: Open, TempDir: t.TempDir(),
		OnWarning: func(err error) { res.warnings = append(res.warnings, err.Error()) }})
	require.NoError(t, err)
	var ev event.Event
	for {
		err := st.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			var re *decoders.RecordError
			var se *decoders.StreamError
			require.True(t, errors.As(err, &re) || errors.As(err, &se), "error of type %T: %v", err, err)
			res.errs = append(res.errs, err.Error())
			res.errAt = append(res.errAt, len(res.events))
			continue
		}
		res.events = append(res.events, ev.Clone())
	}
	res.records = st.Records()
	return res
}

// fieldTable reads the field table of the shipped vpcflow decoder: the
// names and types the generated records use.
func fieldTable(t testing.TB) (names []string, types map[string]string) {
	t.Helper()
	data, err := os.ReadFile("../../ruleset/decoders/vpcflow.yml")
	require.NoError(t, err)
	var spec struct {
		Steps []map[string]yaml.Node `yaml:"steps"`
	}
	require.NoError(t, yaml.Unmarshal(data, &spec))
	types = map[string]string{}
	for _, st := range spec.Steps {
		cols, ok := st["columns"]
		if !ok {
			continue
		}
		var c struct {
			Fields yaml.Node `yaml:"fields"`
		}
		require.NoError(t, cols.Decode(&c))
		for i := 0; i+1 < len(c.Fields.Content); i += 2 {
			names = append(names, c.Fields.Content[i].Value)
			types[c.Fields.Content[i].Value] = c.Fields.Content[i+1].Value
		}
	}
	require.NotEmpty(t, names)
	return names, types
}

// flowText writes a flow-log text body (a header line, then n records)
// with the given fields: every kind of value, "-" in any field now and
// then, and NODATA records.
func flowText(t testing.TB, fields []string, n int, seed uint64) []byte {
	t.Helper()
	_, types := fieldTable(t)
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	var b bytes.Buffer
	b.WriteString(strings.Join(fields, " ") + "\n")
	ips := []string{"10.0.1.25", "172.31.16.139", "203.0.113.45", "198.51.100.77", "2001:db8:1234:a100:8d6e:3477:df66:f105", "52.95.128.179"}
	nodataFields := map[string]bool{"srcaddr": true, "dstaddr": true, "srcport": true, "dstport": true, "protocol": true,
		"packets": true, "bytes": true, "action": true}
	toks := make([]string, len(fields))
	for i := 0; i < n; i++ {
		nodata := rng.IntN(50) == 0
		for j, f := range fields {
			var v string
			switch {
			case f == "log-status" && nodata:
				v = "NODATA"
			case f == "log-status":
				v = []string{"OK", "OK", "OK", "SKIPDATA"}[rng.IntN(4)]
			case f == "start":
				v = fmt.Sprint(1709633700 + i/10)
			case f == "end":
				v = fmt.Sprint(1709633760 + i/10)
			case nodata && nodataFields[f], rng.IntN(12) == 0:
				v = "-"
			case f == "action":
				v = []string{"ACCEPT", "ACCEPT", "REJECT"}[rng.IntN(3)]
			case f == "version":
				v = fmt.Sprint(2 + rng.IntN(7))
			case f == "account-id":
				v = "123456789012"
			case types[f] == "integer" && is64(f):
				v = fmt.Sprint(rng.IntN([]int{2, 300, 65536, 1 << 40}[rng.IntN(4)]))
			case types[f] == "integer":
				v = fmt.Sprint(rng.IntN([]int{2, 300, 65536}[rng.IntN(3)]))
			case types[f] == "ip":
				v = ips[rng.IntN(len(ips))]
			default:
				v = fmt.Sprintf("%s-%05x", strings.SplitN(f, "-", 2)[0], rng.IntN(1<<20))
			}
			toks[j] = v
		}
		b.WriteString(strings.Join(toks, " ") + "\n")
	}
	return b.Bytes()
}

// toParquet writes a text body as Parquet.
func toParquet(t testing.TB, text []byte, opts WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, bytes.NewReader(text), opts))
	return buf.Bytes()
}

// is64 says whether AWS gives field f an INT64 column.
func is64(f string) bool {
	n, ok := awsTypes[strings.ReplaceAll(f, "-", "_")]
	return ok && n.Type().Kind() == pq.Int64
}
