package report

import (
	"bytes"
	"net/http"
)

// Snapshotter is what Handler renders: an Aggregator, or an Observer (which
// counts what it has queued first).
type Snapshotter interface {
	Snapshot(meta Meta) *Snapshot
}

// Handler serves the page of src, rendered afresh for each request; meta
// describes it (Generated is set to the time of the request).
func Handler(src Snapshotter, meta Meta) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := meta
		m.Notes = append([]string(nil), meta.Notes...)
		var b bytes.Buffer
		if err := Render(&b, src.Snapshot(m)); err != nil {
			http.Error(w, "render the traffic page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")
		_, _ = w.Write(b.Bytes())
	})
}
