package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/decoders"
	"github.com/vpcalertd/vpcalertd/event"
)

// flattenJSON is a test-only stand-in for the JSON decoder: a Wazuh event
// body becomes flat dotted fields in document order (docs/wazuh-compat.md,
// "Decoded values").
func flattenJSON(js []byte) (*event.Event, error) {
	ev := &event.Event{}
	if err := flattenObject("", js, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

func flattenObject(prefix string, raw []byte, ev *event.Event) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		tk, err := dec.Token()
		if err != nil {
			return err
		}
		name := prefix + tk.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		switch v[0] {
		case '{':
			if bytes.Equal(bytes.Join(bytes.Fields(v), nil), []byte("{}")) {
				ev.Add(name, []byte("{}"), event.EmptyObject, event.NoSym)
				continue
			}
			if err := flattenObject(name+".", v, ev); err != nil {
				return err
			}
		case '[':
			var b bytes.Buffer
			if err := json.Compact(&b, v); err != nil {
				return err
			}
			ev.Add(name, b.Bytes(), event.Array, event.NoSym)
		case '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			ev.Add(name, []byte(s), event.String, event.NoSym)
		case 't', 'f':
			ev.Add(name, v, event.Bool, event.NoSym)
		case 'n':
			ev.Add(name, v, event.Null, event.NoSym)
		default:
			ev.Add(name, v, event.Number, event.NoSym)
		}
	}
	return nil
}

var v2Columns = []string{"version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport",
	"protocol", "packets", "bytes", "start", "end", "action", "log_status"}

// splitV2 is a test-only stand-in for the flow-log decoder: a default
// format (v2) line becomes the wodle's event (docs/wazuh-compat.md, "VPC flow logs").
func splitV2(line string) (*event.Event, error) {
	cols := strings.Fields(line)
	if len(cols) != len(v2Columns) {
		return nil, fmt.Errorf("want %d columns, got %d", len(v2Columns), len(cols))
	}
	ev := &event.Event{}
	add := func(k, v string) { ev.Add(k, []byte(v), event.String, event.NoSym) }
	add("integration", "aws")
	add("aws.log_info.aws_account_alias", "")
	add("aws.log_info.log_file", "AWSLogs/"+cols[1]+"/vpcflowlogs/us-east-1/2024/03/05/x.log.gz")
	add("aws.log_info.s3bucket", "test-bucket")
	for i, c := range cols {
		if v2Columns[i] == "start" || v2Columns[i] == "end" {
			sec, err := strconv.ParseInt(c, 10, 64)
			if err != nil {
				return nil, err
			}
			c = time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05Z")
			ev.Time = sec
		}
		add("aws."+v2Columns[i], c)
	}
	add("aws.source", "vpc")
	add("aws.aws_account_id", cols[1])
	return ev, nil
}

// testDecode decodes inline test inputs with the shipped decoders, as
// vpcalertd ruleset test does: an `event:` mapping through wazuh-json, a
// `log:` line through the decoder its type or content selects.
func testDecode(in TestInput) (*event.Event, error) {
	realDecodersOnce.Do(func() {
		realDecoders, realDecodersErr = decoders.Load(os.DirFS("../ruleset"), "decoders")
	})
	if realDecodersErr != nil {
		return nil, realDecodersErr
	}
	origin := event.Origin{Path: in.File, Line: in.Line, Type: in.Type}
	data := []byte(in.Log)
	if in.Event != nil {
		origin.Type = event.LogTypeWazuhJSON
		data = in.Event
	}
	st, err := realDecoders.Open(origin, bytes.NewReader(data), decoders.OpenOptions{})
	if err != nil {
		return nil, err
	}
	ev := &event.Event{}
	if err := st.Next(ev); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", in.File, in.Line, err)
	}
	return ev.Clone(), nil
}

var (
	realDecodersOnce sync.Once
	realDecoders     *decoders.Set
	realDecodersErr  error
)

// shipped loads the built-in ruleset from the repository.
func shipped(t testing.TB) *Set {
	t.Helper()
	s, err := Load([]Layer{{FS: os.DirFS("../ruleset"), RulesDir: "rules", ListsDir: "lists"}}, Options{})
	require.NoError(t, err)
	return s
}

// loadYAML loads rule files given as text, with optional lists.
func loadYAML(t testing.TB, files map[string]string, lists map[string]string) (*Set, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for n, body := range files {
		fsys["rules/"+n] = &fstest.MapFile{Data: []byte(body)}
	}
	for n, body := range lists {
		fsys["lists/"+n] = &fstest.MapFile{Data: []byte(body)}
	}
	fsys["mitre.yml"] = &fstest.MapFile{Data: []byte("T1110: {technique: Brute Force, tactics: [Credential Access]}\n")}
	return Load([]Layer{{FS: fsys, RulesDir: "rules", ListsDir: "lists"}}, Options{})
}

func mustEvent(t testing.TB, js string) *event.Event {
	t.Helper()
	ev, err := flattenJSON([]byte(js))
	require.NoError(t, err)
	return ev
}
