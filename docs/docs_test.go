package docs

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the repository, from this package's directory.
const root = ".."

// markdownFiles returns every Markdown file of the repository (git's
// ignored directories aside), slash-separated and relative to root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && p != root) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, out)
	return out
}

var (
	// inlineLink is [text](target) or ![alt](target), target without spaces.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// refLink is a reference definition: [label]: target.
	refLink   = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s+(\S+)`)
	heading   = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	codeFence = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```")
	codeSpan  = regexp.MustCompile("`[^`\n]*`")
)

// links returns the link targets of a Markdown text, code left out.
func links(text string) []string {
	text = codeFence.ReplaceAllString(text, "")
	var out []string
	for _, line := range strings.Split(text, "\n") {
		line = codeSpan.ReplaceAllStringFunc(line, func(s string) string {
			// a link's text may be code: keep what a link needs
			return strings.Repeat("x", len(s))
		})
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	for _, m := range refLink.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// anchors returns the heading anchors of a Markdown text, as GitHub makes
// them: lower case, punctuation other than '-' and '_' dropped, spaces to
// '-', repeats numbered.
func anchors(text string) map[string]bool {
	text = codeFence.ReplaceAllString(text, "")
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(text, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f && r != '—' && r != '–' && r != '…' && r != '·':
				b.WriteRune(r)
			}
		}
		a := b.String()
		for n := 1; out[a]; n++ {
			a = b.String() + "-" + string(rune('0'+n))
		}
		out[a] = true
	}
	return out
}

// TestRelativeLinks follows every relative link of every Markdown file:
// the file (or directory) must exist, and an anchor must be a heading of
// the Markdown file it points into.
func TestRelativeLinks(t *testing.T) {
	checked := 0
	for _, md := range markdownFiles(t) {
		data, err := os.ReadFile(filepath.Join(root, md))
		require.NoError(t, err)
		for _, target := range links(string(data)) {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			dest := md
			if file != "" {
				dest = path.Clean(path.Join(path.Dir(md), file))
				if strings.HasPrefix(dest, "../") || path.IsAbs(file) {
					t.Errorf("%s: link %q leaves the repository", md, target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(dest))); err != nil {
					t.Errorf("%s: dangling link %q: %s does not exist", md, target, dest)
					continue
				}
			}
			checked++
			if frag == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			ddata, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(dest)))
			require.NoError(t, err)
			if !anchors(string(ddata))[frag] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", md, target, dest, frag)
			}
		}
	}
	assert.Greater(t, checked, 20, "the links were found")
}

// TestLinkChecker: the checker itself finds links, skips code, and makes
// GitHub's anchors.
func TestLinkChecker(t *testing.T) {
	got := links("see [a](a.md) and ![b](img/b.png) and `[c](c.md)` and\n```\n[d](d.md)\n```\n[e]: e.md#x\n[f `g`](f.md#h \"t\")\n")
	assert.Equal(t, []string{"a.md", "img/b.png", "f.md#h", "e.md#x"}, got)
	a := anchors("# The alerts.json line\n## The wodle's messages\n### 1. Names\n## Field matches: OS_Regex and OS_Match\n## Dup\n## Dup\n")
	for _, want := range []string{"the-alertsjson-line", "the-wodles-messages", "1-names", "field-matches-os_regex-and-os_match", "dup", "dup-1"} {
		assert.True(t, a[want], want)
	}
}

// TestNoTODOInDocs: the documentation has no TODO left.
func TestNoTODOInDocs(t *testing.T) {
	for _, md := range markdownFiles(t) {
		data, err := os.ReadFile(filepath.Join(root, md))
		require.NoError(t, err)
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "TODO") {
				t.Errorf("%s:%d: TODO left in the documentation: %s", md, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// TestNoCitationsUsersLack: no file of the repository cites notes that
// only the project's authors have; what the code follows of Wazuh is in
// docs/wazuh-compat.md, with where it is in Wazuh's source.
func TestNoCitationsUsersLack(t *testing.T) {
	bad := regexp.MustCompile(`reference/wazuh\.md|aws-formats\.md|DESIGN\.md|STYLE\.md|\.\./shared/`)
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "testdata" && strings.Contains(p, "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".md", ".yml", ".yaml", ".sh", "":
		default:
			return nil
		}
		if p == filepath.Join(root, "docs", "docs_test.go") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.IndexByte(data[:min(len(data), 8192)], 0) >= 0 {
			return nil // a binary (a built program left in the tree)
		}
		n++
		for i, line := range strings.Split(string(data), "\n") {
			if m := bad.FindString(line); m != "" {
				t.Errorf("%s:%d: cites %s, which users do not have; cite docs/wazuh-compat.md or the upstream source", p, i+1, m)
			}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Greater(t, n, 100)
}
