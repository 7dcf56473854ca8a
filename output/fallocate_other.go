//go:build !linux

package output

import (
	"os"
	"syscall"
)

// fallocateKeepSize reports that space cannot be reserved ahead on this
// system: the file sink then writes directly and cuts a short write back
// (FileSink.reserve).
func fallocateKeepSize(*os.File, int64, int64) error { return syscall.ENOSYS }
