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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
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

	proc *testproc.Process
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
// directory and waits until it accepts connections. The storage directory
// is under dir, or when dir is "" a folder of its own in the system's
// temporary directory; it is removed when the server ends. The server ends
// with the test binary, however that ends (internal/testproc).
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
	var root string
	if dir == "" {
		root, err = testproc.TempDir("vpcalertd-s3test")
	} else {
		root = filepath.Join(dir, "s3-"+strconv.Itoa(attempt))
		err = os.MkdirAll(root, 0o755)
	}
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s := &Server{Endpoint: "http://" + addr, Dir: root, log: new(bytes.Buffer)}
	s.proc, err = testproc.Start(testproc.Cmd{
		Path:   bin,
		Args:   []string{"--port", addr, "--quiet", "posix", root},
		Env:    []string{"ROOT_ACCESS_KEY=" + AccessKey, "ROOT_SECRET_KEY=" + SecretKey},
		Stdout: s.log,
		Stderr: s.log,
		Remove: []string{root},
	})
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Done():
			return nil, fmt.Errorf("%w: %s", s.proc.Err(), s.log.String())
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

// Stop ends the server, waits for it and removes its storage directory.
func (s *Server) Stop() {
	if s == nil || s.proc == nil {
		return
	}
	_ = s.proc.Stop()
}

// Pids returns the process ids of the server and of its watchdog.
func (s *Server) Pids() []int { return s.proc.Pids() }

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
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
	inMain     bool
)

// Main runs a test binary's tests with a shared server, for TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
// The server starts when a test first calls Need (a run that selects no
// such test starts none) and stops when the tests end. Without the
// versitygw binary, tests that call Need fail when the CI environment
// variable is "true" and are skipped otherwise, with a message saying how
// to install it.
func Main(m *testing.M) int {
	inMain = true
	defer func() { shared.Stop() }()
	return m.Run()
}

// Need returns the shared server of Main, starting it on first use. When
// there is none it fails the test under CI=true and skips it otherwise.
func Need(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() {
		if !inMain {
			sharedErr = errors.New("s3test.Main was not called from TestMain")
			return
		}
		bin := Binary()
		if bin == "" {
			sharedErr = errors.New(InstallHint)
			return
		}
		shared, sharedErr = Start(bin, "")
	})
	if shared != nil {
		return shared
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("S3 test server: %v", sharedErr)
	}
	tb.Skipf("S3 test server: %v", sharedErr)
	return nil
}
