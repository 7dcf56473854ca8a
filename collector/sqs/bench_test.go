package sqs

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/metrics"
)

// countingClient counts the deletes that reached the server.
type countingClient struct {
	Client
	deleted atomic.Int64
	target  int64
	done    chan struct{}
}

func (c *countingClient) DeleteMessage(ctx context.Context, in *awssqs.DeleteMessageInput, optFns ...func(*awssqs.Options)) (*awssqs.DeleteMessageOutput, error) {
	out, err := c.Client.DeleteMessage(ctx, in, optFns...)
	if err == nil && c.deleted.Add(1) == c.target {
		close(c.done)
	}
	return out, err
}

// BenchmarkConsumer measures messages per second through one consumer
// (receive, parse, a handler that does nothing, delete) against the local
// SQS server, with 1, 2 and 4 workers. Each message announces one object.
// The local server answers a receive no sooner than its 10ms polling tick,
// so these numbers bound the consumer's own overhead from above, not SQS's
// throughput.
func BenchmarkConsumer(b *testing.B) {
	srv := sqstest.Start(b)
	body := s3Put(b, "flowlogs", keyN(0))
	for _, workers := range []int{1, 2, 4} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			queue := srv.CreateQueue(b, "bench")
			// Extra messages past b.N keep every receive's batch full to the
			// end (local-aws-sqs holds a receive for its whole wait when it
			// cannot fill the batch).
			bodies := make([]string, b.N+10*workers)
			for i := range bodies {
				bodies[i] = body
			}
			srv.Send(b, queue, bodies...)
			client := &countingClient{Client: srv.Client, target: int64(b.N), done: make(chan struct{})}
			c, err := NewConsumer(Config{
				QueueURL:          queue,
				Region:            sqstest.Region,
				Endpoint:          srv.Endpoint,
				Workers:           workers,
				VisibilityTimeout: 5 * time.Minute,
				WaitTime:          time.Second,
				QuarantineFile:    b.TempDir() + "/quarantine.jsonl",
			}, client, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			go func() { runErr <- c.Run(ctx, func(context.Context, Object) error { return nil }) }()
			<-client.done
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-runErr; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// memQueue is an in-memory Client that always has the same message: the
// floor under BenchmarkConsumer, with no server and no network.
type memQueue struct {
	body    string
	next    atomic.Int64
	deleted atomic.Int64
	target  int64
	done    chan struct{}
}

func (q *memQueue) ReceiveMessage(_ context.Context, in *awssqs.ReceiveMessageInput, _ ...func(*awssqs.Options)) (*awssqs.ReceiveMessageOutput, error) {
	out := &awssqs.ReceiveMessageOutput{Messages: make([]types.Message, in.MaxNumberOfMessages)}
	for i := range out.Messages {
		id := strconv.FormatInt(q.next.Add(1), 10)
		out.Messages[i] = types.Message{
			MessageId:     aws.String(id),
			ReceiptHandle: aws.String(id),
			Body:          aws.String(q.body),
			Attributes:    map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1709634031102"},
		}
	}
	return out, nil
}

func (q *memQueue) DeleteMessage(context.Context, *awssqs.DeleteMessageInput, ...func(*awssqs.Options)) (*awssqs.DeleteMessageOutput, error) {
	if q.deleted.Add(1) == q.target {
		close(q.done)
	}
	return &awssqs.DeleteMessageOutput{}, nil
}

func (q *memQueue) ChangeMessageVisibility(context.Context, *awssqs.ChangeMessageVisibilityInput, ...func(*awssqs.Options)) (*awssqs.ChangeMessageVisibilityOutput, error) {
	return &awssqs.ChangeMessageVisibilityOutput{}, nil
}

func (q *memQueue) SendMessage(context.Context, *awssqs.SendMessageInput, ...func(*awssqs.Options)) (*awssqs.SendMessageOutput, error) {
	return &awssqs.SendMessageOutput{}, nil
}

// BenchmarkConsumerFloor is BenchmarkConsumer against an in-memory queue:
// the consumer's own cost per message (parse, worker pool, visibility
// timer, metrics), which bounds what one instance can do whatever SQS does.
func BenchmarkConsumerFloor(b *testing.B) {
	body := s3Put(b, "flowlogs", keyN(0))
	for _, workers := range []int{1, 2, 4} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			q := &memQueue{body: body, target: int64(b.N), done: make(chan struct{})}
			c, err := NewConsumer(Config{
				QueueURL:          "http://127.0.0.1:1/000000000000/bench",
				Region:            sqstest.Region,
				Workers:           workers,
				VisibilityTimeout: 5 * time.Minute,
				QuarantineFile:    b.TempDir() + "/quarantine.jsonl",
			}, q, nil, metrics.New(metrics.Options{NoProcessMetrics: true}))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			go func() { runErr <- c.Run(ctx, func(context.Context, Object) error { return nil }) }()
			<-q.done
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			if err := <-runErr; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
