// Package reporttest drives the report page in a real headless Chromium for
// tests: it starts the browser (Debian's chromium, installed by
// .ci/chromium.sh) with a fresh profile and no background networking, and
// records the page's console errors and network requests so that a test can
// assert there are none beyond the page itself.
package reporttest
