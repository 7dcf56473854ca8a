package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Test credentials of the server's root user. They are not secrets: the
// server listens on 127.0.0.1 only and lives for one test binary.
const (
	AccessKey = "vpcalertd-test"
	SecretKey = "vpcalertd-test-secret"
	Region    = "us-east-1"
)

// InstallHint says how to get the server binary.
const InstallHint = "versitygw not found: run `bash .ci/s3.sh` (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0) or set VERSITYGW to its path"

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Dir is the directory the posix backend stores buckets in.
	Dir string

	cmd  *exec.Cmd
	done chan error
	log  *bytes.Buffer
}

// Binary returns the path of the versitygw binary: $VERSITYGW, then PATH,
// then $(go env GOPATH)/bin. It returns "" when there is none.
func Binary() string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = string(bytes.TrimSpace(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// Start starts versitygw on a free port of 127.0.0.1 with a fresh storage
// directory under dir and waits until it accepts connections.
func Start(bin, dir string) (*Server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(bin, dir, attempt)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func start(bin, dir string, attempt int) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "s3-"+strconv.Itoa(attempt))
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	s := &Server{Endpoint: "http://" + addr, Dir: root, cmd: cmd, done: make(chan error, 1), log: new(bytes.Buffer)}
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("versitygw exited early (%v): %s", err, s.log.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("versitygw did not listen on %s within 20s", addr)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop kills the server and waits for it.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Config returns an AWS config with the server's static test credentials.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	}
}

// Client returns an S3 client for the server, path-style.
func (s *Server) Client() *awss3.Client {
	return awss3.NewFromConfig(s.Config(), func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
	})
}

// CreateBucket creates a bucket and fails the test on error.
func (s *Server) CreateBucket(tb testing.TB, name string) {
	tb.Helper()
	_, err := s.Client().CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}

// EnsureBucket creates a bucket unless this server already has it.
func (s *Server) EnsureBucket(tb testing.TB, name string) {
	tb.Helper()
	_, err := s.Client().CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}

// Delete removes bucket/key and fails the test on error.
func (s *Server) Delete(tb testing.TB, bucket, key string) {
	tb.Helper()
	_, err := s.Client().DeleteObject(context.Background(), &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		tb.Fatalf("delete s3://%s/%s: %v", bucket, key, err)
	}
}

// NewBucket creates a bucket named prefix plus a number unique in this
// test binary, so that repeated runs (-count) start from an empty bucket.
func (s *Server) NewBucket(tb testing.TB, prefix string) string {
	tb.Helper()
	name := fmt.Sprintf("%s-%d", prefix, bucketSeq.Add(1))
	s.CreateBucket(tb, name)
	return name
}

var bucketSeq atomic.Int64

// Put uploads body as bucket/key and returns its ETag.
func (s *Server) Put(tb testing.TB, bucket, key string, body []byte) string {
	tb.Helper()
	out, err := s.Client().PutObject(context.Background(), &awss3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		tb.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// Get downloads bucket/key; missing objects give an error.
func (s *Server) Get(bucket, key string) ([]byte, error) {
	out, err := s.Client().GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

var (
	shared    *Server
	sharedErr error
)

// Main runs a test binary's tests with a shared server, for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
// Without the versitygw binary, tests that call Need fail when the CI
// environment variable is "true" and are skipped otherwise, with a message
// saying how to install it.
func Main(m *testing.M) int {
	bin := Binary()
	if bin == "" {
		sharedErr = errors.New(InstallHint)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "vpcalertd-s3test-")
	if err != nil {
		sharedErr = err
		return m.Run()
	}
	defer os.RemoveAll(dir)
	shared, sharedErr = Start(bin, dir)
	defer shared.Stop()
	return m.Run()
}

// Need returns the shared server started by Main. When there is none it
// fails the test under CI=true and skips it otherwise.
func Need(tb testing.TB) *Server {
	tb.Helper()
	if shared != nil {
		return shared
	}
	err := sharedErr
	if err == nil {
		err = errors.New("s3test.Main was not called from TestMain")
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("S3 test server: %v", err)
	}
	tb.Skipf("S3 test server: %v", err)
	return nil
}
