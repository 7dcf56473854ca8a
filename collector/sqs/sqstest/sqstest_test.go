package sqstest

import (
	"io"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// The server and its port go when the test binary that started it is
// killed with SIGKILL.
func TestServerDiesWithTestBinary(t *testing.T) {
	testproc.DiesWithTestBinary(t, func(t *testing.T) testproc.Leftovers {
		node, pkg, err := find()
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("local SQS server: %v", err)
			}
			t.Skipf("local SQS server: %v (run .ci/sqs.sh)", err)
		}
		s, err := start(node, pkg, io.Discard)
		require.NoError(t, err)
		u, err := url.Parse(s.Endpoint)
		require.NoError(t, err)
		return testproc.Leftovers{Pids: s.Pids(), Addrs: []string{u.Host}}
	})
}
