package indexer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Errors callers can test with errors.Is.
var (
	// ErrUnauthorized: the indexer refused the credentials (401) or the
	// user's permissions (403).
	ErrUnauthorized = errors.New("indexer refused the credentials")
	// ErrQueueFull: Write waited queue.full_timeout for room in a full
	// queue. The alert was not queued.
	ErrQueueFull = errors.New("indexer queue is full")
	// ErrClosed: the sink is closed.
	ErrClosed = errors.New("indexer sink is closed")
	// ErrRejected: the indexer rejected documents for good and there is no
	// dead-letter file to keep them.
	ErrRejected = errors.New("indexer rejected documents")
	// ErrQueueLocked: another sink holds the queue directory.
	ErrQueueLocked = errors.New("queue directory is locked")
)

// secret holds a credential; it never prints.
type secret string

func (secret) String() string   { return "[redacted]" }
func (secret) GoString() string { return "[redacted]" }

// client sends requests to the indexer nodes in turn.
type client struct {
	urls     []*url.URL
	next     atomic.Uint32
	hc       *http.Client
	auth     secret // Authorization header value, or ""
	authDesc string // how the credentials were given, for messages
	compress bool
	gzPool   sync.Pool
}

// readSecret reads a credential from an environment variable or a file.
func readSecret(key, env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is not set", key, env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", key, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s_file: %s is empty", key, file)
	}
	return v, nil
}

func newClient(cfg *Config) (*client, []string, error) {
	var warnings []string
	c := &client{compress: cfg.Compress}
	for _, raw := range cfg.urls() {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			return nil, nil, err
		}
		c.urls = append(c.urls, u)
		if u.Scheme == "http" && (cfg.Auth.Username != "" || cfg.Auth.APIKeyEnv != "" || cfg.Auth.APIKeyFile != "") {
			warnings = append(warnings, fmt.Sprintf("%s uses plain HTTP: credentials and alerts travel unencrypted", u.Redacted()))
		}
	}
	a := cfg.Auth
	switch {
	case a.Username != "":
		pw, err := readSecret("auth.password", a.PasswordEnv, a.PasswordFile)
		if err != nil {
			return nil, nil, err
		}
		c.auth = secret("Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+pw)))
		src := "auth.password_env " + a.PasswordEnv
		if a.PasswordFile != "" {
			src = "auth.password_file " + a.PasswordFile
		}
		c.authDesc = fmt.Sprintf("user %q, password from %s", a.Username, src)
	case a.APIKeyEnv != "" || a.APIKeyFile != "":
		key, err := readSecret("auth.api_key", a.APIKeyEnv, a.APIKeyFile)
		if err != nil {
			return nil, nil, err
		}
		c.auth = secret("ApiKey " + key)
		c.authDesc = "API key from auth.api_key_env " + a.APIKeyEnv
		if a.APIKeyFile != "" {
			c.authDesc = "API key from auth.api_key_file " + a.APIKeyFile
		}
	default:
		c.authDesc = "no credentials (auth is not configured)"
	}
	for _, f := range []string{a.PasswordFile, a.APIKeyFile, cfg.TLS.KeyFile} {
		if f == "" {
			continue
		}
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm()&0o077 != 0 {
			warnings = append(warnings, fmt.Sprintf("%s is readable by other users (mode %v)", f, fi.Mode().Perm()))
		}
	}
	tlsConf, err := buildTLS(&cfg.TLS)
	if err != nil {
		return nil, nil, err
	}
	if cfg.TLS.InsecureSkipVerify {
		warnings = append(warnings, "tls.insecure_skip_verify is set: the indexer's certificate is NOT verified, anyone on the path can read and change alerts and credentials")
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConnsPerHost:   cfg.Batch.Workers + 1,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     false,
	}
	c.hc = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	return c, warnings, nil
}

func buildTLS(t *TLSConfig) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // the user's explicit choice, warned about
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificate found", t.CAFile)
		}
		conf.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file %s, tls.key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
}

// pick returns the node to use and the index to pass to failed.
func (c *client) pick() (*url.URL, uint32) {
	i := c.next.Load()
	return c.urls[int(i)%len(c.urls)], i
}

// failed moves to the next node after a network error or a 5xx.
func (c *client) failed(i uint32) { c.next.CompareAndSwap(i, i+1) }

// httpError is an unexpected HTTP status.
type httpError struct {
	url        string
	status     int
	body       string
	retryAfter time.Duration
	authDesc   string
}

func (e *httpError) Error() string {
	msg := fmt.Sprintf("%s: %d %s", e.url, e.status, http.StatusText(e.status))
	switch e.status {
	case http.StatusUnauthorized:
		msg += fmt.Sprintf(": the indexer rejected the credentials (%s)", e.authDesc)
	case http.StatusForbidden:
		msg += fmt.Sprintf(": the user lacks a permission (%s)", e.authDesc)
	}
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

func (e *httpError) Unwrap() error {
	if e.status == http.StatusUnauthorized || e.status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return nil
}

// bulkItemResult is one entry of a `_bulk` response's items.
type bulkItemResult struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Status int             `json:"status"`
	Result string          `json:"result"`
	Error  json.RawMessage `json:"error"`
}

type bulkResponse struct {
	Errors bool                        `json:"errors"`
	Items  []map[string]bulkItemResult `json:"-"`
}

// do sends one request; the body may be compressed.
func (c *client) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, string, error) {
	base, i := c.pick()
	u := base.String() + path
	var rd io.Reader
	gz := false
	if body != nil {
		if c.compress {
			var buf bytes.Buffer
			zw, _ := c.gzPool.Get().(*gzip.Writer)
			if zw == nil {
				zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
			} else {
				zw.Reset(&buf)
			}
			_, _ = zw.Write(body)
			_ = zw.Close()
			c.gzPool.Put(zw)
			rd, gz = &buf, true
		} else {
			rd = bytes.NewReader(body)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, u, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-ndjson")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "vpcalertd")
	if c.auth != "" {
		req.Header.Set("Authorization", string(c.auth))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.failed(i)
		return nil, nil, base.Redacted(), explainNetError(base.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 512<<20))
	if err != nil {
		c.failed(i)
		return nil, nil, base.Redacted(), fmt.Errorf("%s: reading the response: %w", base.Redacted(), err)
	}
	if resp.StatusCode >= 500 {
		c.failed(i)
	}
	return resp, data, base.Redacted(), nil
}

// explainNetError adds what to do to TLS verification failures.
func explainNetError(u string, err error) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inval x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("%s: %w (set tls.ca_file to the CA that signed the indexer's certificate, e.g. Wazuh's root-ca.pem)", u, err)
	case errors.As(err, &host):
		return fmt.Errorf("%s: %w (connect by a name the certificate holds, or set tls.server_name)", u, err)
	case errors.As(err, &inval):
		return fmt.Errorf("%s: %w", u, err)
	}
	return fmt.Errorf("%s: %w", u, err)
}

// bulk posts one `_bulk` body. A non-nil error is an HTTP or network
// failure; the response is parsed only when it is 200, and its items only
// when some failed or itemsWanted (to count documents a pipeline dropped).
func (c *client) bulk(ctx context.Context, body []byte, itemsWanted bool) (*bulkResponse, error) {
	resp, data, u, err := c.do(ctx, http.MethodPost, "/_bulk", body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(u, resp, data)
	}
	if !itemsWanted && noErrors(data) {
		return &bulkResponse{}, nil
	}
	var head struct {
		Errors bool            `json:"errors"`
		Items  json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: bad _bulk response: %w", u, err)
	}
	br := &bulkResponse{Errors: head.Errors}
	if head.Errors || itemsWanted {
		if err := json.Unmarshal(head.Items, &br.Items); err != nil {
			return nil, fmt.Errorf("%s: bad _bulk response items: %w", u, err)
		}
	}
	return br, nil
}

// noErrors reports whether a `_bulk` response says "errors":false before
// its items (OpenSearch writes took, errors, then items), so the common
// answer needs no parsing.
func noErrors(data []byte) bool {
	i := bytes.Index(data, []byte(`"items"`))
	if i < 0 {
		return false
	}
	head := data[:i]
	return bytes.HasPrefix(bytes.TrimSpace(head), []byte("{")) && bytes.Contains(head, []byte(`"errors":false`))
}

func (c *client) statusError(u string, resp *http.Response, data []byte) *httpError {
	e := &httpError{url: u, status: resp.StatusCode, body: summarizeBody(data), authDesc: c.authDesc}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			e.retryAfter = time.Duration(secs) * time.Second
		}
	}
	return e
}

// summarizeBody turns an error body into one short line: the error type
// and reason of an OpenSearch error, else the start of the text.
func summarizeBody(data []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && len(e.Error) > 0 {
		if r := errorReason(e.Error); r != "" {
			return r
		}
	}
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// errorReason formats an OpenSearch error object as "type: reason (caused
// by type: reason)".
func errorReason(raw json.RawMessage) string {
	var e struct {
		Type     string          `json:"type"`
		Reason   string          `json:"reason"`
		CausedBy json.RawMessage `json:"caused_by"`
	}
	if json.Unmarshal(raw, &e) != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	out := e.Type
	if e.Reason != "" {
		out += ": " + e.Reason
	}
	if len(e.CausedBy) > 0 {
		if c := errorReason(e.CausedBy); c != "" {
			out += " (caused by " + c + ")"
		}
	}
	return out
}

// check asks the first reachable node for its banner (GET /) and, when
// pipeline is set, whether the pipeline exists.
func (c *client) check(ctx context.Context, pipeline string) error {
	resp, data, u, err := c.do(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return c.statusError(u, resp, data)
	}
	if pipeline == "" {
		return nil
	}
	resp, data, u, err = c.do(ctx, http.MethodGet, "/_ingest/pipeline/"+url.PathEscape(pipeline), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s: pipeline %q does not exist", u, pipeline)
	}
	if resp.StatusCode != http.StatusOK {
		return c.statusError(u, resp, data)
	}
	return nil
}

func (c *client) close() { c.hc.CloseIdleConnections() }
