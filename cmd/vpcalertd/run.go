package main

import (
	"context"
	"io"

	"github.com/vpcalertd/vpcalertd/daemon"
)

// runDaemon is `vpcalertd run --config FILE`: the long-running collector
// (docs/daemon.md).
func runDaemon(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	return daemon.Main(ctx, args, stdout, stderr)
}
