// Package golden compares test output with golden files and rewrites them
// under the -update flag. Every test binary of the module imports it (a
// package's update_test.go), so that `go test ./... -update` is accepted
// everywhere and rewrites every golden file in one run.
package golden
