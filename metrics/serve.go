package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpcalertd/vpcalertd/specfile"
)

// DefaultAddr is where the endpoint listens when no address is configured.
const DefaultAddr = "127.0.0.1:9780"

// ErrNonLoopback is returned for a listen address that is not on the
// loopback interface when AllowNonLoopback is not set.
var ErrNonLoopback = errors.New("not a loopback address")

// Config is the daemon's `metrics` section.
type Config struct {
	// Listen is host:port for /metrics, /healthz and /readyz; empty means
	// DefaultAddr. A host other than 127.0.0.0/8, ::1 or localhost needs
	// AllowNonLoopback.
	Listen string `yaml:"listen"`
	// AllowNonLoopback permits a listen address reachable from other hosts
	// (for example ":9780" or "0.0.0.0:9780"). The endpoints carry no
	// secrets, but bucket names and error counts are operational data.
	AllowNonLoopback bool `yaml:"allow_non_loopback"`
}

// Validate checks the listen address. The error is a *specfile.Error
// naming the key (listen) and no position: the configuration that holds
// the section adds it.
func (c Config) Validate() error {
	if err := checkAddr(c.addr(), c.AllowNonLoopback); err != nil {
		return &specfile.Error{Key: "listen", Err: err}
	}
	return nil
}

func (c Config) addr() string {
	if c.Listen == "" {
		return DefaultAddr
	}
	return c.Listen
}

// ServeOptions tune Serve and Listen.
type ServeOptions struct {
	// AllowNonLoopback permits an address that is not on the loopback interface.
	AllowNonLoopback bool
	// ShutdownTimeout bounds how long in-flight scrapes may take once the
	// context is done; zero means 5 seconds.
	ShutdownTimeout time.Duration
	// Pages are more GET endpoints served on the same listener, under the
	// same address rules, by path (the daemon's /traffic).
	Pages map[string]http.Handler
}

// Handler returns the HTTP handler serving /metrics, /healthz and /readyz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", m.readyz)
	return mux
}

// Server is a listening metrics endpoint.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	opts ServeOptions
}

// Listen opens the listener for addr (DefaultAddr when empty) after checking
// that it is a loopback address or that opts allows otherwise.
func Listen(addr string, m *Metrics, opts ServeOptions) (*Server, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if err := checkAddr(addr, opts.AllowNonLoopback); err != nil {
		return nil, fmt.Errorf("metrics: listen %q: %w", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	handler := m.Handler()
	if len(opts.Pages) > 0 {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		for path, h := range opts.Pages {
			mux.Handle("GET "+path, h)
		}
		handler = mux
	}
	return &Server{
		ln:   ln,
		opts: opts,
		srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
		},
	}, nil
}

// Addr returns the address the server listens on (with the real port when
// the configured one was 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers requests until ctx is done, then shuts down gracefully. It
// returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	timeout := s.opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("metrics: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// Serve listens on addr (DefaultAddr when empty) and serves m until ctx is
// done. An address that is not loopback is refused unless
// opts.AllowNonLoopback is set.
func Serve(ctx context.Context, addr string, m *Metrics, opts ServeOptions) error {
	s, err := Listen(addr, m, opts)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// checkAddr accepts host:port whose host is a loopback IP or "localhost",
// and anything when allowNonLoopback is set (as long as it parses).
func checkAddr(addr string, allowNonLoopback bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if port == "" {
		return errors.New("want host:port: missing port")
	}
	if allowNonLoopback || isLoopback(host) {
		return nil
	}
	what := "host " + host
	if host == "" {
		what = "an empty host listens on every interface"
	}
	return fmt.Errorf("%s: %w; use 127.0.0.1:%s, or set allow_non_loopback to expose the endpoint",
		what, ErrNonLoopback, port)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
