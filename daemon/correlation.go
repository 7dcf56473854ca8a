package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpcalertd/vpcalertd/config"
	"github.com/vpcalertd/vpcalertd/metrics"
	"github.com/vpcalertd/vpcalertd/rules/redisstore"
)

// correlation is the shared correlation store of the daemon's
// configuration (docs/sqs.md, "Scale-out"), nil with store: memory.
type correlation struct {
	store *redisstore.Store
	name  string // its readiness check: "correlation redis host:port"
	// metrics is set once the metrics endpoint exists.
	metrics atomic.Pointer[metrics.Metrics]
}

// openStores are the correlation stores Serve opened, by configuration.
var openStores storeTable

type storeTable struct{ m sync.Map }

func (t *storeTable) put(cfg *config.Config, c *correlation) {
	if c == nil {
		t.m.Delete(cfg)
		return
	}
	t.m.Store(cfg, c)
}

func (t *storeTable) of(cfg *config.Config) *correlation {
	c, _ := t.m.Load(cfg)
	corr, _ := c.(*correlation)
	return corr
}

// openCorrelation opens the store of cfg.Correlation. A configuration it
// cannot use (password file, CA file) is an error; an unreachable server is
// not: the daemon starts, correlates in the process and says so (WARN,
// vpcalertd_correlation_store_available 0, /readyz detail) until the server
// answers.
func openCorrelation(cfg *config.Config, log *slog.Logger) (*correlation, error) {
	r := cfg.Correlation.Redis
	if cfg.Correlation.Store != config.CorrelationRedis || r == nil {
		return nil, nil
	}
	o := redisstore.Options{Address: r.Address, Username: r.Username, DB: r.DB, Logger: log}
	o.Batch.KeyPrefix = r.KeyPrefix
	if r.PasswordFile != "" {
		b, err := os.ReadFile(r.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("correlation.redis.password_file: %w", err)
		}
		o.Password, _, _ = strings.Cut(string(b), "\n")
		o.Password = strings.TrimRight(o.Password, "\r")
		if o.Password == "" {
			return nil, fmt.Errorf("correlation.redis.password_file: %s: the first line is empty", r.PasswordFile)
		}
	}
	if t := r.TLS; t != nil {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("correlation.redis.tls.ca_file: %w", err)
			}
			o.TLS.RootCAs = x509.NewCertPool()
			if !o.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("correlation.redis.tls.ca_file: %s: no PEM certificate in it", t.CAFile)
			}
		}
	}
	c := &correlation{name: "correlation redis " + r.Address}
	o.OnChange = func(redisstore.Status) { c.report() }
	c.store = redisstore.Open(o)
	if c.store.Available() {
		log.Info("correlation store: redis", "address", r.Address, "db", r.DB, "key_prefix", r.KeyPrefix)
	}
	return c, nil
}

// watch exports the store's state on m: metrics and the /readyz detail.
func (c *correlation) watch(m *metrics.Metrics) {
	if c == nil || m == nil {
		return
	}
	st := c.store
	m.Registry().MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vpcalertd_correlation_store_available",
			Help: "1 while the shared correlation store (correlation.store: redis) answers, 0 while the daemon correlates in the process instead."},
			func() float64 {
				if st.Available() {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vpcalertd_correlation_local_events_total",
			Help: "Events that reached a correlation rule and were correlated in the process because the shared store was unavailable."},
			func() float64 { return float64(st.Status().LocalEvents) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "vpcalertd_correlation_store_outages_total",
			Help: "Times the shared correlation store became unavailable."},
			func() float64 { return float64(st.Status().Outages) }),
	)
	c.metrics.Store(m)
	c.report()
}

// report puts the store's state in /readyz: a detail line, never a reason
// to be not ready (ingestion goes on, correlated in the process).
func (c *correlation) report() {
	m := c.metrics.Load()
	if m == nil {
		return
	}
	s := c.store.Status()
	if s.Available {
		m.SetNote(c.name, "")
		return
	}
	err := s.Err
	if err == nil {
		err = errors.New("not answering")
	}
	m.SetNote(c.name, fmt.Sprintf("unavailable since %s, correlating in this process (%d events so far): %v",
		s.Since.UTC().Format(time.RFC3339), s.LocalEvents, err))
}

func (c *correlation) close() {
	if c != nil {
		_ = c.store.Close()
	}
}
