package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The guide's examples are run: docs/authoring.md shows commands and what
// they print, and the files it shows are in docs/examples. These tests keep
// the two the same.
//
// In the guide, a comment line `<!-- example: DIR -->` says that the blocks
// after it belong to docs/examples/DIR. A block whose first line is
// `$ vpcalertd …` (or `$ echo '…' | vpcalertd …`, continued with `\`) is
// run there, in process, and its other lines must be what it prints
// (stdout then stderr, or stderr then stdout): a line `…` stands for any
// number of lines, a `…` inside a line for any text. A block of a file —
// after a line "`PATH`:" or starting with a comment line `# PATH` — must
// be that file of DIR, byte for byte.

const guide = "../../docs/authoring.md"

// docBlock is one fenced block of the guide.
type docBlock struct {
	line  int    // line of the opening fence
	dir   string // docs/examples/DIR it belongs to
	file  string // the file it shows, when it shows one
	lines []string
}

var (
	exampleDir = regexp.MustCompile(`^<!-- example: (\S+) -->$`)
	fileIntro  = regexp.MustCompile("^`([^`]+)`:$")
	fileHeader = regexp.MustCompile(`^# (my-rules/\S+)$`)
)

func guideBlocks(t *testing.T) []docBlock {
	t.Helper()
	data, err := os.ReadFile(guide)
	require.NoError(t, err)
	var out []docBlock
	dir, intro := "", ""
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := exampleDir.FindStringSubmatch(l); m != nil {
			dir = m[1]
			continue
		}
		if m := fileIntro.FindStringSubmatch(l); m != nil {
			intro = m[1]
			continue
		}
		if !strings.HasPrefix(l, "```") {
			if strings.TrimSpace(l) != "" {
				intro = ""
			}
			continue
		}
		b := docBlock{line: i + 1, dir: dir, file: intro}
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			b.lines = append(b.lines, lines[i])
		}
		if b.file == "" && len(b.lines) > 0 {
			if m := fileHeader.FindStringSubmatch(b.lines[0]); m != nil {
				b.file = m[1]
			}
		}
		out = append(out, b)
		intro = ""
	}
	return out
}

// TestGuideExamples runs the guide's commands and compares what they
// print, and compares the files it shows with docs/examples.
func TestGuideExamples(t *testing.T) {
	blocks := guideBlocks(t)
	commands, files := 0, 0
	for _, b := range blocks {
		name := fmt.Sprintf("line%d", b.line)
		switch {
		case b.file != "":
			files++
			t.Run(name+"/file", func(t *testing.T) {
				require.NotEmpty(t, b.dir, "%s:%d: no <!-- example: DIR --> before this file", guide, b.line)
				want, err := os.ReadFile(filepath.Join("../../docs/examples", b.dir, b.file))
				require.NoError(t, err, "%s:%d", guide, b.line)
				assert.Equal(t, string(want), strings.Join(b.lines, "\n")+"\n", "%s:%d shows %s of docs/examples/%s", guide, b.line, b.file, b.dir)
			})
		case len(b.lines) > 0 && strings.HasPrefix(b.lines[0], "$ "):
			commands++
			t.Run(name, func(t *testing.T) {
				require.NotEmpty(t, b.dir, "%s:%d: no <!-- example: DIR --> before this command", guide, b.line)
				runGuideCommand(t, b)
			})
		}
	}
	assert.GreaterOrEqual(t, commands, 6, "the guide's commands were found")
	assert.GreaterOrEqual(t, files, 3, "the guide's files were found")
}

func runGuideCommand(t *testing.T, b docBlock) {
	cmd := strings.TrimPrefix(b.lines[0], "$ ")
	rest := b.lines[1:]
	for strings.HasSuffix(cmd, `\`) && len(rest) > 0 {
		cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(rest[0])
		rest = rest[1:]
	}
	words, err := shellWords(cmd)
	require.NoError(t, err, "%s:%d: %s", guide, b.line, cmd)
	stdin := ""
	if len(words) > 0 && words[0] == "echo" {
		i := indexOf(words, "|")
		require.Positive(t, i, "%s:%d: echo without a pipe", guide, b.line)
		stdin = strings.Join(words[1:i], " ") + "\n"
		words = words[i+1:]
	}
	require.Equal(t, "vpcalertd", words[0], "%s:%d", guide, b.line)
	t.Chdir(filepath.Join("../../docs/examples", b.dir))
	var out, errb bytes.Buffer
	realMain(context.Background(), words[1:], strings.NewReader(stdin), &out, &errb)
	want := rest
	for _, got := range []string{out.String() + errb.String(), errb.String() + out.String()} {
		if matchLines(want, strings.Split(strings.TrimRight(got, "\n"), "\n")) {
			return
		}
	}
	t.Errorf("%s:%d: %s printed\n%s\n%s\nwhere the guide shows\n%s", guide, b.line, cmd, out.String(), errb.String(), strings.Join(want, "\n"))
}

func indexOf(words []string, w string) int {
	for i, x := range words {
		if x == w {
			return i
		}
	}
	return -1
}

// shellWords splits a command line as a shell would: words separated by
// spaces, single and double quotes kept together, "|" a word of its own.
func shellWords(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unclosed %c", c)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '|':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
			out = append(out, "|")
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// matchLines reports whether got matches want, where a want line "…"
// matches any number of lines and a "…" inside a line any text.
func matchLines(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "…" {
		for k := 0; k <= len(got); k++ {
			if matchLines(want[1:], got[k:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && matchLine(want[0], got[0]) && matchLines(want[1:], got[1:])
}

func matchLine(want, got string) bool {
	parts := strings.Split(want, "…")
	if len(parts) == 1 {
		return want == got
	}
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	got = got[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(got, p)
		if i < 0 {
			return false
		}
		got = got[i+len(p):]
	}
	return strings.HasSuffix(got, parts[len(parts)-1])
}

// TestGuideMatcher: the matcher of the guide's outputs.
func TestGuideMatcher(t *testing.T) {
	assert.True(t, matchLines([]string{"a", "…", "d"}, []string{"a", "b", "c", "d"}))
	assert.True(t, matchLines([]string{"a", "…", "b"}, []string{"a", "b"}))
	assert.False(t, matchLines([]string{"a", "…", "d"}, []string{"a", "b"}))
	assert.True(t, matchLines([]string{`{"x":…,"y":2}`}, []string{`{"x":{"z":1},"y":2}`}))
	assert.False(t, matchLines([]string{"a"}, []string{"a", "b"}))
	w, err := shellWords(`echo '2 1 x' | vpcalertd logtest -v --run "^1101"`)
	require.NoError(t, err)
	assert.Equal(t, []string{"echo", "2 1 x", "|", "vpcalertd", "logtest", "-v", "--run", "^1101"}, w)
}
