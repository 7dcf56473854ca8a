package specfile

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Pos: Pos{File: "r.yml", Line: 4, Column: 7}, Subject: "rule 100", Key: "level", Err: errors.New("bad")}, "r.yml:4:7: rule 100: level: bad"},
		{&Error{Pos: Pos{Layer: "built-in", File: "rules/a.yml", Line: 201}, Err: errors.New("bad")}, "built-in:rules/a.yml:201: bad"},
		{&Error{Pos: Pos{File: "o.conf", Column: 3}, Key: "<bucket>", Err: errors.New("bad")}, "o.conf: <bucket>: bad"},
		{&Error{Key: "queue_url", Err: errors.New("required")}, "queue_url: required"},
		{&Error{Pos: Pos{File: "l"}, Err: fs.ErrNotExist}, "l: file does not exist"},
	} {
		assert.Equal(t, tc.want, tc.err.Error())
	}
	e := Errorf(Pos{File: "x"}, "k", "wrapped: %w", fs.ErrNotExist)
	assert.ErrorIs(t, e, fs.ErrNotExist)
}

// TestJoinOrder: files keep the order of their first error, positions are
// sorted inside a file, errors without a file come first, nested joins are
// flattened and errors.As finds each part.
func TestJoinOrder(t *testing.T) {
	t.Parallel()
	at := func(file string, line, col int) error {
		return &Error{Pos: Pos{File: file, Line: line, Column: col}, Err: errors.New("e")}
	}
	err := Join(
		at("b.yml", 9, 1),
		errors.Join(at("a.yml", 3, 2), nil, at("b.yml", 2, 5)),
		errors.New("no position"),
		at("a.yml", 3, 1),
		&Error{Pos: Pos{Layer: "user", File: "a.yml", Line: 1}, Err: errors.New("e")},
		at("b.yml", 2, 1),
	)
	assert.Equal(t, strings.Join([]string{
		"no position",
		"b.yml:2:1: e", "b.yml:2:5: e", "b.yml:9:1: e",
		"a.yml:3:1: e", "a.yml:3:2: e",
		"user:a.yml:1: e",
	}, "\n"), err.Error())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Len(t, Flatten(err), 7)
	assert.NoError(t, Join(nil, errors.Join()))
}

type node struct {
	Name  string         `yaml:"name"`
	Count int            `yaml:"count,omitempty"`
	On    *bool          `yaml:"on"`
	Every time.Duration  `yaml:"every"`
	Tags  []string       `yaml:"tags"`
	Sub   *node          `yaml:"sub"`
	Attrs map[string]int `yaml:"attrs"`
	Raw   yaml.Node      `yaml:"raw"`
	Any   any            `yaml:"any"`
	Node  *yaml.Node     `yaml:"-"`
	skip  string         `yaml:"skip"` // unexported: never decoded
}

// upper decodes itself through the NodeDecoder hook.
type upper string

func (u *upper) DecodeNode(d *Decoder, n *yaml.Node, key string) {
	if n == nil || n.Kind != yaml.ScalarNode {
		d.Errorf(n, key, "expected a word")
		return
	}
	*u = upper(strings.ToUpper(n.Value))
}

// sized decodes itself through yaml.Unmarshaler.
type sized int

func (s *sized) UnmarshalYAML(n *yaml.Node) error {
	if n.Value != "big" {
		return fmt.Errorf("want big, got %q", n.Value)
	}
	*s = 100
	return nil
}

func decode(t *testing.T, src string, v any) []string {
	t.Helper()
	root, err := Parse("f.yml", []byte(src))
	require.NoError(t, err)
	d := NewDecoder("f.yml", []byte(src))
	d.Subject = "thing x"
	d.Decode(root, "", v)
	var out []string
	for _, e := range d.Errors() {
		var se *Error
		require.ErrorAs(t, e, &se)
		out = append(out, e.Error())
	}
	return out
}

func TestDecodeGood(t *testing.T) {
	t.Parallel()
	var v node
	src := "name: a\ncount: 3\non: yes\nevery: 10s\ntags: [x, y]\nsub: {name: b}\nattrs: {p: 1}\nraw: {k: v}\nany: [1]\n"
	assert.Empty(t, decode(t, src, &v))
	assert.Equal(t, "a", v.Name)
	assert.Equal(t, 3, v.Count)
	assert.True(t, *v.On, "yes is true, as yaml.v3 decodes a bool")
	assert.Equal(t, 10*time.Second, v.Every)
	assert.Equal(t, []string{"x", "y"}, v.Tags)
	assert.Equal(t, "b", v.Sub.Name)
	assert.Equal(t, 6, v.Sub.Node.Line-v.Node.Line+1, "each struct gets its own node")
	assert.Equal(t, map[string]int{"p": 1}, v.Attrs)
	assert.Equal(t, yaml.MappingNode, v.Raw.Kind)
	assert.Equal(t, []any{1}, v.Any)

	assert.Equal(t, []string{`f.yml:1:1: thing x: unknown key "skip" (expected one of [any attrs count every name on raw sub tags])`},
		decode(t, "skip: x\n", &v), "an unexported field is no key")
	assert.Empty(t, v.skip)

	var hooks struct {
		U upper `yaml:"u"`
		S sized `yaml:"s"`
	}
	assert.Empty(t, decode(t, "u: abc\ns: big\n", &hooks))
	assert.Equal(t, upper("ABC"), hooks.U)
	assert.Equal(t, sized(100), hooks.S)
}

// TestDecodeBad: every problem comes back at once, each at its own node,
// with the subject and the key path.
func TestDecodeBad(t *testing.T) {
	t.Parallel()
	var v node
	src := "name: [a]\ncount: many\non: maybe\nevery: soon\ntags: x\nsub: {nam: b}\nattrs: {p: q, p: 2}\nname: again\nextra: 1\n"
	assert.Equal(t, []string{
		`f.yml:1:7: thing x: name: expected a string`,
		`f.yml:2:8: thing x: count: expected a whole number, got "many"`,
		`f.yml:3:5: thing x: on: expected true or false, got "maybe"`,
		`f.yml:4:8: thing x: every: expected a duration (like 10s or 5m), got "soon"`,
		`f.yml:5:7: thing x: tags: expected a list`,
		`f.yml:6:7: thing x: sub: unknown key "nam", did you mean "name"? (expected one of [any attrs count every name on raw sub tags])`,
		`f.yml:7:12: thing x: attrs.p: expected a whole number, got "q"`,
		`f.yml:7:15: thing x: attrs: duplicate key "p"`,
		`f.yml:8:1: thing x: duplicate key "name"`,
		`f.yml:9:1: thing x: unknown key "extra" (expected one of [any attrs count every name on raw sub tags])`,
	}, decode(t, src, &v))

	var hooks struct {
		U upper `yaml:"u"`
		S sized `yaml:"s"`
	}
	assert.Equal(t, []string{
		`f.yml:1:4: thing x: u: expected a word`,
		`f.yml:2:4: thing x: s: want big, got "small"`,
	}, decode(t, "u: [a]\ns: small\n", &hooks))
}

func TestParse(t *testing.T) {
	t.Parallel()
	n, err := Parse("e.yml", []byte("# nothing\n"))
	assert.NoError(t, err)
	assert.Nil(t, n, "an empty file has no root")
	_, err = Parse("s.yml", []byte("a: b\n- c\n"))
	var se *Error
	require.ErrorAs(t, err, &se)
	// yaml.v3 names the line where the mapping began; the error is on
	// the line that is wrong.
	assert.Equal(t, Pos{File: "s.yml", Line: 2}, se.Pos)
	assert.Equal(t, "s.yml:2: did not find expected key (check the indentation of this line against the lines above it)", err.Error())
}

// TestSyntaxErrorLine: indentation mistakes are reported on the line that
// is wrong, not where yaml.v3 says the enclosing block began.
func TestSyntaxErrorLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, src string
		line      int
	}{
		{"key-one-space-short", "rules:\n  - id: \"1\"\n    level: 3\n    condition: a\n   description: x\n  - id: \"2\"\n", 5},
		{"key-too-deep", "rules:\n  - id: \"1\"\n    level: 3\n      condition: a\n    description: x\n", 4},
		{"item-one-space-short", "rules:\n  - id: \"1\"\n    groups:\n      - a\n     - b\n    level: 3\n", 5},
		{"second-rule", "rules:\n  - id: \"1\"\n    level: 3\n  - id: \"2\"\n    level: 3\n   description: x\n", 6},
		{"tab", "rules:\n  - id: \"1\"\n\tlevel: 3\n", 3},
		{"flow-left-open-later", "a: [x,\n  y]\nb:\n  c: 1\n d: 2\n", 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yml", []byte(c.src))
			var se *Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, c.line, se.Line, err.Error())
		})
	}
}

// TestValuePos maps positions inside scalars of every style back to the
// file, in runes.
func TestValuePos(t *testing.T) {
	t.Parallel()
	src := strings.Join([]string{
		`plain: a == b`,     // 1
		`quoted: "a == b"`,  // 2
		`literal: |`,        // 3
		`  first line`,      // 4
		`    indented more`, // 5
		`folded: >`,         // 6
		`  one two`,         // 7
		`  three four`,      // 8
		``,                  // 9
		`  é five`,          // 10
		`multi: a`,          // 11
		`  b`,               // 12
	}, "\n") + "\n"
	root, err := Parse("p.yml", []byte(src))
	require.NoError(t, err)
	for _, tc := range []struct {
		key             string
		line, col       int // inside the value
		wantLine, wantC int // in the file
	}{
		{"plain", 1, 5, 1, 13},
		{"quoted", 1, 5, 2, 15},
		{"literal", 1, 0, 4, 3},
		{"literal", 2, 2, 5, 5},
		{"folded", 1, 0, 7, 3},
		{"folded", 1, 8, 8, 3},  // "three" after the folded space
		{"folded", 1, 14, 8, 9}, // "four"
		{"folded", 2, 2, 10, 5}, // after the blank line, "five" after "é "
		{"multi", 1, 2, 12, 3},  // plain scalars fold too: "a b"
	} {
		n := Value(root, tc.key)
		require.NotNil(t, n, tc.key)
		l, c := ValuePos([]byte(src), n, tc.line, tc.col)
		assert.Equal(t, [2]int{tc.wantLine, tc.wantC}, [2]int{l, c}, "%s %d:%d", tc.key, tc.line, tc.col)
	}
}
