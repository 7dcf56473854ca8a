package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/collector"
)

// docTable returns the rows of the markdown table that follows marker in
// docs/daemon.md, each a list of cells with their code spans' backticks
// removed (a cell that is one code span), header and rule left out.
func docTable(t *testing.T, marker string) [][]string {
	t.Helper()
	data, err := os.ReadFile("../docs/daemon.md")
	require.NoError(t, err)
	text := string(data)
	i := strings.Index(text, marker)
	require.True(t, i >= 0, "docs/daemon.md has no %q", marker)
	var rows [][]string
	for n, line := range strings.Split(text[i:], "\n")[1:] {
		if !strings.HasPrefix(line, "|") {
			if len(rows) > 0 || n > 1 {
				break
			}
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), " | ")
		if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| element |") || strings.HasPrefix(line, "| key |") ||
			strings.HasPrefix(line, "| partition |") {
			continue
		}
		for j, c := range cells {
			if strings.Count(c, "`") == 2 && strings.HasPrefix(c, "`") && strings.HasSuffix(c, "`") {
				cells[j] = c[1 : len(c)-1]
			}
		}
		rows = append(rows, cells)
	}
	return rows
}

// hasLine asserts that one of lines is want (a prefix when want ends with
// "…").
func hasLine(t *testing.T, lines []string, want string) {
	t.Helper()
	p, prefix := strings.CutSuffix(want, "…")
	for _, l := range lines {
		if l == want || prefix && strings.HasPrefix(l, p) {
			return
		}
	}
	assert.Fail(t, "message not found", "want %s\nin\n%s", want, strings.Join(lines, "\n"))
}

var snippetElem = regexp.MustCompile(`^<([a-z_]+)`)

// TestDocsWodleValidation feeds each refused value of docs/daemon.md's
// table of the wodle block through an ossec.conf and checks the message at
// the element's line.
func TestDocsWodleValidation(t *testing.T) {
	rows := docTable(t, "<!-- validation: ossec rows")
	require.GreaterOrEqual(t, len(rows), 15)
	for _, r := range rows {
		require.Len(t, r, 5, "row %v", r)
		elemCell, snippet, msg := r[0], r[3], r[4]
		name := snippetElem.FindStringSubmatch(snippet)[1]
		var lines []string
		var line int
		var key string
		switch {
		case name == "bucket": // the opening tag
			lines, line, key = []string{`    ` + snippet, `      <name>b-1</name>`, `    </bucket>`}, 3, "<bucket> 1"
		case !strings.HasPrefix(elemCell, "`<bucket>`"): // a module element
			lines, line, key = []string{`    ` + snippet, `    <bucket type="vpcflow">`, `      <name>b-1</name>`, `    </bucket>`}, 3, "<"+name+">"
		case name == "name":
			lines, line, key = []string{`    <bucket type="vpcflow">`, `      ` + snippet, `    </bucket>`}, 4, "<bucket> 1 <name>"
		default:
			lines, line, key = []string{`    <bucket type="vpcflow">`, `      <name>b-1</name>`, `      ` + snippet, `    </bucket>`}, 5, "<bucket> 1 <"+name+">"
		}
		t.Run(snippet, func(t *testing.T) {
			_, errs, _ := loadOssec(t, ossecConf(lines...))
			require.NotEmpty(t, errs, "refused")
			hasLine(t, errs, fmt.Sprintf("o.conf:%d: %s: %s", line, key, msg))
		})
	}
}

// TestDocsYAMLValidation feeds each refused value of docs/daemon.md's
// table of YAML settings through a YAML file and checks the message at the
// value's line and column.
func TestDocsYAMLValidation(t *testing.T) {
	rows := docTable(t, "<!-- validation: yaml rows")
	require.GreaterOrEqual(t, len(rows), 15)
	for _, r := range rows {
		require.Len(t, r, 4, "row %v", r)
		key, _, _ := strings.Cut(strings.Trim(r[0], "`"), "`")
		yml, msg := r[2], r[3]
		key = strings.ReplaceAll(key, "[]", "[0]")
		seg := key[strings.LastIndex(key, ".")+1:]
		at := strings.Index(yml, seg+": ")
		require.True(t, at >= 0, "%q in %q", seg, yml)
		col := at + len(seg) + 3
		t.Run(key, func(t *testing.T) {
			body := yml + "\n"
			if !strings.HasPrefix(yml, "buckets:") {
				body += "buckets: [{type: vpcflow, name: b-1}]\n"
			}
			dir := t.TempDir()
			_, err := Load(writeFile(t, dir, "c.yml", body))
			require.Error(t, err)
			hasLine(t, strings.Split(stripDir(dir, err.Error()), "\n"), fmt.Sprintf("c.yml:1:%d: %s: %s", col, key, msg))
		})
	}
}

// TestDocsRegions keeps docs/daemon.md's table of regions equal to
// collector.Partitions.
func TestDocsRegions(t *testing.T) {
	rows := docTable(t, "<!-- regions:")
	require.Len(t, rows, len(collector.Partitions))
	for i, p := range collector.Partitions {
		var codes []string
		for _, r := range p.Regions {
			codes = append(codes, r.Code)
		}
		assert.Equal(t, []string{p.ID, strings.Join(codes, ", ")}, []string{rows[i][0], strings.ReplaceAll(rows[i][1], "`", "")})
	}
}
