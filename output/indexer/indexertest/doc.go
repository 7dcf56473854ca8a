// Package indexertest runs an HTTP server on 127.0.0.1 that speaks the part
// of the OpenSearch (Wazuh indexer) REST API an alert shipper uses, as
// OpenSearch does it: `_bulk` with NDJSON parsing, per-item results and
// `errors: true`, version conflicts for `create`, index templates with
// their field mappings, dynamic mapping (with the clashes it causes between
// documents), a type check of every field against the mapping, ingest
// pipelines, basic and API-key authentication, TLS with a CA generated at
// run time, and on-demand faults: 429 and 5xx responses, per-item errors and
// outages. It is for tests; nothing in it is tuned for speed except the
// Discard mode used by benchmarks.
package indexertest
