package daemon

import (
	"context"

	"github.com/vpcalertd/vpcalertd/collector/flowlogs"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/config"
)

// NewAWSClients builds a bucket's clients from the AWS SDK's credential
// chain, the bucket's profile and role, and its endpoints. Without a custom
// endpoint the S3 client is moved to the bucket's own region.
func NewAWSClients(ctx context.Context, b *config.Bucket) (*Clients, error) {
	cfg, err := s3.LoadAWSConfig(ctx, s3.Auth{
		Profile: b.Profile, RoleARN: b.RoleARN, RoleDuration: b.RoleDuration,
		ExternalID: b.ExternalID, STSEndpoint: b.STSEndpoint,
	})
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
	return &Clients{S3: s3.NewClient(api), FlowLogs: flowlogs.New(cfg, b.EC2Endpoint)}, nil
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
