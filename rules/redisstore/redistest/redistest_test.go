package redistest

import (
	"net"
	"testing"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// TestServerDiesWithTestBinary: a redis-server started by Start ends, and
// its folder goes, when the test binary is killed.
func TestServerDiesWithTestBinary(t *testing.T) {
	testproc.DiesWithTestBinary(t, func(t *testing.T) testproc.Leftovers {
		s := Start(t)
		if err := s.Client.Set(t.Context(), "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		return testproc.Leftovers{Pids: []int{s.Pid()}, Addrs: []string{s.Addr}, Paths: []string{s.dir}}
	})
}

func TestRestartKeepsTheAddress(t *testing.T) {
	s := Start(t)
	s.Stop()
	if c, err := net.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Fatalf("%s still answers after Stop", s.Addr)
	}
	s.Restart(t)
	if err := s.Client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
