package reporttest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/vpcalertd/vpcalertd/internal/testproc"
)

// ChromiumPath returns the headless browser to use: $CHROMIUM, else the
// first of chromium, chromium-browser and google-chrome on PATH; "" when
// none.
func ChromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Page is a browser tab with what it has logged and requested so far.
type Page struct {
	Ctx     context.Context
	close   func()
	dataDir string     // the browser's profile
	mu      sync.Mutex // guards the fields below
	// errors are console errors and uncaught exceptions, as text.
	errors []string
	// requests are the URLs the page asked for, the page itself included.
	requests []string
}

// Close stops the browser and waits for it to exit; the test's cleanup
// does it too.
func (p *Page) Close() { p.close() }

// Errors returns the console errors and exceptions seen so far.
func (p *Page) Errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

// Requests returns the URLs requested so far.
func (p *Page) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// profilePrefix names the browser's profile folders (internal/testproc).
const profilePrefix = "vpcalertd-chromium"

// NewPage starts a headless Chromium for the test (killed with the test
// binary, and at the end of the test) and returns an empty tab that records
// console errors and network requests. Without a Chromium the test is
// skipped with the reason, or fails when $CI is set: CI installs one
// (.ci/chromium.sh), so there the page tests always run.
func NewPage(t testing.TB) *Page {
	t.Helper()
	if testing.Short() {
		t.Skip("starts headless Chromium (seconds per page); -short leaves the page tests out, .ci/test runs them")
	}
	path := ChromiumPath()
	if path == "" {
		msg := "no chromium on PATH (and $CHROMIUM unset): the page tests need Debian's chromium; run bash .ci/chromium.sh"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// The profile folder is named after this test binary, so that one
	// left by a killed run is removed by the next (internal/testproc).
	dataDir, err := testproc.TempDir(profilePrefix)
	if err != nil {
		t.Fatalf("chromium profile folder: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dataDir) }) // after p.Close below
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dataDir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1400, 1500),
		// chromedp's default command options set Pdeathsig (SIGKILL), so the
		// browser dies with the test binary.
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	p := &Page{Ctx: ctx, dataDir: dataDir, close: sync.OnceFunc(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc() // waits for the browser to exit
	})}
	t.Cleanup(p.Close)
	// Starting the browser first makes Listen see the tab's first events.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	err = chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				p.errors = append(p.errors, "console."+string(ev.Type)+": "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			p.errors = append(p.errors, "exception: "+msg)
		case *network.EventRequestWillBeSent:
			p.requests = append(p.requests, ev.Request.URL)
		}
	})
	if err != nil {
		t.Fatalf("listen to chromium: %v", err)
	}
	return p
}
