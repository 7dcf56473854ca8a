// Package docs holds vpcalertd's user documentation (the Markdown files
// beside this one) and the tests that keep every Markdown file of the
// repository true: each relative link and anchor resolves, no TODO is
// left, and nothing cites a file users do not have.
package docs
