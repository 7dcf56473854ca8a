package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// Server is a running redis-server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Client is a client of the server, for checks.
	Client *redis.Client

	path, dir, port string
	mu              sync.Mutex
	proc            *testproc.Process
	log             bytes.Buffer
}

// Start starts a server for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server: %v", err)
		}
		t.Skipf("redis-server: %v (run .ci/redis.sh)", err)
	}
	dir, err := testproc.TempDir("vpcalertd-redistest")
	if err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{path: path, dir: dir, port: port, Addr: net.JoinHostPort("127.0.0.1", port)}
	if err := s.start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	s.Client = redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	t.Cleanup(func() {
		s.Client.Close()
		s.Stop()
		os.RemoveAll(dir)
	})
	return s
}

// freePort returns a port the kernel had free on 127.0.0.1.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// start runs the server on s.port and waits until it answers.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log.Reset()
	// The watchdog removes the folder when the server ends: a restart
	// makes it again.
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	p, err := testproc.Start(testproc.Cmd{
		Path: s.path,
		Args: []string{"--port", s.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", s.dir, "--protected-mode", "yes", "--loglevel", "warning"},
		Stdout: &s.log, Stderr: &s.log,
		Remove: []string{s.dir},
	})
	if err != nil {
		return err
	}
	s.proc = p
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", s.port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("ended before answering: %v: %s", p.Err(), s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer on %s after 30 s: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server (its data is lost: it keeps none on disk).
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// Restart starts a stopped server again, empty, on the same port.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("redis-server restart: %v", err)
	}
}

// Pid returns the server's process id, 0 when stopped.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}
