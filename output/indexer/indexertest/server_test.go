package indexertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestServer(t *testing.T, opts Options) *Server {
	tpl, err := os.ReadFile("../testdata/wazuh-template.alerts-4.x.v4.14.7.json")
	require.NoError(t, err)
	opts.Templates = append(opts.Templates, tpl)
	s, err := NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

type bulkResp struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]map[string]any `json:"items"`
}

func post(t *testing.T, s *Server, ctype, body string, auth ...string) (int, []byte) {
	req, err := http.NewRequest(http.MethodPost, s.URL+"/_bulk", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", ctype)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, data
}

func TestBulkRequests(t *testing.T) {
	s := newTestServer(t, Options{})
	const ix = "wazuh-alerts-4.x-2024.03.05"
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		items             []int // per-item statuses when 200
		contains          string
	}{
		{name: "no-final-newline", ctype: "application/x-ndjson", body: `{"create":{"_index":"` + ix + `","_id":"a"}}` + "\n{}", status: 400, contains: "must be terminated by a newline"},
		{name: "content-type", ctype: "text/plain", body: "{}\n", status: 406, contains: "is not supported"},
		{name: "malformed-action", ctype: "application/json", body: "[1]\n{}\n", status: 400, contains: "Malformed action/metadata line [1]"},
		{name: "no-index", ctype: "application/json", body: `{"create":{"_id":"a"}}` + "\n{}\n", status: 400, contains: "index is missing"},
		{name: "created-then-conflict", ctype: "application/x-ndjson",
			body:   `{"create":{"_index":"` + ix + `","_id":"a"}}` + "\n" + `{"data":{"aws":{"srcaddr":"10.0.0.1"}}}` + "\n" + `{"create":{"_index":"` + ix + `","_id":"a"}}` + "\n" + `{"data":{"aws":{"srcaddr":"10.0.0.1"}}}` + "\n",
			status: 200, items: []int{201, 409}},
		{name: "type-errors", ctype: "application/x-ndjson",
			body: `{"create":{"_index":"` + ix + `","_id":"b"}}` + "\n" + `{"data":{"aws":{"srcaddr":"-"}}}` + "\n" +
				`{"create":{"_index":"` + ix + `","_id":"c"}}` + "\n" + `{"data":{"aws":"flat"}}` + "\n" +
				`{"create":{"_index":"` + ix + `","_id":"d"}}` + "\n" + `{"a":1,"a":2}` + "\n" +
				`{"create":{"_index":"` + ix + `","_id":"e"}}` + "\n" + `{"dyn":[1,2]}` + "\n" +
				`{"create":{"_index":"` + ix + `","_id":"f"}}` + "\n" + `{"dyn":"text"}` + "\n" +
				`{"create":{"_index":"` + ix + `","_id":"g"}}` + "\n" + `{"dyn":{"x":1}}` + "\n" +
				`{"create":{"_index":"` + ix + `","_id":"h"}}` + "\n" + `{"":1}` + "\n",
			status: 200, items: []int{400, 400, 400, 201, 400, 400, 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, s, tc.ctype, tc.body)
			require.Equal(t, tc.status, status, string(body))
			if tc.contains != "" {
				assert.Contains(t, string(body), tc.contains)
			}
			if tc.items == nil {
				return
			}
			var r bulkResp
			require.NoError(t, json.Unmarshal(body, &r))
			var got []int
			for _, it := range r.Items {
				got = append(got, int(it["create"]["status"].(float64)))
			}
			assert.Equal(t, tc.items, got, string(body))
			assert.True(t, r.Errors)
		})
	}
	assert.Equal(t, "long", s.FieldType(ix, "dyn"), "dynamic mapping from the first document")
	assert.Equal(t, "keyword", s.FieldType(ix, "data.aws.log_info.s3bucket"))
	_, ok := s.Doc(ix, "a")
	assert.True(t, ok)
}

func TestAuthAndFaults(t *testing.T) {
	s := newTestServer(t, Options{Username: "admin", Password: "pw"})
	body := `{"create":{"_index":"x","_id":"1"}}` + "\n{}\n"
	status, data := post(t, s, "application/json", body, "admin", "nope")
	assert.Equal(t, 401, status)
	assert.Equal(t, "Unauthorized", string(data))
	s.FailNext(429, 503)
	status, data = post(t, s, "application/json", body, "admin", "pw")
	assert.Equal(t, 429, status)
	assert.Contains(t, string(data), "rejected_execution_exception")
	status, _ = post(t, s, "application/json", body, "admin", "pw")
	assert.Equal(t, 503, status)
	status, _ = post(t, s, "application/json", body, "admin", "pw")
	assert.Equal(t, 200, status)
	assert.Equal(t, Stats{Requests: 3, InjectedErrors: 2, AuthFailures: 1, Items: 1, Created: 1, MaxItems: 1, MaxBody: len(body)}, s.Stats())

	s.Down()
	_, err := http.Post(s.URL+"/_bulk", "application/json", strings.NewReader(body))
	require.Error(t, err)
	require.NoError(t, s.Up())
	status, _ = post(t, s, "application/json", body, "admin", "pw")
	assert.Equal(t, 200, status)
	assert.Equal(t, 1, s.Count())
}

func TestPipelineAndDrop(t *testing.T) {
	def := []byte(`{"processors":[{"json":{"field":"message","add_to_root":true}},
		{"date":{"field":"timestamp","target_field":"@timestamp","formats":["ISO8601"]}},
		{"remove":{"field":"message"}}],"on_failure":[{"drop":{}}]}`)
	p, err := LoadPipeline(def, nil)
	require.NoError(t, err)
	s := newTestServer(t, Options{Pipelines: map[string]Pipeline{"p": p}})
	var buf bytes.Buffer
	buf.WriteString(`{"create":{"_index":"wazuh-alerts-4.x-x","_id":"ok","pipeline":"p"}}` + "\n")
	buf.WriteString(`{"message":"{\"timestamp\":\"2024-03-05T10:20:31.102+0000\",\"a\":\"b\"}"}` + "\n")
	buf.WriteString(`{"create":{"_index":"wazuh-alerts-4.x-x","_id":"bad","pipeline":"p"}}` + "\n")
	buf.WriteString(`{"message":"{\"timestamp\":\"never\"}"}` + "\n")
	status, data := post(t, s, "application/json", buf.String())
	require.Equal(t, 200, status)
	assert.NotContains(t, string(data), `"errors":true`)
	doc, ok := s.Doc("wazuh-alerts-4.x-x", "ok")
	require.True(t, ok)
	assert.JSONEq(t, `{"@timestamp":"2024-03-05T10:20:31.102Z","a":"b","timestamp":"2024-03-05T10:20:31.102+0000"}`, string(doc))
	_, ok = s.Doc("wazuh-alerts-4.x-x", "bad")
	assert.False(t, ok, "dropped by on_failure")
	assert.Equal(t, 1, s.Stats().Dropped)
}

func TestDiscard(t *testing.T) {
	s := newTestServer(t, Options{Discard: true})
	body := `{"create":{"_index":"x","_id":"1"}}` + "\n{\"a\":1}\n" + `{"create":{"_index":"x","_id":"1"}}` + "\n{}\n"
	status, data := post(t, s, "application/x-ndjson", body)
	require.Equal(t, 200, status)
	var r bulkResp
	require.NoError(t, json.Unmarshal(data, &r), string(data))
	assert.True(t, r.Errors)
	require.Len(t, r.Items, 2)
	assert.EqualValues(t, 201, r.Items[0]["create"]["status"])
	assert.EqualValues(t, 409, r.Items[1]["create"]["status"])
	assert.Equal(t, 1, s.Count())
}

// TestIndexAndCreateAsOpenSearch: the answers to the two write actions on
// an _id that exists are OpenSearch's, byte for byte but for took and the
// index's UUID: index replaces the document (200 "updated", the next
// _version), create is a version conflict (409, with the error's members
// in OpenSearch's order) and leaves the document as it was.
func TestIndexAndCreateAsOpenSearch(t *testing.T) {
	s := newTestServer(t, Options{})
	const ix = "wazuh-alerts-4.x-2024.03.05"
	body := `{"create":{"_index":"` + ix + `","_id":"a"}}` + "\n" + `{"rule":{"id":"1"}}` + "\n" +
		`{"index":{"_index":"` + ix + `","_id":"a"}}` + "\n" + `{"rule":{"id":"2"}}` + "\n" +
		`{"create":{"_index":"` + ix + `","_id":"a"}}` + "\n" + `{"rule":{"id":"3"}}` + "\n" +
		`{"index":{"_index":"` + ix + `","_id":"b"}}` + "\n" + `{"rule":{"id":"4"}}` + "\n"
	status, data := post(t, s, "application/x-ndjson", body)
	require.Equal(t, 200, status)
	got := regexp.MustCompile(`^\{"took":\d+,`).ReplaceAllString(string(data), `{"took":0,`)
	got = regexp.MustCompile(`"index_uuid":"[A-Za-z0-9_-]{22}"`).ReplaceAllString(got, `"index_uuid":"UUID"`)
	shards := `"_shards":{"total":1,"successful":1,"failed":0}`
	want := `{"took":0,"errors":true,"items":[` +
		`{"create":{"_index":"` + ix + `","_id":"a","_version":1,"result":"created",` + shards + `,"_seq_no":0,"_primary_term":1,"status":201}},` +
		`{"index":{"_index":"` + ix + `","_id":"a","_version":2,"result":"updated",` + shards + `,"_seq_no":1,"_primary_term":1,"status":200}},` +
		`{"create":{"_index":"` + ix + `","_id":"a","status":409,"error":{"type":"version_conflict_engine_exception",` +
		`"reason":"[a]: version conflict, document already exists (current version [2])","index_uuid":"UUID","shard":"0","index":"` + ix + `"}}},` +
		`{"index":{"_index":"` + ix + `","_id":"b","_version":1,"result":"created",` + shards + `,"_seq_no":2,"_primary_term":1,"status":201}}]}`
	assert.Equal(t, want, got)
	doc, ok := s.Doc(ix, "a")
	require.True(t, ok)
	assert.JSONEq(t, `{"rule":{"id":"2"}}`, string(doc), "index replaced the document, create left it")
	st := s.Stats()
	assert.Equal(t, 2, st.Created)
	assert.Equal(t, 1, st.Updated)
	assert.Equal(t, 1, st.Conflicts)
	assert.Equal(t, 2, s.Count())
}
