package indexer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/output/indexer/indexertest"
)

func testBuilder() *builder {
	return &builder{prefix: DefaultIndexPrefix, now: func() time.Time { return time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC) }}
}

// splitRecord returns the action line and the document of a bulk record.
func splitRecord(t testing.TB, line []byte) (action, doc []byte) {
	parts := bytes.Split(bytes.TrimSuffix(line, []byte("\n")), []byte("\n"))
	require.Len(t, parts, 2, string(line))
	return parts[0], parts[1]
}

// TestSampleAlertsFitTemplate indexes the document of every constructed
// sample and every golden alert of testdata/alerts into the test indexer,
// which checks each field against the wazuh-alerts-4.x template's type
// (and the dynamic mappings earlier documents made): none may be
// rejected.
func TestSampleAlertsFitTemplate(t *testing.T) {
	srv := newServer(t, indexertest.Options{})
	b := testBuilder()
	files := allSampleAlerts(t)
	golden := 0
	for file, alerts := range files {
		if strings.HasSuffix(file, ".golden.json") {
			golden++
		}
		for _, a := range alerts {
			rec, err := b.render(nil, a)
			require.NoError(t, err, "%s: %s", file, describe(a))
			_, doc := splitRecord(t, rec.line)
			assert.NoError(t, srv.IndexDoc(rec.index, rec.id+file, doc), "%s: %s", file, describe(a))
		}
	}
	t.Logf("%d files (%d golden alert files from testdata/alerts)", len(files), golden)
	// The check is not vacuous: the typed fields were typed.
	assert.Equal(t, "ip", srv.FieldType("wazuh-alerts-4.x-2024.03.05", "data.aws.srcaddr"))
	assert.Equal(t, "long", srv.FieldType("wazuh-alerts-4.x-2024.03.05", "data.aws.bytes"))
	assert.Equal(t, "date", srv.FieldType("wazuh-alerts-4.x-2024.03.05", "data.aws.start"))
}

// setPath sets a dotted path in a decoded JSON object.
func setPath(m map[string]any, path string, v any) {
	segs := strings.Split(path, ".")
	for _, s := range segs[:len(segs)-1] {
		next, ok := m[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[s] = next
		}
		m = next
	}
	m[segs[len(segs)-1]] = v
}

// TestSanitizerAgreesWithIndexer puts one value into one field of a real
// alert and checks two things against the test indexer: the untouched
// document is accepted exactly when the value fits (so the cases mean
// something), and the sink's document is always accepted, repaired exactly
// when the value did not fit.
func TestSanitizerAgreesWithIndexer(t *testing.T) {
	long := strings.Repeat("x", maxKeywordBytes+10)
	cases := []struct {
		path string
		val  string // JSON
		fits bool
	}{
		{"data.aws.srcaddr", `"10.0.1.25"`, true},
		{"data.aws.srcaddr", `"2001:db8::1"`, true},
		{"data.aws.srcaddr", `"::ffff:10.0.0.1"`, true},
		{"data.aws.srcaddr", `"-"`, false},
		{"data.aws.srcaddr", `"fe80::1%eth0"`, false},
		{"data.aws.srcaddr", `"010.0.0.1"`, false},
		{"data.aws.srcaddr", `"10.0.0"`, false},
		{"data.aws.srcaddr", `12`, false},
		{"data.aws.srcaddr", `["10.0.0.1","10.0.0.2"]`, true},
		{"data.aws.srcaddr", `["10.0.0.1","-"]`, false},
		{"data.aws.source_ip_address", `"ec2.amazonaws.com"`, false},
		{"data.aws.source_ip_address", `"999.1.1.1"`, false},
		{"data.aws.bytes", `"4392"`, true},
		{"data.aws.bytes", `"-"`, false},
		{"data.aws.bytes", `"1.5"`, true},
		{"data.aws.bytes", `"1e3"`, true},
		{"data.aws.bytes", `"9223372036854775807"`, true},
		{"data.aws.bytes", `"9223372036854775808"`, false},
		{"data.aws.bytes", `"-9223372036854775808"`, true},
		{"data.aws.bytes", `"0x10"`, false},
		{"data.aws.bytes", `"NaN"`, false},
		{"data.aws.bytes", `true`, false},
		{"data.aws.bytes", `{"a":"1"}`, false},
		{"data.aws.start", `"2024-03-05T10:15:00Z"`, true},
		{"data.aws.start", `"2024-03-05"`, true},
		{"data.aws.start", `"2024-03-05T10:15:00.123456789+01:00"`, true},
		{"data.aws.start", `"2024-03-05T10:15:00+0100"`, true},
		{"data.aws.start", `"1709633700000"`, true},
		{"data.aws.start", `1709633700000`, true},
		{"data.aws.start", `"2024-03-05 10:15:00"`, false},
		{"data.aws.start", `"2024-02-30T00:00:00Z"`, false},
		{"data.aws.start", `"24-03-05"`, false},
		{"data.aws.start", `"2024-3-5T10:15:00Z"`, false},
		{"data.aws.start", `"-"`, false},
		{"data.aws.end", `"2024-03-05T25:00:00Z"`, false},
		{"timestamp", `"2024-3-5T1:2:3Z"`, true},
		{"timestamp", `"yesterday"`, false},
		{"rule.level", `3`, true},
		{"rule.level", `"3"`, true},
		{"rule.level", `"high"`, false},
		{"rule.mail", `"false"`, true},
		{"rule.mail", `"no"`, false},
		{"rule.firedtimes", `2.5`, true},
		{"data.aws", `"flat"`, false},
		{"data.aws.log_info", `["a"]`, false},
		{"data.aws.log_info.s3bucket", `{"name":"b"}`, false},
		{"data.aws.eventName", `"` + long + `"`, false},
		{"data.aws.eventName", `"` + long[:maxKeywordBytes] + `"`, true},
		{"full_log", `"` + long + `"`, true},
		{"GeoLocation.location", `{"lat":1.5,"lon":2.5}`, true},
		{"GeoLocation.location", `{"lat":100,"lon":2.5}`, false},
		{"GeoLocation.location", `"1.5,2.5"`, true},
		{"GeoLocation.location", `[2.5,1.5]`, true},
		{"data.aws.resource.instanceDetails.networkInterfaces", `[{"privateIpAddress":"10.0.0.1"},{"privateIpAddress":"10.0.0.2"}]`, true},
		{"data.aws.resource.instanceDetails.networkInterfaces", `[{"privateIpAddress":"10.0.0.1"},{"privateIpAddress":"-"}]`, false},
		{"data.aws.service.count", `"7"`, true},
		{"data.aws.service.eventFirstSeen", `"not a date"`, false},
		{"data.aws.requestParameters.anything", `{"deep":[1,2]}`, true},
	}
	srv := newServer(t, indexertest.Options{})
	base := readAlerts(t, "testdata/vpcflow.alerts.CONSTRUCTED.jsonl")[0]
	b := testBuilder()
	for i, tc := range cases {
		name := fmt.Sprintf("%s=%.40s", tc.path, tc.val)
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(base.JSON, &m))
			var v any
			require.NoError(t, json.Unmarshal([]byte(tc.val), &v))
			setPath(m, tc.path, v)
			raw, err := json.Marshal(m)
			require.NoError(t, err)
			raw = bytes.ReplaceAll(raw, []byte(`\u0026`), []byte("&"))

			// Each case gets its own index: no dynamic mapping carries over.
			index := fmt.Sprintf("wazuh-alerts-4.x-case-%d", i)
			rawErr := srv.IndexDoc(index+"-raw", "raw", raw)
			if tc.fits {
				require.NoError(t, rawErr, "the case should fit")
			} else {
				require.Error(t, rawErr, "the case should not fit")
				t.Log(rawErr)
			}

			a := *base
			a.JSON = raw
			rec, err := b.render(nil, &a)
			require.NoError(t, err)
			_, doc := splitRecord(t, rec.line)
			require.NoError(t, srv.IndexDoc(index, "sink", doc), string(doc))
			assert.Equal(t, !tc.fits, rec.repaired+rec.truncated > 0, string(doc))
		})
	}
}

// TestRepairShape shows what a repaired document looks like.
func TestRepairShape(t *testing.T) {
	b := testBuilder()
	in := `{"timestamp":"2024-03-05T10:20:31.102+0000","rule":{"level":3,"id":"80401"},` +
		`"data":{"aws":{"srcaddr":"-","srcaddr_raw":"taken","bytes":"-","start":"2024-03-05T10:15:00Z","eventName":"` +
		strings.Repeat("é", maxKeywordBytes) + `"}},"location":"Wazuh-AWS"}`
	rec, err := b.render(nil, &alert.Alert{JSON: []byte(in), RuleID: "80401"})
	require.NoError(t, err)
	_, doc := splitRecord(t, rec.line)
	var d struct {
		Data struct {
			AWS map[string]any `json:"aws"`
		} `json:"data"`
		VPCAlertd map[string][]string `json:"vpcalertd"`
	}
	require.NoError(t, json.Unmarshal(doc, &d))
	aws := d.Data.AWS
	assert.NotContains(t, aws, "srcaddr")
	assert.Equal(t, "taken", aws["srcaddr_raw"])
	assert.Equal(t, "-", aws["srcaddr_raw2"])
	assert.Equal(t, "-", aws["bytes_raw"])
	assert.Equal(t, "2024-03-05T10:15:00Z", aws["start"])
	assert.Len(t, aws["eventName"], maxKeywordBytes/2*2, "cut at a character boundary")
	assert.Equal(t, map[string][]string{
		"repaired":  {"data.aws.srcaddr", "data.aws.bytes"},
		"truncated": {"data.aws.eventName"},
	}, d.VPCAlertd)
	assert.Equal(t, 2, rec.repaired)
	assert.Equal(t, 1, rec.truncated)
}

// TestPipelineParity sends the samples through Wazuh's own Filebeat ingest
// pipeline (the verbatim definition, run by the test indexer) with
// pipeline_input filebeat, and checks every resulting document equals the
// one the sink builds itself.
func TestPipelineParity(t *testing.T) {
	def, err := readFile("testdata/filebeat-wazuh-alerts-ingest-pipeline.v4.14.7.json")
	require.NoError(t, err)
	p, err := indexertest.LoadPipeline(def, nil)
	require.NoError(t, err)
	viaPipeline := newServer(t, indexertest.Options{Pipelines: map[string]indexertest.Pipeline{"filebeat-7.10.2-wazuh-alerts-pipeline": p}})
	builtin := newServer(t, indexertest.Options{})

	cfgP := fastConfig(viaPipeline.URL)
	cfgP.Pipeline = "filebeat-7.10.2-wazuh-alerts-pipeline"
	sp, _ := newSink(t, cfgP)
	require.NoError(t, sp.Check(t.Context()))
	sb, _ := newSink(t, fastConfig(builtin.URL))

	// Golden and constructed alerts of the same record share an _id; keep
	// one of each so both indexers hold the same alert.
	var alerts []*alert.Alert
	seen := map[string]bool{}
	for _, as := range allSampleAlerts(t) {
		for _, a := range as {
			if !seen[docID(a)] {
				seen[docID(a)] = true
				alerts = append(alerts, a)
			}
		}
	}
	// One that needs a repair, and one whose timestamp is another day.
	odd := *readAlerts(t, constructedFiles[0])[0]
	odd.JSON = []byte(strings.Replace(string(odd.JSON), `"srcaddr":"10.0.1.25"`, `"srcaddr":"-"`, 1))
	odd.JSON = []byte(strings.Replace(string(odd.JSON), `"timestamp":"2024-03-05T10:20:31.102+0000"`, `"timestamp":"2024-03-06T00:30:00.000+0100"`, 1))
	odd.Origin.Line = 9999
	alerts = append(alerts, &odd)
	writeAll(t, sp, alerts)
	writeAll(t, sb, alerts)
	require.NoError(t, sp.Sync())
	require.NoError(t, sb.Sync())

	require.Equal(t, builtin.Indices(), viaPipeline.Indices())
	assert.Contains(t, builtin.Indices(), "wazuh-alerts-4.x-2024.03.05")
	compared := 0
	for _, ix := range builtin.Indices() {
		want := builtin.Docs(ix)
		got := viaPipeline.Docs(ix)
		require.Equal(t, len(want), len(got), ix)
		for id, doc := range want {
			require.Contains(t, got, id)
			assert.Equal(t, mustJSON(t, doc), mustJSON(t, got[id]), "%s/%s", ix, id)
			compared++
		}
	}
	assert.Greater(t, compared, 100)
	doc, ok := builtin.Doc("wazuh-alerts-4.x-2024.03.05", docID(&odd))
	require.True(t, ok, "the +0100 timestamp falls on the UTC day before")
	assert.Contains(t, string(doc), `"srcaddr_raw":"-"`)

	t.Run("missing-pipeline", func(t *testing.T) {
		cfg := fastConfig(builtin.URL)
		cfg.Pipeline = "nope"
		cfg.CloseTimeout = time.Millisecond
		s, _ := newSink(t, cfg)
		err := s.Check(t.Context())
		require.Error(t, err)
		assert.Contains(t, err.Error(), `pipeline "nope" does not exist`)
		writeAll(t, s, alerts[:1])
		err = s.Sync()
		require.Error(t, err, "a missing pipeline blocks delivery instead of dead-lettering everything")
		assert.Contains(t, err.Error(), "pipeline with id [nope] does not exist")
		assert.Zero(t, s.Stats().DeadLettered)
	})
	t.Run("pipeline-input-alert", func(t *testing.T) {
		var seen [][]byte
		srv := newServer(t, indexertest.Options{Pipelines: map[string]indexertest.Pipeline{"mine": func(d *indexertest.IngestDoc) error {
			b, _ := json.Marshal(d.Source)
			seen = append(seen, b)
			return nil
		}}})
		cfg := fastConfig(srv.URL)
		cfg.Pipeline, cfg.PipelineInput = "mine", PipelineInputAlert
		s, _ := newSink(t, cfg)
		writeAll(t, s, alerts[:1])
		require.NoError(t, s.Sync())
		require.Len(t, seen, 1)
		assert.Equal(t, mustJSON(t, alerts[0].JSON), mustJSON(t, seen[0]), "the alert itself, no additions")
	})
}
