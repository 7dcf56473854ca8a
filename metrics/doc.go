// Package metrics counts what the daemon does and serves it over HTTP: a
// Prometheus /metrics endpoint (objects, bytes, records and alerts processed,
// errors by kind, SQS messages in flight, the age of the oldest object being
// processed, the lag behind the newest object, the indexer queue) plus
// /healthz and /readyz.
//
// A Metrics value owns its own prometheus.Registry (no global registry), so
// tests and several daemons in one process do not share counters. The
// endpoint listens on a loopback address unless a non-loopback one is asked
// for explicitly (ServeOptions.AllowNonLoopback, or allow_non_loopback in
// Config).
package metrics
