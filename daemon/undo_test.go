package daemon

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
	"github.com/vpcalertd/vpcalertd/collector/s3/s3test"
	"github.com/vpcalertd/vpcalertd/collector/state"
	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/output"
)

// undoObjects returns n flow-log objects of many records each (several of
// the engine's batches), with a port scan across every boundary (the
// scan objects' pattern) and a REJECT on every record, so that firedtimes
// and the scans' windows count over all of them.
func undoObjects(n int) (keys []string, bodies [][]byte) {
	return boundaryScans(n, func(line flowLine, start int64) {
		for i := 0; i < 4000; i++ {
			line(fmt.Sprintf("203.0.%d.%d", 113+i/250, i%250+1), 10000+i*7%50000, 443, start+10+int64(i)/10)
		}
	})
}

// cutProxy stands between the daemon and the S3 server: while armed, the
// first GET of key gets the first cut bytes of the object and then a
// broken connection, and the resumes (ranged GETs) are refused (403), so
// that the daemon's read of it fails half-way, after its first records
// reached the rules.
type cutProxy struct {
	*httptest.Server
	key   string
	cut   int64
	armed atomic.Bool
	cuts  atomic.Int32
}

func newCutProxy(t *testing.T, endpoint, key string, cut int64) *cutProxy {
	target, err := url.Parse(endpoint)
	require.NoError(t, err)
	p := &cutProxy{key: key, cut: cut}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = func(resp *http.Response) error {
		if p.armed.Load() && resp.Request.Method == http.MethodGet && strings.HasSuffix(resp.Request.URL.Path, "/"+p.key) && resp.StatusCode == http.StatusOK {
			p.cuts.Add(1)
			// p.cut bytes, then a broken download.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(io.LimitReader(resp.Body, p.cut), iotest.ErrReader(io.ErrUnexpectedEOF)), resp.Body}
		}
		return nil
	}
	p.armed.Store(true)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.armed.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+p.key) && r.Header.Get("Range") != "" {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// TestRetriedReadCountsOnce: a read that fails half-way inside a running
// daemon (its download broken, the resumes refused) has already fed its
// first records to the correlation rules; the object is read again at the
// next pass. Its records must count once: the alerts of the two passes are
// replay's, firedtimes and the port scans included. Without the engine's
// undo (Object.Undo) the re-read counts the first records again, and
// firedtimes runs ahead.
func TestRetriedReadCountsOnce(t *testing.T) {
	srv := s3test.Need(t)
	awsEnv(t)
	dir := t.TempDir()
	bucket := srv.NewBucket(t, "undo-it")
	keys, bodies := undoObjects(3)
	replayed, stored := putAndReplay(t, srv, bucket, keys, bodies)
	last := stored[len(stored)-1]
	// The last object is cut half-way: read again at the next pass, it
	// comes after the same objects as in replay.
	proxy := newCutProxy(t, srv.Endpoint, keys[2], int64(len(last)/2))

	cfg, err := config.Load(writeConfig(t, dir, fmt.Sprintf(`
state: state.db
look_back: 5000d
outputs: {file: {path: alerts.json}}
buckets: [{type: vpcflow, name: %s, only_logs_after: 2024-MAR-05, service_endpoint: %q}]
`, bucket, proxy.URL)))
	require.NoError(t, err)

	want := alertContents(t, replayed)

	store, err := state.Open(cfg.StatePath)
	require.NoError(t, err)
	defer store.Close()
	file, _, err := output.OpenFile(cfg.Output.File.Path, output.FileOptions{}, nil)
	require.NoError(t, err)
	var sink alert.Sink = file
	proc, err := NewEngine(cfg, 0, nil)
	require.NoError(t, err)
	var logs syncBuffer
	d, err := New(Options{Config: cfg, Processor: proc, Sink: sink, File: file, Store: store,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	require.NoError(t, err)

	res, err := d.Pass(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, proxy.cuts.Load(), "the last object's download was cut")
	assert.EqualValues(t, 2, res.Stats.Objects, logs.String())
	require.Contains(t, logs.String(), `"msg":"object not read, tried again next pass"`)
	require.Contains(t, logs.String(), "access denied")

	proxy.armed.Store(false)
	res, err = d.Pass(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, 1, res.Stats.Objects, logs.String())
	require.NoError(t, file.Close())

	got := alertContents(t, cfg.Output.File.Path)
	require.NotEmpty(t, want)
	if !assert.Equal(t, len(want), len(got), "as many alerts as replay") || !assert.Equal(t, want, got, "replay's alerts, firedtimes and scans included") {
		reportDiff(t, want, got)
	}
}
