package decoders

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

func ctOrigin(path string) event.Origin {
	return event.Origin{Type: event.LogTypeCloudTrail, Path: path, Bucket: "bkt", Key: "k.json.gz", AccountID: "123456789012"}
}

// TestCloudTrailTransformations checks the wodle's transformations on one
// record that needs all of them (docs/wazuh-compat.md, "CloudTrail records", in that order).
func TestCloudTrailTransformations(t *testing.T) {
	set := loadRuleset(t)
	rec := `{"eventVersion":"1.08","userIdentity":{"type":"Root","sessionContext":{"attributes":{"mfa":null}},"x":null},` +
		`"eventTime":"2024-03-05T10:14:52Z","sourceIPAddress":"203.0.113.9","tags":"prod",` +
		`"requestParameters":{"disableApiTermination":true,"instancesSet":{"items":[{"instanceId":"i-1","tags":[1]}]}},` +
		`"responseElements":["a",{"b":null}],"additionalEventData":1.0,"resources":[{"ARN":"arn:1"}],"errorCode":null,` +
		`"source":"mine","aws_account_id":"other","readOnly":false,"n":12345678901}`
	got := decode(t, set, ctOrigin("p"), []byte(`{"Records":[`+rec+`]}`), OpenOptions{})
	require.Empty(t, got.errs)
	require.Len(t, got.events, 1)
	want := []kv{
		S("integration", "aws"), S("aws.log_info.aws_account_alias", ""), S("aws.log_info.log_file", "k.json.gz"),
		S("aws.log_info.s3bucket", "bkt"),
		S("aws.eventVersion", "1.08"), S("aws.userIdentity.type", "Root"), E("aws.userIdentity.sessionContext.attributes"),
		S("aws.eventTime", "2024-03-05T10:14:52Z"), S("aws.sourceIPAddress", "203.0.113.9"), S("aws.tags.value", "prod"),
		B("aws.requestParameters.disableApiTermination.value", "true"), S("aws.requestParameters.instancesSet.items.instanceId", "i-1"),
		A("aws.requestParameters.instancesSet.items.tags", "[1]"),
		S("aws.responseElements.string", "['a', {'b': None}]"), S("aws.additionalEventData.string", "1.0"),
		S("aws.resources.ARN", "arn:1"),
		S("aws.source", "cloudtrail"), S("aws.aws_account_id", "123456789012"), B("aws.readOnly", "false"), N("aws.n", "12345678901"),
		S("aws.source_ip_address", "203.0.113.9"),
	}
	assert.Equal(t, want, fieldsOf(got.events[0]))
	assert.Equal(t, int64(1709633692), got.events[0].Time)
}

// TestCloudTrailFiles checks the file-level cases: digests, empty records,
// records that are not objects, broken and truncated JSON.
func TestCloudTrailFiles(t *testing.T) {
	set := loadRuleset(t)
	createVpc := readFile(t, "testdata/wazuh/cloudtrail-logfile-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	broken := bytes.Replace(createVpc, []byte(`"eventName":"CreateUser"`), []byte(`"eventName":CreateUser"`), 1)
	cases := []struct {
		name   string
		in     []byte
		gzip   bool
		events int
		errs   []string
	}{
		{"digest", readFile(t, "testdata/aws/cloudtrail-digest-file.awsdocs.json"), false, 0, nil},
		{"digest-no-logfiles", readFile(t, "testdata/aws/cloudtrail-digest-file-no-logfiles.awsdocs.json"), true, 0, nil},
		{"empty-object", []byte(`{}`), false, 0, nil},
		{"empty-records", []byte(" {\"Records\" : [ ] }\n"), false, 0, nil},
		{"records-among-other-members", []byte(`{"x":{"y":[1,{"Records":[1]}]},"Records":[{"a":1},{"b":2}],"z":null}`), false, 2, nil},
		{"record-not-an-object", []byte(`{"Records":[{"a":1},5,[{"x":1}],{"b":2}]}`), false, 2,
			[]string{"p:2: record is not a JSON object", "p:3: record is not a JSON object"}},
		{"records-not-an-array", []byte(`{"Records":{"a":1}}`), false, 0, []string{"p:1: byte offset 12: member Records is not an array"}},
		{"not-an-object", []byte(`"Records"`), false, 0, []string{"p:1: byte offset 9: expected a JSON object with a Records array"}},
		{"trailing-data", []byte(`{"Records":[{"a":1}]} {}`), false, 1, []string{"p:1: byte offset 23: unexpected data after the JSON document"}},
		{"syntax-error-in-record-3", broken, false, 2, []string{"p:3: byte offset 2821: invalid character 'C' looking for beginning of value"}},
		{"truncated-plain", createVpc[:len(createVpc)*3/4], false, 2, []string{"p:3: byte offset 3327: unexpected EOF"}},
		{"empty-file", nil, false, 0, []string{"p:1: empty file"}},
		{"too-deep", []byte(`{"Records":[` + strings.Repeat(`{"a":1,"b":`, 101) + "1" + strings.Repeat("}", 101) + `,{"ok":1}]}`), false, 1,
			[]string{"p:1: record nests objects more than 100 levels deep"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.gzip {
				in = gzipBytes(t, in)
			}
			got := decode(t, set, ctOrigin("p"), in, OpenOptions{})
			assert.Equal(t, tc.errs, nilIfEmpty(got.errStrings()))
			assert.Len(t, got.events, tc.events)
			for _, e := range got.errs {
				var re *RecordError
				if !errors.As(e, &re) {
					var se *StreamError
					require.ErrorAs(t, e, &se)
				}
			}
		})
	}
	t.Run("truncated-gzip", func(t *testing.T) {
		gz := gzipBytes(t, createVpc)
		got := decode(t, set, ctOrigin("p"), gz[:len(gz)-30], OpenOptions{})
		require.Len(t, got.errs, 1)
		assert.Contains(t, got.errs[0].Error(), "unexpected EOF in gzip stream")
		assert.GreaterOrEqual(t, len(got.events), 2)
	})
}

// TestCloudTrailOrigin checks Origin.Line (record index), Offset and the
// counters.
func TestCloudTrailOrigin(t *testing.T) {
	set := loadRuleset(t)
	data := readFile(t, "testdata/wazuh/cloudtrail-logfile-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.json")
	got := decode(t, set, ctOrigin("p"), data, OpenOptions{})
	require.Len(t, got.events, 4)
	for i, ev := range got.events {
		assert.Equal(t, i+1, ev.Origin.Line)
		assert.Equal(t, byte('{'), data[ev.Origin.Offset])
		assert.True(t, bytes.HasPrefix(data[ev.Origin.Offset:], []byte(`{"eventVersion"`)))
	}
	assert.Equal(t, int64(4), got.records)
	assert.Equal(t, int64(len(bytes.TrimRight(data, "\n"))), got.bytes)
}

// TestSniffing checks the choice of decoder when the log type is unknown.
func TestSniffing(t *testing.T) {
	set := loadRuleset(t)
	record := `{"eventVersion":"1.09","eventName":"CreateVpc","sourceIPAddress":"198.51.100.23"}`
	body := `{"integration":"aws","aws":{"source":"vpc","action":"REJECT","n":1}}`
	cases := []struct {
		name, in, decoder string
		events            int
		errs              []string
	}{
		{"cloudtrail-file", `{"Records":[` + record + `]}`, "cloudtrail", 1, nil},
		{"cloudtrail-records-one-per-line", record + "\n\n" + record + "\n{bad\n", "cloudtrail", 2,
			[]string{"u:4: invalid JSON: invalid character 'b' looking for beginning of object key string"}},
		{"bare-array", "[\n" + record + "," + record + "]", "cloudtrail", 2, nil},
		{"wazuh-json", body + "\n" + body, "wazuh-json", 2, nil},
		{"wazuh-datagram", "1:Wazuh-AWS:" + body, "wazuh-json", 1, nil},
		{"integration-last", `{"aws":{"a":1},"integration":"aws"}`, "wazuh-json", 1, nil},
		{"flow-line", "2 123456789012 eni-1 - - - - - - - 1431280876 1431280934 - NODATA", "vpcflow", 1, nil},
		{"empty", "", "vpcflow", 0, []string{"u:1: empty file"}},
		{"blank", " \n\n", "vpcflow", 0, nil},
	}
	for _, tc := range cases {
		for _, gz := range []bool{false, true} {
			name := tc.name
			in := []byte(tc.in)
			if gz {
				name += "/gzip"
				in = gzipBytes(t, in)
			}
			t.Run(name, func(t *testing.T) {
				got := decode(t, set, event.Origin{Path: "u"}, in, OpenOptions{})
				assert.Equal(t, tc.decoder, got.decoder)
				assert.Equal(t, tc.errs, nilIfEmpty(got.errStrings()))
				assert.Len(t, got.events, tc.events)
			})
		}
	}
	t.Run("no-decoder", func(t *testing.T) {
		_, err := set.Open(event.Origin{Path: "d.json"}, bytes.NewReader(readFile(t, "testdata/aws/cloudtrail-digest-file.awsdocs.json")), OpenOptions{})
		require.ErrorIs(t, err, ErrNoDecoder)
		assert.Equal(t, `d.json: no decoder accepts the stream (type "")`, err.Error())
		_, err = set.Open(event.Origin{Type: "guardduty"}, strings.NewReader("x"), OpenOptions{})
		require.ErrorIs(t, err, ErrNoDecoder)
	})
	t.Run("bad-options", func(t *testing.T) {
		_, err := set.Open(event.Origin{Path: "x"}, strings.NewReader("x"), OpenOptions{MaxLineBytes: -1})
		assert.EqualError(t, err, "x: max line bytes -1: must not be negative")
	})
}

// TestWazuhJSON: a decoded body is flattened as it is, in document order,
// with its JSON types; the datagram header is optional.
func TestWazuhJSON(t *testing.T) {
	set := loadRuleset(t)
	for _, name := range []string{"vpcflow-default-format.datagrams.txt", "cloudtrail-CreateVpc-ok-denied-CreateUser-denied-DeleteVpc.datagrams.txt"} {
		t.Run(name, func(t *testing.T) {
			want := datagrams(t, "testdata/wazuh/"+name)
			got := decode(t, set, event.Origin{Type: event.LogTypeWazuhJSON, Path: name}, readFile(t, "testdata/wazuh/"+name), OpenOptions{})
			require.Empty(t, got.errs)
			require.Len(t, got.events, len(want))
			for i, ev := range got.events {
				assert.Equal(t, want[i], fieldsOf(ev))
			}
		})
	}
	t.Run("engine4x-test-input", func(t *testing.T) {
		data := readFile(t, "testdata/wazuh/engine4x-test-input_cloudtrail.jsonl")
		got := decode(t, set, event.Origin{Path: "e"}, data, OpenOptions{})
		assert.Equal(t, "wazuh-json", got.decoder)
		require.Empty(t, got.errs)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		require.Len(t, got.events, len(lines))
		for i, ev := range got.events {
			assert.Equal(t, flattenJSON(t, []byte(lines[i])), fieldsOf(ev))
		}
		assert.Equal(t, int64(1535131208), got.events[0].Time) // aws.eventTime 2018-08-24T17:20:08Z
	})
	// analysisd joins a member's key to its parent's with a dot even when a
	// name is empty, so an empty name keeps its place instead of lifting its
	// members (".srcip" is not the static field srcip); only a top-level
	// empty name gives an empty key. A fuzz finding.
	t.Run("empty-names", func(t *testing.T) {
		in := `{"integration":"aws","":{"srcip":"1.2.3.4","":"e"},"aws":{"source":"vpc","":"x","q":{"":{"r":1}}}}` + "\n" +
			`{"integration":"aws","":"top"}`
		got := decode(t, set, event.Origin{Path: "e"}, []byte(in), OpenOptions{})
		require.Empty(t, got.errs)
		require.Len(t, got.events, 2)
		assert.Equal(t, []kv{{"integration", "aws", event.String}, {".srcip", "1.2.3.4", event.String}, {".", "e", event.String},
			{"aws.source", "vpc", event.String}, {"aws.", "x", event.String}, {"aws.q..r", "1", event.Number}}, fieldsOf(got.events[0]))
		assert.Equal(t, []kv{{"integration", "aws", event.String}, {"", "top", event.String}}, fieldsOf(got.events[1]))
		for i, line := range strings.Split(in, "\n") {
			assert.Equal(t, flattenJSON(t, []byte(line)), fieldsOf(got.events[i]))
		}
	})
}
