package sqstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// Region is the region the local server and its clients use.
const Region = "us-east-1"

// PackageEnv names an environment variable that may point at the
// local-aws-sqs package folder; otherwise it is looked up as
// .ci/sqs/node_modules/local-aws-sqs above the working directory.
const PackageEnv = "LOCAL_AWS_SQS_DIR"

// launcher starts the server on 127.0.0.1 with a port chosen by the kernel
// and prints {"port":N}. It runs under a watchdog (internal/testproc), so it
// never outlives the test binary.
const launcher = `
const { createSqsServer } = require(process.argv[1]);
createSqsServer({ port: 0, hostname: "127.0.0.1", emulateQueueCreationLifecycle: false }).then((server) => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
}, (err) => { console.error(String((err && err.stack) || err)); process.exit(1); });
`

// Server is a running local-aws-sqs.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Client is an SQS client for Endpoint.
	Client *sqs.Client

	proc *testproc.Process
}

// Start starts a server for the test and stops it at cleanup; it ends with
// the test binary, however that ends.
func Start(t testing.TB) *Server {
	t.Helper()
	node, pkg, err := find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("local SQS server: %v", err)
		}
		t.Skipf("local SQS server: %v (run .ci/sqs.sh)", err)
	}
	s, err := start(node, pkg, &prefixWriter{t: t})
	if err != nil {
		t.Fatalf("local SQS server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// start starts the server, its stderr going to stderr.
func start(node, pkg string, stderr io.Writer) (*Server, error) {
	out := &helloWriter{port: make(chan int, 1)}
	proc, err := testproc.Start(testproc.Cmd{Path: node, Args: []string{"-e", launcher, pkg}, Stdout: out, Stderr: stderr})
	if err != nil {
		return nil, err
	}
	s := &Server{proc: proc}
	select {
	case port := <-out.port:
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
	case <-proc.Done():
		return nil, fmt.Errorf("did not report its port: %w", proc.Err())
	case <-time.After(30 * time.Second):
		s.Stop()
		return nil, errors.New("no port after 30s")
	}
	s.Client = NewClient(s.Endpoint)
	return s, nil
}

// helloWriter takes the port from the launcher's first line and discards
// the rest.
type helloWriter struct {
	line []byte
	port chan int
	done bool
}

func (w *helloWriter) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	i := bytes.IndexByte(w.line, '\n')
	if i < 0 {
		return len(p), nil
	}
	w.done = true
	var hello struct{ Port int }
	if json.Unmarshal(w.line[:i], &hello) == nil && hello.Port != 0 {
		w.port <- hello.Port
	}
	return len(p), nil
}

// Stop ends the server and waits for it.
func (s *Server) Stop() { _ = s.proc.Stop() }

// Pids returns the process ids of the server and of its watchdog.
func (s *Server) Pids() []int { return s.proc.Pids() }

// NewClient returns an SQS client for a local endpoint with fixed test
// credentials (the local server checks none).
func NewClient(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, func(o *sqs.Options) {
		o.BaseEndpoint = aws.String(endpoint)
	})
}

// CreateQueue creates a queue with a name unique to the test and returns its URL.
func (s *Server) CreateQueue(t testing.TB, name string) string {
	t.Helper()
	out, err := s.Client.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName: aws.String(uniqueName(t, name)),
	})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// Send sends each body to the queue, ten per batch.
func (s *Server) Send(t testing.TB, queueURL string, bodies ...string) {
	t.Helper()
	for start := 0; start < len(bodies); start += 10 {
		end := min(start+10, len(bodies))
		entries := make([]types.SendMessageBatchRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id:          aws.String("m" + strconv.Itoa(i)),
				MessageBody: aws.String(bodies[i]),
			})
		}
		out, err := s.Client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{
			QueueUrl: aws.String(queueURL),
			Entries:  entries,
		})
		if err != nil {
			t.Fatalf("send to %s: %v", queueURL, err)
		}
		if len(out.Failed) > 0 {
			t.Fatalf("send to %s: %d failed: %s", queueURL, len(out.Failed), aws.ToString(out.Failed[0].Message))
		}
	}
}

// Len returns the sum of the queue's approximate numbers of visible,
// in-flight and delayed messages: 0 means the queue is empty. (local-aws-sqs
// counts in-flight messages in ApproximateNumberOfMessages too, and keeps a
// message just sent "delayed" until its next event-loop turn, so only the
// sum is comparable with SQS.)
func (s *Server) Len(t testing.TB, queueURL string) int {
	t.Helper()
	out, err := s.Client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", queueURL, err)
	}
	n := 0
	for _, name := range []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	} {
		v, err := strconv.Atoi(out.Attributes[string(name)])
		if err != nil {
			t.Fatalf("queue attributes of %s: %s: %v", queueURL, name, err)
		}
		n += v
	}
	return n
}

// Receive makes one ReceiveMessage call for up to max messages, waiting up
// to wait (whole seconds) for one, with the given visibility timeout (0
// means the queue's default, 30s), and asks for every attribute.
func (s *Server) Receive(t testing.TB, queueURL string, max int, wait, visibility time.Duration) []types.Message {
	t.Helper()
	out, err := s.Client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queueURL),
		MaxNumberOfMessages:         int32(max),
		WaitTimeSeconds:             int32(wait / time.Second),
		VisibilityTimeout:           int32(visibility / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		//lint:ignore SA1019 local-aws-sqs 2.0 reads only AttributeNames
		AttributeNames:        []types.QueueAttributeName{types.QueueAttributeNameAll},
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatalf("receive from %s: %v", queueURL, err)
	}
	return out.Messages
}

// find returns the node binary and the local-aws-sqs package folder.
func find() (node, pkg string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", errors.New("node is not installed")
	}
	if dir := os.Getenv(PackageEnv); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
			return "", "", fmt.Errorf("%s=%s: %w", PackageEnv, dir, err)
		}
		return node, dir, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		cand := filepath.Join(dir, ".ci", "sqs", "node_modules", "local-aws-sqs")
		if _, err := os.Stat(filepath.Join(cand, "package.json")); err == nil {
			return node, cand, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return "", "", errors.New("the npm package local-aws-sqs is not installed under .ci/sqs")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("the npm package local-aws-sqs is not installed (no go.mod found above the working directory)")
		}
		dir = parent
	}
}

// uniqueName makes a queue name from the test's name: letters, digits, '-'
// and '_' only, at most 80 characters.
func uniqueName(t testing.TB, name string) string {
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '-'
	}, t.Name()+"-"+name)
	suffix := "-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	if len(base) > 80-len(suffix) {
		base = base[len(base)-(80-len(suffix)):]
	}
	return base + suffix
}

// prefixWriter sends the server's stderr to the test log.
type prefixWriter struct{ t testing.TB }

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Logf("local-aws-sqs: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
