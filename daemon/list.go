package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/vpcalertd/vpcalertd/collector"
	"github.com/vpcalertd/vpcalertd/collector/flowlogs"
	"github.com/vpcalertd/vpcalertd/collector/s3"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/metrics"
)

var errBucketStopped = errors.New("bucket stopped by a bad object")

// DescribeFlowLogs bounds: a failing EC2 call (no permission, no route to
// EC2, an endpoint that refuses) must not hold up a pass. The client tries
// each page at most flowlogs.Attempts times; a region gets describeTimeout
// in all. With flow_log_files: all, a region that failed is not asked
// again for describeRetryAfter.
const (
	describeTimeout    = 10 * time.Second
	describeRetryAfter = time.Hour
)

// produceBucket discovers a bucket's scopes and sends its objects that are
// not done to jobs. Problems are logged, counted, and leave the bucket (or
// the scope) for the next pass; the other buckets go on.
func (d *Daemon) produceBucket(ctx context.Context, b *config.Bucket, jobs chan<- *job, c *counters) *bucketRun {
	log := d.log.With("bucket", b.Name, "type", string(b.Type))
	ready := "s3 bucket " + b.Name + " (" + string(b.Type) + ")"
	clients, err := d.clientsFor(ctx, b)
	d.opts.Metrics.SetReady(ready, err)
	if err != nil {
		c.errors.Add(1)
		d.opts.Metrics.Error(metrics.ErrorS3)
		log.Error("bucket unavailable: AWS clients", "reason", reason(err), "error", err.Error(), "config", b.Pos)
		return nil
	}
	br := &bucketRun{cfg: b, clients: clients}
	lay := s3.Layout{Bucket: b.Name, Path: b.Path, PathSuffix: b.PathSuffix, OrgID: b.OrganizationID,
		Type: b.Type, Accounts: b.AccountIDs, Regions: b.Regions}
	scopes, missing, err := s3.Discover(ctx, clients.S3, lay)
	if ctx.Err() == nil {
		d.opts.Metrics.SetReady(ready, err)
	}
	if err != nil && ctx.Err() == nil {
		c.errors.Add(1)
		d.opts.Metrics.Error(metrics.ErrorS3)
		log.Error("bucket unavailable", "reason", reason(err), "error", err.Error(), "credentials", clients.Credentials, "config", b.Pos)
		if len(scopes) == 0 {
			return nil
		}
	}
	for _, a := range missing {
		d.warnOnce("missing:"+b.ID()+a, "no folder for the configured account", "bucket", b.Name, "account", a, "under", lay.Base())
	}
	if len(scopes) == 0 && err == nil {
		d.warnOnce("empty:"+b.ID(), "no account/region folders found", "bucket", b.Name, "under", lay.Base(), "service", collector.ServiceOf(b.Type))
	}
	first, src, err := d.firstDay(b)
	if err != nil {
		c.errors.Add(1)
		log.Error("state", "error", err.Error())
		return nil
	}
	flows := map[string]map[string]flowlogs.FlowLog{} // region -> id -> flow log
	for _, sc := range scopes {
		if ctx.Err() != nil || br.stopped.Load() {
			break
		}
		sr := &scopeRun{scope: sc}
		br.scopes = append(br.scopes, sr)
		if sr.win, err = d.window(sc, first, src); err != nil {
			sr.incomplete.Store(true)
			c.errors.Add(1)
			log.Error("state", "error", err.Error())
			continue
		}
		var fl map[string]flowlogs.FlowLog
		if b.Type == event.LogTypeVPCFlow {
			if fl, err = d.flowLogs(ctx, br, sc.Region, flows); err != nil {
				sr.incomplete.Store(true)
				c.errors.Add(1)
				log.Warn("DescribeFlowLogs failed; region skipped this pass (flow_log_files: described reads only the files of flow logs EC2 names)",
					"region", sc.Region, "endpoint", describeEndpoint(br, sc.Region), "reason", reason(err), "error", err.Error())
				continue
			}
		}
		err = d.listScope(ctx, br, sr, fl, jobs, c)
		if err != nil {
			sr.incomplete.Store(true)
			if ctx.Err() == nil && !errors.Is(err, errBucketStopped) {
				c.errors.Add(1)
				d.opts.Metrics.Error(metrics.ErrorS3)
				log.Error("listing failed", "prefix", sc.Prefix, "reason", reason(err), "error", err.Error())
			}
			continue
		}
		if sr.listed.Load() == 0 {
			// An empty window: say what lies before it.
			if sr.older, err = d.olderThan(ctx, br, sr); err != nil {
				log.Debug("counting the objects before the window failed", "prefix", sc.Prefix, "error", err.Error())
			} else {
				sr.olderDone = true
			}
		}
		log.Debug("scope listed", "account", sc.AccountID, "region", sc.Region, "prefix", sc.Prefix,
			"window_start", day(sr.win.day), "window_from", string(sr.win.source), "start_after", sr.win.startAfter,
			"listed", sr.listed.Load(), "already_read", sr.alreadyRead.Load())
	}
	return br
}

func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// flowLogs returns the region's flow logs by id, asking EC2 once per pass.
// In the default mode (all files) an EC2 failure only costs the log
// formats of header-less files, so it is a warning; with
// flow_log_files: described it is an error for the region.
func (d *Daemon) flowLogs(ctx context.Context, br *bucketRun, region string, cache map[string]map[string]flowlogs.FlowLog) (map[string]flowlogs.FlowLog, error) {
	if m, ok := cache[region]; ok {
		return m, nil
	}
	m := map[string]flowlogs.FlowLog{}
	if br.clients.FlowLogs == nil {
		cache[region] = m
		if br.cfg.FlowLogFiles == config.FlowLogFilesDescribed {
			return nil, errors.New("no EC2 client")
		}
		return m, nil
	}
	key := br.cfg.ID() + " " + region
	described := br.cfg.FlowLogFiles == config.FlowLogFilesDescribed
	d.mu.Lock()
	failedAt, failed := d.describeFailed[key]
	d.mu.Unlock()
	if !described && failed && d.now().Sub(failedAt) < describeRetryAfter {
		cache[region] = m
		return m, nil
	}
	dctx, cancel := context.WithTimeout(ctx, describeTimeout)
	fls, err := br.clients.FlowLogs.Describe(dctx, region)
	cancel()
	if err != nil {
		if described {
			return nil, err
		}
		d.mu.Lock()
		d.describeFailed[key] = d.now()
		d.mu.Unlock()
		d.warnOnce("describe:"+key, "DescribeFlowLogs failed; files without a header line use the default format; not asked again for an hour",
			"bucket", br.cfg.Name, "region", region, "endpoint", describeEndpoint(br, region), "reason", reason(err), "error", err.Error())
	}
	for _, f := range fls {
		m[f.ID] = f
	}
	cache[region] = m
	return m, nil
}

// describeEndpoint names where a bucket's EC2 calls for region go.
func describeEndpoint(br *bucketRun, region string) string {
	if e, ok := br.clients.FlowLogs.(interface{ Endpoint(string) string }); ok {
		return e.Endpoint(region)
	}
	return br.cfg.EC2Endpoint
}

// listScope lists one scope and sends the objects not done to jobs.
func (d *Daemon) listScope(ctx context.Context, br *bucketRun, sr *scopeRun, fl map[string]flowlogs.FlowLog, jobs chan<- *job, c *counters) error {
	b := br.cfg
	ids := make([]state.ObjectID, 0, 1000)
	return br.clients.S3.List(ctx, b.Name, sr.scope.Prefix, sr.win.startAfter, func(page []s3.Object) error {
		ids = ids[:0]
		for _, o := range page {
			ids = append(ids, state.ObjectID{Bucket: o.Bucket, Key: o.Key, ETag: o.ETag})
		}
		done, err := d.opts.Store.Done(ids)
		if err != nil {
			return fmt.Errorf("state: %w", err)
		}
		for i, o := range page {
			sr.listed.Add(1)
			if done[i] || sr.win.known(o.Key) {
				sr.alreadyRead.Add(1)
				if b.RemoveFromBucket {
					d.removeLeftover(ctx, br, o)
				}
				continue
			}
			ki, _ := sr.scope.ParseKey(o.Key)
			f, known := fl[ki.FlowLogID]
			if b.Type == event.LogTypeVPCFlow && b.FlowLogFiles == config.FlowLogFilesDescribed && !known {
				sr.listed.Add(-1)
				continue
			}
			if br.stopped.Load() {
				return errBucketStopped
			}
			cl, busy, err := d.claimListed(ids[i])
			if err != nil {
				return err
			}
			if cl == nil {
				if busy {
					// An SQS queue of this process is reading it now; if
					// that fails, a later pass reads it.
					sr.incomplete.Store(true)
				}
				continue
			}
			j := &job{bucket: br, scope: sr, markScope: sr.scope.ID(), obj: o, c: c, claim: cl, origin: event.Origin{
				Type: b.Type, Bucket: o.Bucket, Key: o.Key, Path: o.Path(),
				AccountID: sr.scope.AccountID, AccountAlias: b.AccountAlias, Region: sr.scope.Region,
				ETag: o.ETag, LogFormat: f.LogFormat,
			}}
			c.listed.Add(1)
			d.iso.place(j, d.seq)
			select {
			case jobs <- j:
			case <-ctx.Done():
				c.listed.Add(-1)
				j.unplace(d.seq)
				d.iso.gone(j)
				cl.release()
				return ctx.Err()
			}
		}
		return nil
	})
}

// removeLeftover deletes an object that is done but still in the bucket
// (remove_from_bucket, after a crash between the mark and the delete).
func (d *Daemon) removeLeftover(ctx context.Context, br *bucketRun, o s3.Object) {
	if err := br.clients.S3.Delete(ctx, o.Bucket, o.Key); err != nil {
		d.warnOnce("delete:"+o.Path(), "remove_from_bucket: delete failed", "bucket", o.Bucket, "key", o.Key, "error", err.Error())
	}
}

// reason names an S3 failure for the log.
func reason(err error) string {
	var ce *s3.CredentialsError
	switch {
	case errors.As(err, &ce) && errors.Is(err, s3.ErrAccessDenied):
		return "access denied assuming the role (check sts:AssumeRole for the credentials and the role's trust policy)"
	case errors.Is(err, s3.ErrAccessDenied):
		return "access denied (check s3:ListBucket and s3:GetObject on the bucket)"
	case errors.Is(err, s3.ErrNoSuchBucket):
		return "bucket does not exist"
	case errors.Is(err, s3.ErrNoCredentials):
		return "no credentials found"
	case errors.Is(err, s3.ErrCredentials):
		return "credentials refused (unknown access key, wrong secret, or expired)"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, new(*net.DNSError)) || errors.As(err, new(*net.OpError)):
		return "unreachable (network: no route, refused or unknown host)"
	}
	return "error"
}
