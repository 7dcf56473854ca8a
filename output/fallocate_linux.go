package output

import (
	"os"
	"syscall"
)

// fallocateKeepSize allocates n bytes of f from off without changing its
// size (FALLOC_FL_KEEP_SIZE).
func fallocateKeepSize(f *os.File, off, n int64) error {
	return syscall.Fallocate(int(f.Fd()), 1 /* FALLOC_FL_KEEP_SIZE */, off, n)
}
