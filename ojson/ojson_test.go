package ojson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStrings: strings are unescaped exactly as encoding/json does, invalid
// UTF-8 and bad surrogates included, and a string with invalid UTF-8 is
// written back with U+FFFD.
func TestStrings(t *testing.T) {
	t.Parallel()
	for _, lit := range []string{`"plain"`, `"\u00e9\n\t\"\\\/"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`,
		`"\ude00\ud83d"`, "\"\xff\xfe\"", "\"\xe2\x82\"", `"\u0000"`, `"é😀"`, `"\b\f\r"`, `""`} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(lit), &want), lit)
		var tr Tree
		require.NoError(t, tr.Parse([]byte(lit)), lit)
		assert.Equal(t, want, string(tr.Str(0)), lit)
		assert.Equal(t, want, string(Unquote(nil, []byte(lit))), lit)
	}
	var tr Tree
	require.NoError(t, tr.Parse([]byte("{\"k\xff\":\"v\xfe\"}")))
	assert.Equal(t, "{\"k\ufffd\":\"v\ufffd\"}", string(tr.Encode(nil, 0)), "invalid UTF-8 replaced")
	assert.Equal(t, "k\ufffd", tr.Name(tr.First(0)))
}

func TestAppendQuoted(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain": `"plain"`, `a"b\c`: `"a\"b\\c"`, "tab\tnl\n": `"tab\tnl\n"`, "\x01": `"\u0001"`,
		"é<>&": `"é<>&"`, "\u2028": `"\u2028"`, "bad\xffutf8": `"bad\ufffdutf8"`, "": `""`,
	} {
		assert.Equal(t, want, string(AppendQuoted(nil, in)), "%q", in)
		assert.Equal(t, want, string(AppendQuoted(nil, []byte(in))), "%q", in)
	}
}

// TestParse: what is accepted and refused, with the byte offset of the
// problem; tokens are kept as written, so Encode gives the input back
// without its blanks.
func TestParse(t *testing.T) {
	t.Parallel()
	var tr Tree
	for src, compact := range map[string]string{
		`{}`: `{}`, `[]`: `[]`, `"x"`: `"x"`, `0`: `0`,
		` {"a" : [1, -2.5e3, true, false, null, "\u00e9\n", 1E+2]} `: `{"a":[1,-2.5e3,true,false,null,"\u00e9\n",1E+2]}`,
	} {
		require.NoError(t, tr.Parse([]byte(src)), src)
		assert.Equal(t, compact, string(tr.Encode(nil, 0)), src)
	}
	for src, offset := range map[string]int{
		``: 0, `{`: 1, `{"a"}`: 4, `{"a":1,}`: 7, `[1,]`: 3, `01`: 1, `1.`: 0, `-`: 0, `"\x"`: 1,
		`"a` + "\x01" + `"`: 2, `{"a":1}x`: 7, `tru`: 0, `"abc`: 4,
	} {
		err := tr.Parse([]byte(src))
		var se *SyntaxError
		require.ErrorAs(t, err, &se, "%q", src)
		assert.ErrorIs(t, err, ErrSyntax)
		assert.Equal(t, offset, se.Offset, "%q: %v", src, err)
	}
	tr.MaxDepth = 200
	deep := strings.Repeat("[", 201) + strings.Repeat("]", 201)
	assert.ErrorIs(t, tr.Parse([]byte(deep)), ErrSyntax)
	tr.MaxDepth = 0
	assert.NoError(t, tr.Parse([]byte(deep)), "10000 by default")
}

// TestRepeatedNames: a repeated member name keeps its first place and
// takes the last value, as Python's json.load; small and large objects
// alike.
func TestRepeatedNames(t *testing.T) {
	t.Parallel()
	var tr Tree
	require.NoError(t, tr.Parse([]byte(`{"a":1,"b":{"x":1},"a":{"y":2},"c":3,"b":4}`)))
	assert.Equal(t, `{"a":{"y":2},"b":4,"c":3}`, string(tr.Encode(nil, 0)))
	assert.Equal(t, 3, tr.Count(0))

	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `"k%02d":1,`, i)
	}
	b.WriteString(`"k01":"last"}`)
	require.NoError(t, tr.Parse([]byte(b.String())))
	assert.Equal(t, 40, tr.Count(0))
	c, _ := tr.Member(0, "k01")
	assert.Equal(t, `"last"`, string(tr.Token(c)))
	assert.Equal(t, 1, tr.ObjectDepth())
}

// TestEdit: members are added, replaced and removed; new tokens and names
// are quoted as encoding/json does.
func TestEdit(t *testing.T) {
	t.Parallel()
	var tr Tree
	require.NoError(t, tr.Parse([]byte(`{"a":{"b":1,"c":"x"},"d":[1]}`)))
	a := tr.Path("a")
	c, prev := tr.Member(a, "c")
	require.GreaterOrEqual(t, c, int32(0))
	n := tr.NewNode(String, AppendQuoted(nil, "new\n"))
	tr.SetName(n, "c_raw")
	tr.InsertAfter(a, c, n)
	tr.Unlink(a, prev, c)
	obj := tr.NewNode(Object, nil)
	tr.SetName(obj, "e")
	tr.AppendChild(0, obj)
	raw := tr.NewNode(Raw, []byte(`{"lat":1,"lon":2}`))
	tr.SetName(raw, "geo")
	tr.AppendChild(obj, raw)
	d, prev := tr.Member(0, "d")
	tr.Unlink(0, prev, d)
	b, _ := tr.Member(a, "b")
	tr.SetToken(b, []byte("2"))
	assert.Equal(t, `{"a":{"b":2,"c_raw":"new\n"},"e":{"geo":{"lat":1,"lon":2}}}`, string(tr.Encode(nil, 0)))
	assert.Equal(t, 2, tr.Count(0))
	assert.Equal(t, int32(-1), tr.Path("a", "zz"))
}

// TestAdd: values added to a tree beside a document keep the nodes and
// texts handed out before valid.
func TestAdd(t *testing.T) {
	t.Parallel()
	var tr Tree
	require.NoError(t, tr.Parse([]byte(`{"s":"a\nb"}`)))
	s := tr.Str(tr.First(0))
	arr, err := tr.Add([]byte(`["x\ty", {"k": null, "m": {}}]`))
	require.NoError(t, err)
	assert.Equal(t, "a\nb", string(s))
	assert.Equal(t, "x\ty", string(tr.Str(tr.First(arr))))
	assert.Equal(t, Null, tr.Kind(tr.First(tr.Next(tr.First(arr)))))
	assert.Equal(t, 2, tr.ObjectDepth(), "the deepest of all values added")
}

func TestRecords(t *testing.T) {
	t.Parallel()
	doc := `{"Other": {"x": [1, 2]}, "Records": [ {"a": 1}, {"b": "two"} ,{"c": [3]} ], "tail": true}`
	a := NewRecords(strings.NewReader(doc), "Records", false)
	var tr Tree
	var got []string
	var offsets []int64
	for {
		ok, err := a.Next()
		require.NoError(t, err)
		if !ok {
			break
		}
		offsets = append(offsets, a.Offset())
		if a.Index() == 2 {
			require.NoError(t, a.Skip())
			continue
		}
		tr.Reset()
		root, err := a.Decode(&tr)
		require.NoError(t, err)
		got = append(got, string(tr.Encode(nil, root)))
	}
	assert.Equal(t, []string{`{"a":1}`, `{"c":[3]}`}, got)
	for i, off := range offsets {
		assert.Equal(t, byte('{'), doc[off], "offset of record %d", i+1)
	}
	assert.Equal(t, int64(len(doc)), a.InputOffset())

	// A bare array, a document without the member, and errors.
	a = NewRecords(strings.NewReader(`[1, 2]`), "Records", true)
	n := 0
	for ok, err := a.Next(); ok; ok, err = a.Next() {
		require.NoError(t, err)
		require.NoError(t, a.Skip())
		n++
	}
	assert.Equal(t, 2, n)
	ok, err := NewRecords(strings.NewReader(`{"digest": 1}`), "Records", false).Next()
	assert.False(t, ok)
	assert.NoError(t, err)
	_, err = NewRecords(strings.NewReader(`[1]`), "Records", false).Next()
	assert.EqualError(t, err, "expected a JSON object with a Records array")
	a = NewRecords(strings.NewReader(`{"Records": [1]} x`), "Records", false)
	_, _ = a.Next()
	require.NoError(t, a.Skip())
	_, err = a.Next()
	assert.Error(t, err)

	broken := `{"Records": [{"a": 1}, {"b": tru}]}`
	a = NewRecords(strings.NewReader(broken), "Records", false)
	for {
		ok, err := a.Next()
		if err == nil && ok {
			if _, err = a.Decode(&tr); err == nil {
				continue
			}
		}
		require.Error(t, err)
		assert.Equal(t, int64(strings.Index(broken, "tru}")+3), a.ErrorOffset(err, false), "at the bad literal: %v", err)
		break
	}
	cut := `{"Records": [{"a": 1}, {"b"`
	a = NewRecords(strings.NewReader(cut), "Records", false)
	_, _ = a.Next()
	_, _ = a.Decode(&tr)
	_, _ = a.Next()
	_, err = a.Decode(&tr)
	require.True(t, errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
	assert.Equal(t, int64(len(cut)), a.ErrorOffset(err, false))
}
