package reporttest

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// The browser and every process it started go when the test binary that
// started it is killed with SIGKILL (chromedp gives the browser a
// parent-death signal; its helpers end with it), and the next run removes
// the profile folder the killed one left.
func TestBrowserDiesWithTestBinary(t *testing.T) {
	left := testproc.DiesWithTestBinary(t, func(t *testing.T) testproc.Leftovers {
		p := NewPage(t)
		pids := testproc.Descendants(os.Getpid())
		if len(pids) == 0 {
			t.Fatal("no browser process under the test binary")
		}
		return testproc.Leftovers{Pids: pids, Later: []string{p.dataDir}}
	})
	require.Len(t, left.Later, 1)
	assert.DirExists(t, left.Later[0], "the killed run could not remove its profile")
	next, err := testproc.TempDir(profilePrefix)
	require.NoError(t, err)
	require.NoError(t, os.Remove(next))
	assert.NoDirExists(t, left.Later[0], "the next run removes it")
}
