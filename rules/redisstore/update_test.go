package redisstore

// Every test binary accepts -update, so that go test ./... -update rewrites
// the golden files of every package in one run.
import _ "github.com/vpcalertd/vpcalertd/internal/golden"
