package indexertest

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Templates are legacy index templates (JSON, e.g. Wazuh's
	// wazuh-template.json); an index gets the mappings of those whose
	// index_patterns match its name when its first document arrives.
	Templates [][]byte
	// Pipelines are the ingest pipelines by id.
	Pipelines map[string]Pipeline
	// Username and Password, when set, require HTTP basic authentication.
	Username, Password string
	// APIKey, when set, accepts "Authorization: ApiKey <APIKey>".
	APIKey string
	// TLS serves HTTPS with a certificate for 127.0.0.1 and localhost signed
	// by a CA made for this server (Server.CA).
	TLS bool
	// ClientAuth, with TLS, requires a client certificate signed by the CA
	// (see Server.ClientCert).
	ClientAuth bool
	// MaxContentLength, when positive, answers 413 to larger request bodies
	// (OpenSearch's http.max_content_length, 100mb by default).
	MaxContentLength int
	// Discard accepts every well-formed item without checking or storing its
	// document (only its id, so duplicates are still conflicts). For
	// benchmarks.
	Discard bool
	// Latency, when positive, delays every `_bulk` answer by this long, as
	// a busy indexer's service time does: the rate a client reaches is
	// then bounded by its batches and requests in flight, not by the CPU
	// the test shares with the server.
	Latency time.Duration
}

// Stats counts what the server saw.
type Stats struct {
	Requests       int // _bulk requests answered, whatever the status
	InjectedErrors int // requests answered with a status from FailNext
	AuthFailures   int // requests refused with 401
	Items          int // bulk items received
	Created        int // documents stored
	Updated        int // documents replaced (index of an _id that exists)
	Conflicts      int // create of an _id that exists: 409
	ItemErrors     int // other per-item errors (mapping, injected, pipeline)
	Dropped        int // documents dropped by a pipeline
	MaxItems       int // most items in one request
	MaxBody        int // largest request body (uncompressed), bytes
}

// Item is a bulk item as seen by an item hook.
type Item struct {
	Action, Index, ID, Pipeline string
	Source                      []byte
	// Attempt counts how many times this index and _id have been received,
	// from 1.
	Attempt int
}

// ItemError is a per-item failure to report.
type ItemError struct {
	Status       int
	Type, Reason string
}

// Server is an OpenSearch `_bulk` endpoint on 127.0.0.1.
type Server struct {
	// URL is the base URL, e.g. https://127.0.0.1:41234.
	URL string
	// CA signed the server's certificate (nil without TLS).
	CA *CA

	opts      Options
	templates []*Template
	tlsConf   *tls.Config
	addr      string

	mu       sync.Mutex // guards everything below
	hs       *http.Server
	indices  map[string]*index
	attempts map[string]int
	failNext []int
	itemHook func(Item) *ItemError
	stats    Stats
}

type index struct {
	m    *mapping
	docs map[string][]byte
	// versions are the documents' _version, kept after a delete as
	// OpenSearch's tombstones keep it.
	versions map[string]int64
	seqNo    int64 // the shard's next _seq_no
	uuid     string
}

// indexed is a successful write.
type indexed struct {
	status         int
	result         string
	version, seqNo int64
}

// NewServer starts a server on 127.0.0.1 with a free port.
func NewServer(opts Options) (*Server, error) {
	s := &Server{opts: opts, indices: map[string]*index{}, attempts: map[string]int{}}
	for i, raw := range opts.Templates {
		t, err := ParseTemplate(raw)
		if err != nil {
			return nil, fmt.Errorf("template %d: %w", i, err)
		}
		s.templates = append(s.templates, t)
	}
	scheme := "http"
	if opts.TLS {
		ca, err := NewCA("indexertest CA")
		if err != nil {
			return nil, err
		}
		leaf, err := ca.Issue("indexertest", true, "127.0.0.1", "localhost")
		if err != nil {
			return nil, err
		}
		cert, err := leaf.TLSCertificate()
		if err != nil {
			return nil, err
		}
		s.CA = ca
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if opts.ClientAuth {
			s.tlsConf.ClientAuth = tls.RequireAndVerifyClientCert
			s.tlsConf.ClientCAs = ca.Pool()
		}
		scheme = "https"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	s.URL = scheme + "://" + s.addr
	s.serve(ln)
	return s, nil
}

func (s *Server) serve(ln net.Listener) {
	if s.tlsConf != nil {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	hs := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	s.mu.Lock()
	s.hs = hs
	s.mu.Unlock()
	go func() { _ = hs.Serve(ln) }()
}

// Close stops the server.
func (s *Server) Close() {
	s.Down()
}

// Down stops listening and cuts every open connection: clients see
// connection refused (or reset) until Up.
func (s *Server) Down() {
	s.mu.Lock()
	hs := s.hs
	s.hs = nil
	s.mu.Unlock()
	if hs != nil {
		_ = hs.Close()
	}
}

// Up listens again on the same address after Down.
func (s *Server) Up() error {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Close
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("indexertest: listen again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// ClientCert issues a client certificate signed by the server's CA.
func (s *Server) ClientCert(cn string) (Issued, error) {
	if s.CA == nil {
		return Issued{}, errors.New("indexertest: server has no TLS")
	}
	return s.CA.Issue(cn, false)
}

// FailNext makes the next len(statuses) `_bulk` requests fail with these
// HTTP statuses, in order (429, 500, 502, 503, ...), before reading them.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	s.failNext = append(s.failNext, statuses...)
	s.mu.Unlock()
}

// SetItemHook installs fn, called for every create/index item before it is
// indexed; a non-nil result is reported as that item's error.
func (s *Server) SetItemHook(fn func(Item) *ItemError) {
	s.mu.Lock()
	s.itemHook = fn
	s.mu.Unlock()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Count returns the number of documents stored in all indices.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ix := range s.indices {
		n += len(ix.docs)
	}
	return n
}

// Indices lists the index names.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name := range s.indices {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Doc returns the stored document (nil in Discard mode).
func (s *Server) Doc(index, id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, ok := s.indices[index]
	if !ok {
		return nil, false
	}
	d, ok := ix.docs[id]
	return d, ok
}

// Docs returns every document of index by _id.
func (s *Server) Docs(index string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	if ix, ok := s.indices[index]; ok {
		for id, d := range ix.docs {
			out[id] = d
		}
	}
	return out
}

// FieldType returns the mapped type of a dotted field path in index, or "".
func (s *Server) FieldType(index, path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, ok := s.indices[index]
	if !ok || ix.m == nil {
		return ""
	}
	return ix.m.fieldType(path)
}

// IndexDoc indexes one document directly, without HTTP, as a bulk create
// would (mapping check and dynamic mapping included); the error says why
// OpenSearch would reject it.
func (s *Server) IndexDoc(index, id string, doc []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, e := s.indexLocked("create", index, id, doc); e != nil {
		return e
	}
	return nil
}

// indexOf returns the index, created with the templates' mapping when it
// does not exist yet.
func (s *Server) indexOf(name string) (*index, *docError) {
	ix, ok := s.indices[name]
	if ok {
		return ix, nil
	}
	ix = &index{docs: map[string][]byte{}, versions: map[string]int64{}, uuid: indexUUID()}
	if !s.opts.Discard {
		m, err := newMapping(s.templates, name)
		if err != nil {
			return nil, &docError{Status: 500, Type: "exception", Reason: err.Error()}
		}
		ix.m = m
	}
	s.indices[name] = ix
	return ix, nil
}

// indexUUID returns a random index UUID in OpenSearch's form (22
// characters of URL-safe base64).
func indexUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// indexLocked writes one document as OpenSearch's primary shard does: the
// document is parsed and checked against the mapping first (dynamic
// fields are added even when the write then fails), then `create` of an
// existing _id is a version conflict (409) and `index` replaces the
// document (200 "updated", the next _version).
func (s *Server) indexLocked(action, name, id string, doc []byte) (indexed, *docError) {
	ix, e := s.indexOf(name)
	if e != nil {
		return indexed{}, e
	}
	if !s.opts.Discard {
		v, err := decodeStrict(doc)
		if err != nil {
			s.stats.ItemErrors++
			return indexed{}, &docError{Status: 400, Type: "mapper_parsing_exception", Reason: "failed to parse",
				CausedBy: &docError{Type: "json_parse_exception", Reason: err.Error()}}
		}
		if e := ix.m.index(id, v); e != nil {
			s.stats.ItemErrors++
			return indexed{}, e
		}
	}
	_, exists := ix.docs[id]
	if exists && action == "create" {
		s.stats.Conflicts++
		return indexed{}, &docError{Status: 409, Type: "version_conflict_engine_exception",
			Reason: fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, ix.versions[id]),
			Shard:  &shardID{index: name, uuid: ix.uuid}}
	}
	if s.opts.Discard {
		ix.docs[id] = nil
	} else {
		ix.docs[id] = append([]byte(nil), doc...)
	}
	ix.versions[id]++
	r := indexed{status: 201, result: "created", version: ix.versions[id], seqNo: ix.seqNo}
	ix.seqNo++
	if exists {
		r.status, r.result = 200, "updated"
		s.stats.Updated++
	} else {
		s.stats.Created++
	}
	return r, nil
}

// deleteLocked deletes one document: 200 "deleted", or 404 "not_found".
func (s *Server) deleteLocked(name, id string) indexed {
	r := indexed{status: 404, result: "not_found", version: 1}
	ix, ok := s.indices[name]
	if !ok {
		return r
	}
	r.seqNo = ix.seqNo
	ix.seqNo++
	if _, ok := ix.docs[id]; ok {
		delete(ix.docs, id)
		r.status, r.result = 200, "deleted"
	}
	ix.versions[id]++
	r.version = ix.versions[id]
	return r
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.mu.Lock()
		s.stats.AuthFailures++
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "Unauthorized")
		return
	}
	p := strings.Trim(r.URL.Path, "/")
	switch {
	case p == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, 200, map[string]any{
			"name": "indexertest", "cluster_name": "wazuh-cluster",
			"version": map[string]any{"distribution": "opensearch", "number": "2.19.1"},
			"tagline": "The OpenSearch Project: https://opensearch.org/",
		})
	case strings.HasPrefix(p, "_ingest/pipeline/") && r.Method == http.MethodGet:
		id := strings.TrimPrefix(p, "_ingest/pipeline/")
		if _, ok := s.opts.Pipelines[id]; ok {
			writeJSON(w, 200, map[string]any{id: map[string]any{"description": "indexertest"}})
		} else {
			writeJSON(w, 404, map[string]any{})
		}
	case (p == "_bulk" || strings.HasSuffix(p, "/_bulk")) && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.bulk(w, r, strings.TrimSuffix(strings.TrimSuffix(p, "_bulk"), "/"))
	default:
		writeError(w, 405, "illegal_argument_exception", fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s]", r.URL.Path, r.Method))
	}
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Username == "" && s.opts.APIKey == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	if s.opts.APIKey != "" {
		if k, ok := strings.CutPrefix(h, "ApiKey "); ok && subtle.ConstantTimeCompare([]byte(k), []byte(s.opts.APIKey)) == 1 {
			return true
		}
	}
	if s.opts.Username != "" {
		if enc, ok := strings.CutPrefix(h, "Basic "); ok {
			want := base64.StdEncoding.EncodeToString([]byte(s.opts.Username + ":" + s.opts.Password))
			return subtle.ConstantTimeCompare([]byte(enc), []byte(want)) == 1
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes OpenSearch's error body.
func writeError(w http.ResponseWriter, status int, typ, reason string) {
	e := map[string]any{"type": typ, "reason": reason}
	writeJSON(w, status, map[string]any{"error": map[string]any{"root_cause": []any{e}, "type": typ, "reason": reason}, "status": status})
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		rd = zr
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}
