package sqs

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
)

// NewClient builds an SQS client for cfg from the SDK's default credential
// chain (environment, shared profile, web identity, container and instance
// roles); optFns tune the loading (a profile, for example). The region is
// cfg.Region, else the one in an AWS queue URL, else the SDK's.
func NewClient(ctx context.Context, cfg Config, optFns ...func(*config.LoadOptions) error) (*awssqs.Client, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("sqs: aws config: %w", err)
	}
	return NewClientFromConfig(awsCfg, cfg)
}

// NewClientFromConfig builds an SQS client from an aws.Config the caller
// already has (with role assumption, for example), applying cfg's region and
// endpoint.
func NewClientFromConfig(awsCfg aws.Config, cfg Config) (*awssqs.Client, error) {
	region := cfg.Region
	if region == "" {
		region = regionFromQueueURL(cfg.QueueURL)
	}
	if region == "" {
		region = awsCfg.Region
	}
	if region == "" {
		return nil, errors.New("sqs: region: not set, not in queue_url, and not in the AWS environment or profile")
	}
	return awssqs.NewFromConfig(awsCfg, func(o *awssqs.Options) {
		o.Region = region
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	}), nil
}
