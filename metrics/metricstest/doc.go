// Package metricstest scrapes a running /metrics endpoint in tests and gives
// the samples by name and labels, so a test can compare counts with what it
// saw happen.
package metricstest
