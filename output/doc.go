// Package output holds the alert sinks of the daemon and the CLI: the
// alerts file in Wazuh's alerts.json format (append-only, fsync policy,
// rotation by size or day that never loses or repeats a line, and crash
// recovery to the last committed offset), a stream sink for stdout, a tee,
// and the IDSource that keeps alert ids "<epoch>.<offset>" unique across
// restarts. The indexer sink lives in output/indexer.
package output
