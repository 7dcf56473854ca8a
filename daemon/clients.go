package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/vpcalertd/vpcalertd/collector/flowlogs"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/sqs"
	"github.com/vpcalertd/vpcalertd/config"
)

// NewAWSClients builds a bucket's clients from the AWS SDK's credential
// chain, the bucket's profile and role, and its endpoints. Without a custom
// endpoint the S3 client is moved to the bucket's own region. A bucket with
// an sqs section also gets its queue's client, with the same credentials.
// The SDK's own log lines are discarded; a Daemon sends them to its log.
func NewAWSClients(ctx context.Context, b *config.Bucket) (*Clients, error) {
	return newAWSClients(ctx, b, nil)
}

func newAWSClients(ctx context.Context, b *config.Bucket, log *slog.Logger) (*Clients, error) {
	auth := s3.Auth{
		Profile: b.Profile, RoleARN: b.RoleARN, RoleDuration: b.RoleDuration,
		ExternalID: b.ExternalID, STSEndpoint: b.STSEndpoint, Log: log,
	}
	cfg, err := s3.LoadAWSConfig(ctx, auth)
	if err != nil {
		return nil, err
	}
	// No credentials at all is said now, with what the chain tried, rather
	// than as a failed request.
	source, err := s3.CheckCredentials(ctx, cfg, auth)
	if err != nil {
		return nil, err
	}
	api := s3.NewAPI(cfg, b.ServiceEndpoint)
	if api.Options().BaseEndpoint == nil {
		region, err := s3.BucketRegion(ctx, api, b.Name)
		if err != nil {
			return nil, err
		}
		if region != "" && region != cfg.Region {
			rc := cfg.Copy()
			rc.Region = region
			api = s3.NewAPI(rc, "")
		}
	}
	c := &Clients{S3: s3.NewClient(api), FlowLogs: flowlogs.New(cfg, b.EC2Endpoint), Head: headObject(api),
		Credentials: credentialsOf(b, source)}
	if b.SQS != nil {
		if c.SQS, err = sqs.NewClientFromConfig(cfg, *b.SQS); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// credentialsOf names a bucket's credentials: the SDK provider they came
// from, and the profile and role.
func credentialsOf(b *config.Bucket, source string) string {
	s := source
	if b.Profile != "" {
		s += ", profile " + b.Profile
	}
	if b.RoleARN != "" {
		s += ", role " + b.RoleARN
	}
	return s
}

// headObject returns a Clients.Head on api. A missing object's error wraps
// sqs.ErrObjectGone.
func headObject(api *awss3.Client) func(ctx context.Context, bucket, key string) (s3.Object, error) {
	return func(ctx context.Context, bucket, key string) (s3.Object, error) {
		out, err := api.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
				return s3.Object{}, fmt.Errorf("head s3://%s/%s: %w: %w", bucket, key, sqs.ErrObjectGone, err)
			}
			return s3.Object{}, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
		}
		return s3.Object{Bucket: bucket, Key: key, ETag: aws.ToString(out.ETag), Size: aws.ToInt64(out.ContentLength),
			LastModified: aws.ToTime(out.LastModified)}, nil
	}
}

// clientsFor returns the bucket's clients, building them once.
func (d *Daemon) clientsFor(ctx context.Context, b *config.Bucket) (*Clients, error) {
	id := b.ID()
	d.mu.Lock()
	c := d.clients[id]
	d.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := d.opts.NewClients(ctx, b)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.clients[id] = c
	d.mu.Unlock()
	return c, nil
}
