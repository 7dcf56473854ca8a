package metrics

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// health holds the named readiness checks behind /readyz.
type health struct {
	// mu guards checks.
	mu     sync.Mutex
	checks map[string]error // check name -> nil when ready, else why not
	notes  map[string]string
}

func (h *health) init() { h.checks, h.notes = make(map[string]error), make(map[string]string) }

// SetNote records a detail /readyz shows without making the daemon not
// ready (a component that works in a degraded way, such as a shared
// correlation store the daemon falls back from); "" clears it, and the
// line then says ok.
func (m *Metrics) SetNote(name, note string) {
	if m == nil {
		return
	}
	m.health.mu.Lock()
	m.health.notes[name] = note
	m.health.mu.Unlock()
}

// SetReady records the state of one named readiness check (for example
// "sqs https://…/queue" or "s3 bucket my-logs"): err nil means ready. /readyz
// answers 200 only when at least one check is registered and all are ready.
func (m *Metrics) SetReady(name string, err error) {
	if m == nil {
		return
	}
	m.health.mu.Lock()
	m.health.checks[name] = err
	m.health.mu.Unlock()
}

// RemoveReady drops a readiness check, for a component that stopped on purpose.
func (m *Metrics) RemoveReady(name string) {
	if m == nil {
		return
	}
	m.health.mu.Lock()
	delete(m.health.checks, name)
	m.health.mu.Unlock()
}

// Ready reports whether /readyz would answer 200, and one line per check.
func (m *Metrics) Ready() (bool, []string) {
	m.health.mu.Lock()
	defer m.health.mu.Unlock()
	if len(m.health.checks) == 0 {
		return false, []string{"starting: no component has reported yet"}
	}
	ready := true
	lines := make([]string, 0, len(m.health.checks))
	for name, err := range m.health.checks {
		if err != nil {
			ready = false
			lines = append(lines, fmt.Sprintf("%s: not ready: %v", name, err))
		} else {
			lines = append(lines, name+": ok")
		}
	}
	for name, note := range m.health.notes {
		if note == "" {
			lines = append(lines, name+": ok")
		} else {
			lines = append(lines, name+": degraded: "+note)
		}
	}
	sort.Strings(lines)
	return ready, lines
}

// healthz answers 200 while the process serves HTTP: liveness only.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when every readiness check is ready, else 503; the body
// lists the checks.
func (m *Metrics) readyz(w http.ResponseWriter, _ *http.Request) {
	ready, lines := m.Ready()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(strings.Join(lines, "\n") + "\n"))
}
