package main

import (
	"context"
	"fmt"
	"io"
)

func runDaemon(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	_ = ctx
	_ = args
	_ = stdout
	fmt.Fprintln(stderr, "vpcalertd run: the daemon is not wired in yet")
	return 1
}
