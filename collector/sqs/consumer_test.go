package sqs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector/sqs/sqstest"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
)

// TestLocalServerCountsReceivesOnly checks the one behaviour of the local
// server that .ci/sqs.sh fixes: ChangeMessageVisibility must not count as a
// receive, as in SQS.
func TestLocalServerCountsReceivesOnly(t *testing.T) {
	r := newRig(t)
	r.srv.Send(t, r.queue, "x")
	msgs := r.srv.Receive(t, r.queue, 1, time.Second, 30*time.Second)
	require.Len(t, msgs, 1)
	for _, vt := range []int32{20, 25, 0} {
		_, err := r.srv.Client.ChangeMessageVisibility(context.Background(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(r.queue), ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: vt,
		})
		require.NoError(t, err)
	}
	msgs = r.srv.Receive(t, r.queue, 1, time.Second, 30*time.Second)
	require.Len(t, msgs, 1)
	assert.Equal(t, 2, receiveCount(msgs[0]),
		"ApproximateReceiveCount after 2 receives and 3 visibility changes; run .ci/sqs.sh, which fixes local-aws-sqs's count")
}

func TestConsumerReadsEveryShape(t *testing.T) {
	r := newRig(t)
	trail := sample(t, "cloudtrail-sns-notification-Message-multiple-files.awsdocs.json")
	rawTrail := edit(t, trail, func(m map[string]any) { m["s3Bucket"] = "raw-delivery-bucket" })
	testEvent := sample(t, "s3-event-notification-s3TestEvent.awsdocs.json")
	hello := sample(t, "sns-to-sqs-notification-envelope.awsdocs.json")
	bodies := []string{
		s3Put(t, "flowlogs", "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/flow+log%3D1.log.gz"),
		wrapSNS(t, s3Put(t, "flowlogs", "via-sns/a%2Bb.log.gz")),
		sample(t, "s3-eventbridge-object-created.awsdocs.json"),
		wrapSNS(t, trail),
		rawTrail,
		testEvent,
		wrapSNS(t, testEvent),
		hello,
	}
	r.srv.Send(t, r.queue, bodies...)
	rec := &recorder{}
	cfg := r.config(nil)
	rn := r.start(cfg, rec.handle)
	r.waitEmpty(r.queue, 20*time.Second)

	want := map[string]int{
		"flowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/03/05/flow log=1.log.gz": 1,
		"flowlogs/via-sns/a+b.log.gz":      1,
		"amzn-s3-demo-bucket1/example-key": 1,
	}
	for _, k := range []string{
		"AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2215Z_kpaMYavMQA9Ahp7L.json.gz",
		"AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2210Z_zqDkyQv3TK8ZdLr0.json.gz",
		"AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2205Z_jaMVRa6JfdLCJYHP.json.gz",
	} {
		want["your-bucket-name/"+k] = 1
		want["raw-delivery-bucket/"+k] = 1
	}
	assert.Equal(t, want, rec.byKey())
	for _, o := range rec.calls {
		assert.False(t, o.EventTime.IsZero(), "%s/%s: event time (the SQS sent time when the notification has none)", o.Bucket, o.Key)
	}

	lines := readQuarantine(t, cfg.QuarantineFile)
	require.Len(t, lines, 1)
	assert.Equal(t, hello, lines[0].Body)
	assert.Equal(t, r.queue, lines[0].QueueURL)
	assert.Contains(t, lines[0].Reason, "unreadable notification: sns arn:aws:sns:us-west-2:123456789012:MyTopic: Message: not an S3 or CloudTrail object notification")

	s := rn.scrape(t)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vpcalertd_sqs_messages_total", []string{"outcome", "received"}, 8},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "deleted"}, 5},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "ignored"}, 2},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "quarantined"}, 1},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "retried"}, 0},
		{"vpcalertd_errors_total", []string{"kind", "bad_message"}, 1},
		{"vpcalertd_errors_total", []string{"kind", "object"}, 0},
		{"vpcalertd_sqs_messages_in_flight", nil, 0},
	} {
		assert.Equal(t, tt.want, s.Get(tt.name, tt.labels...), "%s %v", tt.name, tt.labels)
	}
}

func TestConsumerExtendsVisibilityWhileHandling(t *testing.T) {
	r := newRig(t)
	r.srv.Send(t, r.queue, s3Put(t, "flowlogs", "slow.log.gz"))

	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	slow := &recorder{fn: func(ctx context.Context, _ Object) error {
		once.Do(func() { close(started) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	other := &recorder{}
	cfg := r.config(func(c *Config) {
		c.VisibilityTimeout = 2 * time.Second
		c.Workers = 1
	})
	a := r.start(cfg, slow.handle)
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the handler was not called")
	}
	// A second instance polls the same queue while the handler holds the
	// message for twice its visibility timeout.
	r.start(cfg, other.handle)
	time.Sleep(2 * cfg.VisibilityTimeout)
	assert.Equal(t, 0, other.count(), "the message was delivered to a second consumer while being handled")
	assert.GreaterOrEqual(t, a.scrape(t).Get("vpcalertd_sqs_visibility_extensions_total"), 2.0)

	close(release)
	r.waitEmpty(r.queue, 10*time.Second)
	assert.Equal(t, 1, slow.count())
	assert.Equal(t, 0, other.count())
	assert.Equal(t, 1.0, a.scrape(t).Get("vpcalertd_sqs_messages_total", "outcome", "deleted"))
}

func TestConsumerMovesPoisonAside(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a poison message to come back max_receives times, twice; -short skips it (TestConsumerMovesAsideAtOnce still moves one aside)")
	}
	tests := []struct {
		name       string
		dlq        bool
		visibility time.Duration
		retryDelay time.Duration
	}{
		// No retry delay: the message comes back when its 2s visibility runs
		// out. (Not 1s: local-aws-sqs holds a long poll for its whole wait,
		// 1s here, when fewer messages than asked are there, and the
		// visibility timeout runs from the start of that wait.)
		{name: "quarantine-file", visibility: 2 * time.Second},
		// A 30s visibility would make this test slow: the 1s retry delay
		// brings the message back sooner.
		{name: "dead-letter-queue", dlq: true, visibility: 30 * time.Second, retryDelay: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			poison := s3Put(t, "flowlogs", "poison.log.gz")
			r.srv.Send(t, r.queue, poison, s3Put(t, "flowlogs", "good.log.gz"))
			var dlq string
			if tt.dlq {
				dlq = r.srv.CreateQueue(t, "dlq")
			}
			cfg := r.config(func(c *Config) {
				c.VisibilityTimeout = tt.visibility
				c.RetryDelay = tt.retryDelay
				c.MaxReceives = 3
				c.DeadLetterQueueURL = dlq
			})
			rec := &recorder{fn: func(_ context.Context, o Object) error {
				if o.Key == "poison.log.gz" {
					return errors.New("gzip: invalid header")
				}
				return nil
			}}
			rn := r.start(cfg, rec.handle)
			r.waitEmpty(r.queue, 30*time.Second)

			assert.Equal(t, map[string]int{"flowlogs/poison.log.gz": 3, "flowlogs/good.log.gz": 1}, rec.byKey())
			wantReason := "s3://flowlogs/poison.log.gz: gzip: invalid header"
			s := rn.scrape(t)
			if tt.dlq {
				msgs := r.srv.Receive(t, dlq, 10, time.Second, 30*time.Second)
				require.Len(t, msgs, 1)
				m := msgs[0]
				assert.Equal(t, poison, aws.ToString(m.Body))
				assert.Equal(t, wantReason, aws.ToString(m.MessageAttributes[AttrReason].StringValue))
				assert.Equal(t, "3", aws.ToString(m.MessageAttributes[AttrReceiveCount].StringValue))
				assert.Equal(t, r.queue, aws.ToString(m.MessageAttributes[AttrSourceQueue].StringValue))
				assert.NotEmpty(t, aws.ToString(m.MessageAttributes[AttrSourceMessageID].StringValue))
				assert.Equal(t, 1.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "dead_lettered"))
				_, err := os.Stat(cfg.QuarantineFile)
				assert.True(t, os.IsNotExist(err), "no quarantine file when a dead-letter queue is set")
			} else {
				lines := readQuarantine(t, cfg.QuarantineFile)
				require.Len(t, lines, 1)
				assert.Equal(t, poison, lines[0].Body)
				assert.Equal(t, wantReason, lines[0].Reason)
				assert.Equal(t, 3, lines[0].ReceiveCount)
				assert.Equal(t, 1.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "quarantined"))
			}
			assert.Equal(t, 2.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "retried"))
			assert.Equal(t, 1.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "deleted"), "the good message")
			assert.Equal(t, 3.0, s.Get("vpcalertd_errors_total", "kind", "object"))
		})
	}
}

// TestConsumerMovesAsideAtOnce: a handler error wrapping ErrMoveAside (an
// object the daemon died while reading too often) moves the message aside
// at its first receive, not after max_receives.
func TestConsumerMovesAsideAtOnce(t *testing.T) {
	r := newRig(t)
	body := s3Put(t, "flowlogs", "poison.log.gz")
	r.srv.Send(t, r.queue, body)
	cfg := r.config(func(c *Config) { c.MaxReceives = 5 })
	rec := &recorder{fn: func(context.Context, Object) error {
		return fmt.Errorf("%w: the daemon stopped while reading it 3 times", ErrMoveAside)
	}}
	rn := r.start(cfg, rec.handle)
	r.waitEmpty(r.queue, 30*time.Second)
	assert.Equal(t, map[string]int{"flowlogs/poison.log.gz": 1}, rec.byKey())
	lines := readQuarantine(t, cfg.QuarantineFile)
	require.Len(t, lines, 1)
	assert.Equal(t, body, lines[0].Body)
	assert.Contains(t, lines[0].Reason, "the daemon stopped while reading it 3 times")
	assert.Equal(t, 1, lines[0].ReceiveCount)
	assert.Equal(t, 1.0, rn.scrape(t).Get("vpcalertd_sqs_messages_total", "outcome", "quarantined"))
}

func TestConsumerMovesAsideMessagesReceivedTooOften(t *testing.T) {
	r := newRig(t)
	body := s3Put(t, "flowlogs", "crashes-the-daemon.log.gz")
	r.srv.Send(t, r.queue, body)
	// Three instances received it and died before settling it.
	for range 3 {
		msgs := r.srv.Receive(t, r.queue, 1, time.Second, 30*time.Second)
		require.Len(t, msgs, 1)
		_, err := r.srv.Client.ChangeMessageVisibility(context.Background(), &awssqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(r.queue), ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0,
		})
		require.NoError(t, err)
	}
	rec := &recorder{}
	cfg := r.config(func(c *Config) { c.MaxReceives = 3 })
	r.start(cfg, rec.handle)
	r.waitEmpty(r.queue, 20*time.Second)

	assert.Equal(t, 0, rec.count(), "the handler is not called again")
	lines := readQuarantine(t, cfg.QuarantineFile)
	require.Len(t, lines, 1)
	assert.Equal(t, body, lines[0].Body)
	assert.Equal(t, 4, lines[0].ReceiveCount)
	assert.Contains(t, lines[0].Reason, "received 4 times, more than max_receives (3), without being completed")
}

func TestConsumerDeletesNotificationsOfGoneObjects(t *testing.T) {
	r := newRig(t)
	r.srv.Send(t, r.queue,
		s3Put(t, "flowlogs", "deleted-by-lifecycle.log.gz"),
		s3Put(t, "flowlogs", "no-such-key.log.gz"),
		s3Put(t, "flowlogs", "here.log.gz"))
	rec := &recorder{fn: func(_ context.Context, o Object) error {
		switch o.Key {
		case "deleted-by-lifecycle.log.gz":
			return fmt.Errorf("get s3://%s/%s: %w", o.Bucket, o.Key, ErrObjectGone)
		case "no-such-key.log.gz":
			return fmt.Errorf("get: %w", &smithy.GenericAPIError{Code: "NoSuchKey", Message: "The specified key does not exist."})
		}
		return nil
	}}
	rn := r.start(r.config(nil), rec.handle)
	r.waitEmpty(r.queue, 20*time.Second)

	assert.Equal(t, map[string]int{
		"flowlogs/deleted-by-lifecycle.log.gz": 1,
		"flowlogs/no-such-key.log.gz":          1,
		"flowlogs/here.log.gz":                 1,
	}, rec.byKey(), "gone objects are not retried")
	s := rn.scrape(t)
	assert.Equal(t, 2.0, s.Get("vpcalertd_errors_total", "kind", "object_gone"))
	assert.Equal(t, 3.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "deleted"))
	assert.Equal(t, 0.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "retried"))
}

func TestConsumerRetriesPartialFailure(t *testing.T) {
	r := newRig(t)
	r.srv.Send(t, r.queue, wrapSNS(t, sample(t, "cloudtrail-sns-notification-Message-multiple-files.awsdocs.json")))
	var mu sync.Mutex
	failed := false
	rec := &recorder{fn: func(_ context.Context, o Object) error {
		mu.Lock()
		defer mu.Unlock()
		// The second of the three files fails once.
		if !failed && o.Key == "AWSLogs/123456789012/CloudTrail/us-east-2/2016/08/11/123456789012_CloudTrail_us-east-2_20160811T2210Z_zqDkyQv3TK8ZdLr0.json.gz" {
			failed = true
			return errors.New("slow down")
		}
		return nil
	}}
	rn := r.start(r.config(func(c *Config) { c.RetryDelay = time.Second }), rec.handle)
	r.waitEmpty(r.queue, 20*time.Second)

	// The whole message comes back: every file is handled again (the
	// daemon's done-set skips the ones it finished).
	counts := rec.byKey()
	require.Len(t, counts, 3)
	for k, n := range counts {
		assert.Equal(t, 2, n, k)
	}
	s := rn.scrape(t)
	assert.Equal(t, 1.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "retried"))
	assert.Equal(t, 1.0, s.Get("vpcalertd_sqs_messages_total", "outcome", "deleted"))
}

func TestTwoConsumersShareOneQueue(t *testing.T) {
	r := newRig(t)
	const n = 100
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = s3Put(t, "flowlogs", keyN(i))
	}
	r.srv.Send(t, r.queue, bodies...)

	var mu sync.Mutex
	seen := make(map[string][]int) // key -> consumers that handled it
	handler := func(id int) Handler {
		return func(_ context.Context, o Object) error {
			time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			mu.Lock()
			seen[o.Key] = append(seen[o.Key], id)
			mu.Unlock()
			return nil
		}
	}
	cfg := r.config(nil)
	a := r.start(cfg, handler(1))
	b := r.start(cfg, handler(2))
	t0 := time.Now()
	r.waitEmpty(r.queue, 60*time.Second)
	t.Log("drained in", time.Since(t0))

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, n)
	per := map[int]int{}
	for i := range n {
		ids := seen[keyN(i)]
		require.Len(t, ids, 1, "key %d handled by %v", i, ids)
		per[ids[0]]++
	}
	t.Logf("objects per consumer: %v", per)
	da := a.scrape(t).Get("vpcalertd_sqs_messages_total", "outcome", "deleted")
	db := b.scrape(t).Get("vpcalertd_sqs_messages_total", "outcome", "deleted")
	assert.Equal(t, float64(n), da+db)
	assert.Equal(t, float64(per[1]), da)
	assert.Equal(t, float64(per[2]), db)
}

func TestConsumerShutdown(t *testing.T) {
	tests := []struct {
		name string
		// finish: the handler completes the object after ctx is done.
		finish      bool
		wantInQueue bool
		wantOutcome string
	}{
		{name: "abandoned-object-released-at-once", wantInQueue: true, wantOutcome: "released"},
		{name: "finished-object-deleted", finish: true, wantOutcome: "deleted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.srv.Send(t, r.queue, s3Put(t, "flowlogs", "in-progress.log.gz"))
			started := make(chan struct{})
			var once sync.Once
			rec := &recorder{fn: func(ctx context.Context, _ Object) error {
				once.Do(func() { close(started) })
				<-ctx.Done()
				if tt.finish {
					return nil
				}
				return ctx.Err()
			}}
			rn := r.start(r.config(func(c *Config) { c.VisibilityTimeout = 60 * time.Second }), rec.handle)
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("the handler was not called")
			}
			s := rn.scrape(t)
			rn.stop()

			// With a 60s visibility timeout, only a release makes the
			// message visible again now.
			msgs := r.srv.Receive(t, r.queue, 1, time.Second, 30*time.Second)
			if tt.wantInQueue {
				require.Len(t, msgs, 1)
				// 2, or 3 when the consumer's last long poll took the
				// released message and released it again.
				assert.GreaterOrEqual(t, receiveCount(msgs[0]), 2)
			} else {
				require.Empty(t, msgs)
				assert.Equal(t, 0, r.srv.Len(t, r.queue))
			}
			assert.Equal(t, 1.0, s.Get("vpcalertd_sqs_messages_in_flight"), "in flight while the handler ran")
			after := metricstest.Gather(t, rn.m.Registry())
			assert.GreaterOrEqual(t, after.Get("vpcalertd_sqs_messages_total", "outcome", tt.wantOutcome), 1.0)
			assert.Equal(t, 0.0, after.Get("vpcalertd_sqs_messages_in_flight"))
		})
	}
}

func TestConsumerNotReadyWhileReceiveFails(t *testing.T) {
	// A loopback port with nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	cfg := Config{
		QueueURL:          srv + "/123456789012/q",
		Region:            "us-east-1",
		Endpoint:          srv,
		QuarantineFile:    t.TempDir() + "/q.jsonl",
		VisibilityTimeout: 30 * time.Second,
		WaitTime:          time.Second,
	}
	c, err := NewConsumer(cfg, sqstest.NewClient(srv), testLogger(t), m)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(context.Context, Object) error { return nil }) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool {
		ready, lines := m.Ready()
		return !ready && len(lines) == 1 &&
			strings.HasPrefix(lines[0], "sqs "+cfg.QueueURL+": not ready:") && strings.Contains(lines[0], "connection refused")
	}, 20*time.Second, 50*time.Millisecond)
	assert.GreaterOrEqual(t, metricstest.Gather(t, m.Registry()).Get("vpcalertd_errors_total", "kind", "sqs_receive"), 1.0)
}

func readQuarantine(t *testing.T, path string) []QuarantineEntry {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []QuarantineEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e QuarantineEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		out = append(out, e)
	}
	require.NoError(t, sc.Err())
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// TestConsumerDrain: Drain handles what the queue holds and returns once a
// receive finds nothing while no message is in hand; a failed message is
// not waited for.
func TestConsumerDrain(t *testing.T) {
	r := newRig(t)
	var bodies []string
	for i := 0; i < 7; i++ {
		bodies = append(bodies, s3Put(t, "flowlogs", keyN(i)))
	}
	r.srv.Send(t, r.queue, bodies...)
	rec := &recorder{fn: func(_ context.Context, o Object) error {
		if o.Key == keyN(3) {
			return errors.New("gzip: invalid header")
		}
		time.Sleep(20 * time.Millisecond)
		return nil
	}}
	cfg := r.config(func(c *Config) { c.Workers = 2 })
	c, err := NewConsumer(cfg, r.srv.Client, testLogger(t), nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.Drain(context.Background(), rec.handle) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Drain did not return")
	}
	assert.Len(t, rec.byKey(), 7, "every message handled once")
	out, err := r.srv.Client.GetQueueAttributes(context.Background(), &awssqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(r.queue),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	require.NoError(t, err)
	assert.Equal(t, "1", out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)],
		"only the failed message is left, invisible until it is retried")
}
