package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Auth says which credentials a bucket is read with. Credentials themselves
// never appear here: they come from the AWS SDK's default chain (environment,
// shared files, SSO, instance or task role), optionally from a named profile,
// and optionally through an assumed role.
type Auth struct {
	Profile      string        // shared config profile; "" for the default chain
	RoleARN      string        // role to assume; "" for none
	RoleDuration time.Duration // assumed session length; 0 for the SDK default
	ExternalID   string        // sts:ExternalId for the role
	STSEndpoint  string        // STS endpoint URL; "" for AWS's
	// MaxAttempts bounds the attempts of one request (throttling, 5xx,
	// timeouts), with the SDK's exponential backoff; default 10, as Wazuh.
	MaxAttempts int
	// Log receives the AWS SDK's own log lines; nil discards them.
	Log *slog.Logger
}

// RoleSessionName is the session name of assumed roles, visible in the
// CloudTrail records of the reads.
const RoleSessionName = "vpcalertd"

// DefaultRegion is used when neither the environment nor the profile names
// a region; buckets elsewhere are located with HeadBucket.
const DefaultRegion = "us-east-1"

// LoadAWSConfig returns an AWS config for a. The HTTP client gives up on a
// connection or on response headers after a minute; bodies are watched by
// Reader instead, so that large objects are not cut by a global timeout.
func LoadAWSConfig(ctx context.Context, a Auth) (aws.Config, error) {
	attempts := a.MaxAttempts
	if attempts <= 0 {
		attempts = 10
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.TLSHandshakeTimeout = 30 * time.Second
		tr.ResponseHeaderTimeout = time.Minute
		tr.MaxIdleConnsPerHost = 64
	})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = attempts })
		}),
		awsconfig.WithLogger(sdkLogger(a.Log)),
	}
	if a.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(a.Profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		var pe awsconfig.SharedConfigProfileNotExistError
		if errors.As(err, &pe) {
			return aws.Config{}, &CredentialsError{Profile: a.Profile, RoleARN: a.RoleARN, Tried: chainTried(a),
				Err: fmt.Errorf("%w: %w", ErrNoCredentials, err)}
		}
		if a.Profile != "" {
			return aws.Config{}, fmt.Errorf("aws profile %q: %w", a.Profile, err)
		}
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if a.RoleARN != "" {
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			if a.STSEndpoint != "" {
				o.BaseEndpoint = aws.String(a.STSEndpoint)
			}
		})
		prov := stscreds.NewAssumeRoleProvider(stsClient, a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = RoleSessionName
			if a.RoleDuration > 0 {
				o.Duration = a.RoleDuration
			}
			if a.ExternalID != "" {
				o.ExternalID = aws.String(a.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(prov)
	}
	return cfg, nil
}
