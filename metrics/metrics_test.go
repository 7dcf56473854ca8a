package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/metrics/metricstest"
)

// serve starts m on a free loopback port and returns the base URL.
func serve(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv, err := metrics.Listen("127.0.0.1:0", m, metrics.ServeOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "http://" + srv.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestScrapeCounts(t *testing.T) {
	m := metrics.New(metrics.Options{})
	base := serve(t, m)

	created := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		end := m.ObjectStarted(created.Add(time.Duration(i) * time.Minute))
		m.ObjectDone(created.Add(time.Duration(i)*time.Minute), 1000)
		m.Records(250)
		end()
	}
	m.Alert("80202", 3)
	m.Alert("80202", 3)
	m.Alert("100210", 10)
	m.Error(metrics.ErrorObject)
	m.Error(metrics.ErrorKind("custom"))
	m.Message(metrics.MessageReceived)
	m.Message(metrics.MessageDeleted)
	m.MessagesInFlight(+2)
	m.MessagesInFlight(-1)
	m.VisibilityExtended()
	m.SetIndexerQueue(42)

	s := metricstest.Scrape(t, base+"/metrics")
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vpcalertd_objects_processed_total", nil, 3},
		{"vpcalertd_bytes_processed_total", nil, 3000},
		{"vpcalertd_records_processed_total", nil, 750},
		{"vpcalertd_alerts_total", []string{"rule_id", "80202", "level", "3"}, 2},
		{"vpcalertd_alerts_total", []string{"rule_id", "100210", "level", "10"}, 1},
		{"vpcalertd_errors_total", []string{"kind", "object"}, 1},
		{"vpcalertd_errors_total", []string{"kind", "custom"}, 1},
		{"vpcalertd_errors_total", []string{"kind", "sqs_receive"}, 0},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "received"}, 1},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "deleted"}, 1},
		{"vpcalertd_sqs_messages_total", []string{"outcome", "quarantined"}, 0},
		{"vpcalertd_sqs_messages_in_flight", nil, 1},
		{"vpcalertd_sqs_visibility_extensions_total", nil, 1},
		{"vpcalertd_indexer_queue_size", nil, 42},
		{"vpcalertd_indexer_queue_bytes", nil, 0},
		{"vpcalertd_objects_in_flight", nil, 0},
		{"vpcalertd_oldest_object_age_seconds", nil, 0},
		{"vpcalertd_object_lag_seconds", nil, 0},
	}
	for _, tt := range tests {
		t.Run(metricstest.Key(tt.name, tt.labels...), func(t *testing.T) {
			require.True(t, s.Has(tt.name, tt.labels...), "sample missing")
			assert.Equal(t, tt.want, s.Get(tt.name, tt.labels...))
		})
	}
	assert.True(t, s.Has("go_goroutines"), "Go runtime collector registered")
}

func TestRegistriesAreSeparate(t *testing.T) {
	a := metrics.New(metrics.Options{NoProcessMetrics: true})
	b := metrics.New(metrics.Options{NoProcessMetrics: true})
	a.Records(5)
	sa := metricstest.Scrape(t, serve(t, a)+"/metrics")
	sb := metricstest.Scrape(t, serve(t, b)+"/metrics")
	assert.Equal(t, 5.0, sa.Get("vpcalertd_records_processed_total"))
	assert.Equal(t, 0.0, sb.Get("vpcalertd_records_processed_total"))
	assert.False(t, sa.Has("go_goroutines"))
}

func TestAgeAndLag(t *testing.T) {
	now := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	m := metrics.New(metrics.Options{Clock: func() time.Time { return now }, NoProcessMetrics: true})
	t0 := now.Add(-10 * time.Minute)
	t1 := now.Add(-4 * time.Minute)
	t2 := now.Add(-1 * time.Minute)

	assert.Zero(t, m.OldestObjectAge(), "nothing in flight")
	assert.Zero(t, m.Lag(), "nothing known")

	end0 := m.ObjectStarted(t0)
	end1 := m.ObjectStarted(t1)
	assert.Equal(t, 10*time.Minute, m.OldestObjectAge())
	assert.Equal(t, 4*time.Minute, m.Lag(), "nothing done yet: since the newest started")

	m.ObjectDone(t0, 1)
	end0()
	assert.Equal(t, 4*time.Minute, m.OldestObjectAge(), "t1 is the oldest left")
	assert.Equal(t, 10*time.Minute, m.Lag(), "t1 pending: alerts are as fresh as t0")

	end2 := m.ObjectStarted(t2)
	m.ObjectDone(t2, 1)
	end2()
	assert.Zero(t, m.Lag(), "the newest known object is done")
	assert.Equal(t, 4*time.Minute, m.OldestObjectAge(), "t1 still in flight")

	end1() // failed: not done, no longer in flight
	end1() // a second call is harmless
	assert.Zero(t, m.OldestObjectAge())

	base := serve(t, m)
	s := metricstest.Scrape(t, base+"/metrics")
	assert.Equal(t, 2.0, s.Get("vpcalertd_objects_processed_total"))
}

func TestNilMetricsIgnoresCalls(t *testing.T) {
	var m *metrics.Metrics
	end := m.ObjectStarted(time.Now())
	end()
	m.ObjectDone(time.Now(), 1)
	m.Records(1)
	m.Alert("80202", 3)
	m.Error(metrics.ErrorS3)
	m.Message(metrics.MessageReceived)
	m.MessagesInFlight(1)
	m.VisibilityExtended()
	m.SetIndexerQueue(1)
	m.IndexerQueue(func() (int64, int64) { return 1, 1 })
	m.SetReady("x", nil)
	m.RemoveReady("x")
	assert.Zero(t, m.Lag())
	assert.Zero(t, m.OldestObjectAge())
}

func TestHealthAndReadiness(t *testing.T) {
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	base := serve(t, m)

	code, body := get(t, base+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	steps := []struct {
		name     string
		apply    func()
		wantCode int
		wantBody string
	}{
		{"nothing-reported", func() {}, http.StatusServiceUnavailable, "starting: no component has reported yet\n"},
		{"one-not-ready", func() { m.SetReady("sqs q1", errors.New("receive: connection refused")) },
			http.StatusServiceUnavailable, "sqs q1: not ready: receive: connection refused\n"},
		{"one-ready", func() { m.SetReady("sqs q1", nil) }, http.StatusOK, "sqs q1: ok\n"},
		{"second-not-ready", func() { m.SetReady("s3 logs", errors.New("access denied")) },
			http.StatusServiceUnavailable, "s3 logs: not ready: access denied\nsqs q1: ok\n"},
		{"second-removed", func() { m.RemoveReady("s3 logs") }, http.StatusOK, "sqs q1: ok\n"},
	}
	for _, st := range steps {
		st.apply()
		code, body := get(t, base+"/readyz")
		assert.Equal(t, st.wantCode, code, st.name)
		assert.Equal(t, st.wantBody, body, st.name)
	}

	code, _ = get(t, base+"/nope")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestListenAddress(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		allow   bool
		wantErr string
	}{
		{"loopback-v4", "127.0.0.1:0", false, ""},
		{"loopback-v4-other", "127.0.0.2:0", false, ""},
		{"localhost", "localhost:0", false, ""},
		{"all-interfaces", ":0", false, `metrics: listen ":0": an empty host listens on every interface: not a loopback address; use 127.0.0.1:0, or set allow_non_loopback to expose the endpoint`},
		{"any-v4", "0.0.0.0:0", false, `metrics: listen "0.0.0.0:0": host 0.0.0.0: not a loopback address; use 127.0.0.1:0, or set allow_non_loopback to expose the endpoint`},
		{"private", "10.1.2.3:9780", false, "host 10.1.2.3: not a loopback address"},
		{"hostname", "metrics.example:9780", false, "host metrics.example: not a loopback address"},
		{"no-port", "127.0.0.1", false, "want host:port"},
		{"loopback-allowed", "127.0.0.1:0", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metrics.New(metrics.Options{NoProcessMetrics: true})
			srv, err := metrics.Listen(tt.addr, m, metrics.ServeOptions{AllowNonLoopback: tt.allow})
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				if tt.name != "no-port" {
					assert.ErrorIs(t, err, metrics.ErrNonLoopback)
				}
				return
			}
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			require.NoError(t, srv.Serve(ctx))
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     metrics.Config
		wantErr string
	}{
		{"default", metrics.Config{}, ""},
		{"loopback", metrics.Config{Listen: "127.0.0.1:9100"}, ""},
		{"public-refused", metrics.Config{Listen: ":9100"}, "listen: an empty host listens on every interface: not a loopback address"},
		{"public-allowed", metrics.Config{Listen: ":9100", AllowNonLoopback: true}, ""},
		{"garbage", metrics.Config{Listen: "nine"}, "listen: want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestServeStopsWithContext(t *testing.T) {
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, "127.0.0.1:0", m, metrics.ServeOptions{}) }()
	cancel()
	require.NoError(t, <-done)
}

func TestIndexerQueueFunc(t *testing.T) {
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	m.SetIndexerQueue(5)
	s := metricstest.Gather(t, m.Registry())
	assert.Equal(t, 5.0, s.Get("vpcalertd_indexer_queue_size"))
	docs, bytes := int64(7), int64(7000)
	m.IndexerQueue(func() (int64, int64) { return docs, bytes })
	s = metricstest.Gather(t, m.Registry())
	assert.Equal(t, 7.0, s.Get("vpcalertd_indexer_queue_size"), "read at each scrape")
	assert.Equal(t, 7000.0, s.Get("vpcalertd_indexer_queue_bytes"))
	docs, bytes = 0, 0
	s = metricstest.Gather(t, m.Registry())
	assert.Equal(t, 0.0, s.Get("vpcalertd_indexer_queue_bytes"))

	assert.Equal(t, 0.0, s.Get("vpcalertd_indexer_documents_retrying"), "no source yet")
	retrying := int64(12)
	m.IndexerRetrying(func() int64 { return retrying })
	s = metricstest.Gather(t, m.Registry())
	assert.Equal(t, 12.0, s.Get("vpcalertd_indexer_documents_retrying"))
}

func TestRuleErrors(t *testing.T) {
	m := metrics.New(metrics.Options{NoProcessMetrics: true})
	base := serve(t, m)
	_, body := get(t, base+"/metrics")
	assert.NotContains(t, body, "vpcalertd_rule_errors_total{", "no source yet: no series")
	counts := map[string]int64{"110200": 3}
	m.RuleErrors(func() map[string]int64 { return counts })
	_, body = get(t, base+"/metrics")
	assert.Contains(t, body, `vpcalertd_rule_errors_total{rule_id="110200"} 3`)
	counts = map[string]int64{"110200": 5, "110201": 1}
	_, body = get(t, base+"/metrics")
	assert.Contains(t, body, `vpcalertd_rule_errors_total{rule_id="110200"} 5`)
	assert.Contains(t, body, `vpcalertd_rule_errors_total{rule_id="110201"} 1`)
	var nilM *metrics.Metrics
	nilM.RuleErrors(func() map[string]int64 { return nil })
}
