package s3test

import (
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// The server, its port and its storage go when the test binary that
// started it is killed with SIGKILL, as when go test's -timeout or CI's
// time limit ends it.
func TestServerDiesWithTestBinary(t *testing.T) {
	testproc.DiesWithTestBinary(t, func(t *testing.T) testproc.Leftovers {
		bin := Binary()
		if bin == "" {
			if os.Getenv("CI") == "true" {
				t.Fatal(InstallHint)
			}
			t.Skip(InstallHint)
		}
		s, err := Start(bin, "")
		require.NoError(t, err)
		u, err := url.Parse(s.Endpoint)
		require.NoError(t, err)
		require.DirExists(t, s.Dir)
		return testproc.Leftovers{Pids: s.Pids(), Addrs: []string{u.Host}, Paths: []string{s.Dir}}
	})
}
