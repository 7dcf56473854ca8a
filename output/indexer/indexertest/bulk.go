package indexertest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/vpcalertd/vpcalertd/ojson"
)

// bulkItem is one parsed action and its document.
type bulkItem struct {
	action, index, id, pipeline string
	source                      []byte
}

// itemResult is one entry of the response's items.
type itemResult struct {
	action, index, id string
	indexed
	err *docError
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, pathIndex string) {
	start := time.Now()
	s.mu.Lock()
	s.stats.Requests++
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		s.stats.InjectedErrors++
		s.mu.Unlock()
		injectFailure(w, status)
		return
	}
	s.mu.Unlock()
	if s.opts.Latency > 0 {
		time.Sleep(s.opts.Latency)
	}

	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" && ct != "application/x-ndjson" {
		writeError(w, http.StatusNotAcceptable, "illegal_argument_exception",
			fmt.Sprintf("Content-Type header [%s] is not supported", r.Header.Get("Content-Type")))
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, 400, "parse_exception", "request body: "+err.Error())
		return
	}
	if len(body) == 0 {
		writeError(w, 400, "parse_exception", "request body is required")
		return
	}
	if s.opts.MaxContentLength > 0 && len(body) > s.opts.MaxContentLength {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	if body[len(body)-1] != '\n' {
		writeError(w, 400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	if s.opts.Discard {
		if ok := s.discardBulk(w, body, start); ok {
			return
		}
	}
	items, perr := parseBulk(body, pathIndex, r.URL.Query().Get("pipeline"))
	if perr != nil {
		writeError(w, 400, perr.Type, perr.Reason)
		return
	}

	results := make([]itemResult, len(items))
	s.mu.Lock()
	hook := s.itemHook
	s.stats.MaxItems = max(s.stats.MaxItems, len(items))
	s.stats.MaxBody = max(s.stats.MaxBody, len(body))
	s.mu.Unlock()
	for i, it := range items {
		results[i] = s.process(it, hook)
	}
	writeBulkResponse(w, results, time.Since(start))
}

// parseBulk splits the NDJSON body into items as OpenSearch's BulkRequest
// parser does.
func parseBulk(body []byte, defIndex, defPipeline string) ([]bulkItem, *docError) {
	var items []bulkItem
	lines := bytes.Split(body[:len(body)-1], []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		var action map[string]map[string]any
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			return nil, &docError{Type: "illegal_argument_exception",
				Reason: fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT", i+1)}
		}
		for name, meta := range action {
			it := bulkItem{action: name, index: defIndex, pipeline: defPipeline}
			for k, v := range meta {
				str, _ := v.(string)
				switch k {
				case "_index":
					it.index = str
				case "_id":
					it.id = str
				case "pipeline":
					it.pipeline = str
				case "routing", "version", "version_type", "if_seq_no", "if_primary_term", "require_alias":
				default:
					return nil, &docError{Type: "illegal_argument_exception",
						Reason: fmt.Sprintf("Action/metadata line [%d] contains an unknown parameter [%s]", i+1, k)}
				}
			}
			switch name {
			case "index", "create":
				if i+1 >= len(lines) {
					return nil, &docError{Type: "illegal_argument_exception", Reason: "The bulk request must be terminated by a newline [\\n]"}
				}
				i++
				it.source = lines[i]
			case "delete":
			default:
				return nil, &docError{Type: "illegal_argument_exception",
					Reason: fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", i+1, name)}
			}
			if it.index == "" {
				return nil, &docError{Type: "action_request_validation_exception", Reason: "Validation Failed: 1: index is missing;"}
			}
			if it.id == "" && it.action != "delete" {
				it.id = autoID()
			}
			items = append(items, it)
		}
	}
	return items, nil
}

func autoID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) process(it bulkItem, hook func(Item) *ItemError) itemResult {
	res := itemResult{action: it.action, index: it.index, id: it.id}
	s.mu.Lock()
	s.stats.Items++
	key := it.index + "\x00" + it.id
	s.attempts[key]++
	attempt := s.attempts[key]
	s.mu.Unlock()

	if it.action == "delete" {
		s.mu.Lock()
		defer s.mu.Unlock()
		res.indexed = s.deleteLocked(it.index, it.id)
		return res
	}
	if hook != nil {
		if e := hook(Item{Action: it.action, Index: it.index, ID: it.id, Pipeline: it.pipeline, Source: it.source, Attempt: attempt}); e != nil {
			s.mu.Lock()
			s.stats.ItemErrors++
			s.mu.Unlock()
			res.status, res.err = e.Status, &docError{Status: e.Status, Type: e.Type, Reason: e.Reason}
			return res
		}
	}
	src := it.source
	if it.pipeline != "" && it.pipeline != "_none" {
		p, ok := s.opts.Pipelines[it.pipeline]
		if !ok {
			s.mu.Lock()
			s.stats.ItemErrors++
			s.mu.Unlock()
			res.status, res.err = 400, &docError{Status: 400, Type: "illegal_argument_exception",
				Reason: fmt.Sprintf("pipeline with id [%s] does not exist", it.pipeline)}
			return res
		}
		var m map[string]any
		if err := json.Unmarshal(src, &m); err != nil {
			res.status, res.err = 400, &docError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse"}
			return res
		}
		d := &IngestDoc{Index: it.index, ID: it.id, Source: m}
		if err := p(d); err != nil {
			s.mu.Lock()
			s.stats.ItemErrors++
			s.mu.Unlock()
			res.status, res.err = 400, &docError{Status: 400, Type: "illegal_argument_exception", Reason: err.Error()}
			return res
		}
		if d.Drop {
			s.mu.Lock()
			s.stats.Dropped++
			s.mu.Unlock()
			res.status, res.result = 200, "noop"
			return res
		}
		res.index = d.Index
		var err error
		if src, err = json.Marshal(d.Source); err != nil {
			res.status, res.err = 500, &docError{Status: 500, Type: "exception", Reason: "encoding the ingested document: " + err.Error()}
			return res
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, e := s.indexLocked(it.action, res.index, it.id, src)
	if e != nil {
		res.status, res.err = e.Status, e
		return res
	}
	res.indexed = ok
	return res
}

func writeBulkResponse(w http.ResponseWriter, results []itemResult, took time.Duration) {
	errorsSeen := false
	for _, r := range results {
		if r.err != nil {
			errorsSeen = true
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"took":`)
	b.WriteString(strconv.FormatInt(took.Milliseconds(), 10))
	b.WriteString(`,"errors":`)
	b.WriteString(strconv.FormatBool(errorsSeen))
	b.WriteString(`,"items":[`)
	for i, r := range results {
		if i > 0 {
			b.WriteByte(',')
		}
		if r.err == nil {
			writeOKItem(&b, r.action, r.index, r.id, r.indexed)
			continue
		}
		writeErrorItem(&b, r.action, r.index, r.id, r.err)
	}
	b.WriteString("]}")
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(200)
	_, _ = w.Write(b.Bytes())
}

// injectFailure answers a whole request with status as OpenSearch (or a
// proxy in front of it) would.
func injectFailure(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		writeError(w, status, "rejected_execution_exception",
			"rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1, max_coordinating_and_primary_bytes=1]")
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
	case http.StatusServiceUnavailable:
		writeError(w, status, "cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
	default:
		writeError(w, status, "exception", http.StatusText(status))
	}
}

// writeOKItem writes a successful item as OpenSearch does
// (BulkItemResponse.toXContent).
func writeOKItem(b *bytes.Buffer, action, index, id string, r indexed) {
	b.WriteString(`{"`)
	b.WriteString(action)
	b.WriteString(`":{"_index":`)
	writeString(b, index)
	b.WriteString(`,"_id":`)
	writeString(b, id)
	b.WriteString(`,"_version":`)
	b.WriteString(strconv.FormatInt(r.version, 10))
	b.WriteString(`,"result":"`)
	b.WriteString(r.result)
	b.WriteString(`","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":`)
	b.WriteString(strconv.FormatInt(r.seqNo, 10))
	b.WriteString(`,"_primary_term":1,"status":`)
	b.WriteString(strconv.Itoa(r.status))
	b.WriteString("}}")
}

// writeErrorItem writes a failed item as OpenSearch does: _index, _id,
// status, error.
func writeErrorItem(b *bytes.Buffer, action, index, id string, e *docError) {
	b.WriteString(`{"`)
	b.WriteString(action)
	b.WriteString(`":{"_index":`)
	writeString(b, index)
	b.WriteString(`,"_id":`)
	writeString(b, id)
	b.WriteString(`,"status":`)
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteString(`,"error":`)
	e.appendJSON(b)
	b.WriteString("}}")
}

func writeString(b *bytes.Buffer, s string) {
	b.Write(ojson.AppendQuoted(nil, s))
}

// discardBulk is the Discard mode's fast path for bodies made only of
// create actions with an _index and an _id: it records the ids and answers
// without decoding the documents. It returns false (having done nothing)
// for any other body, which then takes the normal path.
func (s *Server) discardBulk(w http.ResponseWriter, body []byte, start time.Time) bool {
	s.mu.Lock()
	hooked := s.itemHook != nil
	s.mu.Unlock()
	if hooked {
		return false
	}
	type act struct{ index, id string }
	var acts []act
	for rest := body; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := rest[:i]
		rest = rest[i+1:]
		j := bytes.IndexByte(rest, '\n')
		if j < 0 || !bytes.HasPrefix(line, []byte(`{"create":{"_index":"`)) {
			return false
		}
		rest = rest[j+1:]
		line = line[len(`{"create":{"_index":"`):]
		k := bytes.IndexByte(line, '"')
		if k < 0 || !bytes.HasPrefix(line[k:], []byte(`","_id":"`)) {
			return false
		}
		index := string(line[:k])
		line = line[k+len(`","_id":"`):]
		k = bytes.IndexByte(line, '"')
		if k < 0 || string(line[k:]) != `"}}` {
			return false
		}
		acts = append(acts, act{index, string(line[:k])})
	}
	var b bytes.Buffer
	errorsSeen := false
	s.mu.Lock()
	s.stats.MaxItems = max(s.stats.MaxItems, len(acts))
	s.stats.MaxBody = max(s.stats.MaxBody, len(body))
	b.WriteString(`,"items":[`)
	for n, a := range acts {
		if n > 0 {
			b.WriteByte(',')
		}
		s.stats.Items++
		ok, e := s.indexLocked("create", a.index, a.id, nil)
		if e != nil {
			errorsSeen = true
			writeErrorItem(&b, "create", a.index, a.id, e)
			continue
		}
		writeOKItem(&b, "create", a.index, a.id, ok)
	}
	s.mu.Unlock()
	b.WriteString("]}")
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(200)
	fmt.Fprintf(w, `{"took":%d,"errors":%t`, time.Since(start).Milliseconds(), errorsSeen)
	_, _ = w.Write(b.Bytes())
	return true
}
