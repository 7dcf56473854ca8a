package reporttest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPageRecordsErrorsAndRequests: the checks the page tests rely on can
// fail — a console error, an exception and a request beyond the page are
// all seen.
func TestPageRecordsErrorsAndRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.html")
	html := `<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png">
<script>console.error("boom"); setTimeout(function () { throw new Error("late"); }, 0);</script></body></html>`
	require.NoError(t, os.WriteFile(path, []byte(html), 0o644))
	p := NewPage(t)
	require.NoError(t, chromedp.Do(p.Ctx, chromedp.Navigate("file://"+path)))
	deadline := time.Now().Add(30 * time.Second)
	for len(p.Errors()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	errs := p.Errors()
	require.Len(t, errs, 2)
	assert.Contains(t, errs[0], "boom")
	assert.Contains(t, errs[1], "late")
	assert.True(t, slices.Contains(p.Requests(), "http://127.0.0.1:9/pixel.png"), p.Requests())
}
