package flowlogs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// FlowLog is one flow log that delivers to S3.
type FlowLog struct {
	ID         string // fl-…
	ResourceID string // VPC, subnet, ENI or transit gateway id
	// LogFormat is the "${field} ${field} …" format of its records.
	LogFormat string
	// Bucket and Prefix are parsed from the destination ARN
	// (arn:aws:s3:::bucket[/prefix]); Prefix has no trailing slash.
	Bucket, Prefix string
	FileFormat     string // plain-text or parquet
	Hive, PerHour  bool   // Hive-compatible and hourly partitions
}

// Attempts bounds the tries of one DescribeFlowLogs page (the first and
// two retries, with a backoff of at most MaxBackoff): an EC2 endpoint that
// cannot be reached or refuses must not hold up a pass.
const (
	Attempts   = 3
	MaxBackoff = 2 * time.Second
)

// Client calls DescribeFlowLogs in any region with one set of credentials.
type Client struct {
	cfg      aws.Config
	endpoint string

	mu      sync.Mutex // guards clients
	clients map[string]*ec2.Client
}

// New returns a Client. A non-empty endpoint (Wazuh's service_endpoint, as
// the wodle also uses it for EC2) replaces AWS's EC2 endpoint.
func New(cfg aws.Config, endpoint string) *Client {
	return &Client{cfg: cfg, endpoint: endpoint, clients: map[string]*ec2.Client{}}
}

func (c *Client) client(region string) *ec2.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[region]; ok {
		return cl
	}
	cl := ec2.NewFromConfig(c.cfg, func(o *ec2.Options) {
		o.Region = region
		if c.endpoint != "" {
			o.BaseEndpoint = aws.String(c.endpoint)
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = Attempts
			so.MaxBackoff = MaxBackoff
		})
		o.RetryMaxAttempts = Attempts
	})
	c.clients[region] = cl
	return cl
}

// Describe returns the flow logs of region that deliver to S3, following
// nextToken to the last page (Wazuh reads only the first;
// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeFlowLogs.html).
func (c *Client) Describe(ctx context.Context, region string) ([]FlowLog, error) {
	in := &ec2.DescribeFlowLogsInput{
		Filter:     []types.Filter{{Name: aws.String("log-destination-type"), Values: []string{"s3"}}},
		MaxResults: aws.Int32(1000),
	}
	p := ec2.NewDescribeFlowLogsPaginator(c.client(region), in)
	var out []FlowLog
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ec2 DescribeFlowLogs in %s at %s: %w", region, c.Endpoint(region), err)
		}
		for _, f := range page.FlowLogs {
			out = append(out, convert(f))
		}
	}
	return out, nil
}

// Endpoint names where the client's EC2 calls for region go: the
// configured endpoint, AWS_ENDPOINT_URL_EC2 (or AWS_ENDPOINT_URL), or AWS's
// regional endpoint.
func (c *Client) Endpoint(region string) string {
	switch {
	case c.endpoint != "":
		return c.endpoint
	case os.Getenv("AWS_ENDPOINT_URL_EC2") != "":
		return os.Getenv("AWS_ENDPOINT_URL_EC2")
	case os.Getenv("AWS_ENDPOINT_URL") != "":
		return os.Getenv("AWS_ENDPOINT_URL")
	}
	return "https://ec2." + region + ".amazonaws.com"
}

func convert(f types.FlowLog) FlowLog {
	fl := FlowLog{
		ID:         aws.ToString(f.FlowLogId),
		ResourceID: aws.ToString(f.ResourceId),
		LogFormat:  aws.ToString(f.LogFormat),
	}
	if arn, ok := strings.CutPrefix(aws.ToString(f.LogDestination), "arn:aws:s3:::"); ok {
		fl.Bucket, fl.Prefix, _ = strings.Cut(arn, "/")
		fl.Prefix = strings.TrimSuffix(fl.Prefix, "/")
	}
	if d := f.DestinationOptions; d != nil {
		fl.FileFormat = string(d.FileFormat)
		fl.Hive = aws.ToBool(d.HiveCompatiblePartitions)
		fl.PerHour = aws.ToBool(d.PerHourPartition)
	}
	return fl
}
