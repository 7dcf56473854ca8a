package filelock

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLockNamesHolder: flock locks belong to open files, so a second open
// of the same file in this process is refused like another process would
// be, and /proc/locks names the holder.
func TestLockNamesHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "alerts.json")
	a, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, Lock(a))

	b, err := os.OpenFile(p, os.O_RDWR, 0o600)
	require.NoError(t, err)
	defer b.Close()
	err = Lock(b)
	require.ErrorIs(t, err, ErrLocked)
	if _, serr := os.Stat("/proc/locks"); serr == nil {
		assert.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))
		assert.Equal(t, "pid "+strconv.Itoa(os.Getpid())+" (this process)", Holder(p))
	}

	require.NoError(t, a.Close())
	require.NoError(t, Lock(b), "the lock is released with the file that held it")
}

func TestHolderOfUnlockedFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "free")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	assert.Empty(t, Holder(p))
	assert.Empty(t, Holder(filepath.Join(t.TempDir(), "missing")))
}

func TestDescribeOtherProcess(t *testing.T) {
	d := describe(os.Getpid())
	assert.True(t, strings.HasPrefix(d, "pid "+strconv.Itoa(os.Getpid())+" ("), d)
	assert.Contains(t, d, "filelock.test")
}
