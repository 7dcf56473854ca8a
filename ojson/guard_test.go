package ojson

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readAll walks a document's records: the encoded records, and the limit
// errors by index.
func readAll(t *testing.T, doc string, lim Limits) (got []string, skipped map[int]error, a *Records) {
	t.Helper()
	a = NewRecordsLimited(strings.NewReader(doc), "Records", true, lim)
	skipped = map[int]error{}
	var tr Tree
	for {
		ok, err := a.Next()
		var le *LimitError
		if errors.As(err, &le) {
			skipped[a.Index()] = err
			continue
		}
		require.NoError(t, err)
		if !ok {
			return got, skipped, a
		}
		tr.Reset()
		root, err := a.Decode(&tr)
		require.NoError(t, err)
		got = append(got, string(tr.Encode(nil, root)))
	}
}

// TestLimits: elements beyond the limits are skipped without being held
// and reported with their size; the elements after them are read, at
// their own offsets; other values beyond the limits are passed over.
func TestLimits(t *testing.T) {
	t.Parallel()
	big := `{"userAgent":"` + strings.Repeat("a", 5000) + `"}`
	fields := `{` + strings.Repeat(`"k":1,`, 300) + `"z":[1,2,3]}`
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	doc := `{"Other":"` + strings.Repeat("x", 9000) + `","Records":[{"a":1},` + big + `,{"b":2},` + fields + ` , ` + deep + `,{"c":"]}\""}, 7, "s"],"tail":[` + big + `]}`
	lim := Limits{MaxBytes: 4096, MaxFields: 100, MaxDepth: 50}
	got, skipped, a := readAll(t, doc, lim)
	assert.Equal(t, []string{`{"a":1}`, `{"b":2}`, `{"c":"]}\""}`, `7`, `"s"`}, got)
	require.Len(t, skipped, 3)
	assert.ErrorIs(t, skipped[2], ErrTooLarge)
	assert.EqualError(t, skipped[2], "record 2 (5016 bytes) skipped, not decoded: larger than limits.record_size (4096 bytes); "+
		"raise limits.record_size if the bucket's writers send such records")
	assert.ErrorIs(t, skipped[4], ErrTooManyFields)
	assert.EqualError(t, skipped[4], "record 4 (1813 bytes) skipped, not decoded: more than 100 fields (limits.record_fields); "+
		"raise limits.record_fields if the bucket's writers send such records")
	assert.ErrorIs(t, skipped[5], ErrTooDeep)
	assert.Equal(t, int64(len(doc)), a.InputOffset(), "offsets are the document's")

	// Offsets of the records after a skipped one are theirs in the document.
	b := NewRecordsLimited(strings.NewReader(doc), "Records", false, lim)
	for {
		ok, err := b.Next()
		if !ok {
			require.NoError(t, err)
			break
		}
		if err == nil {
			require.NoError(t, b.Skip())
		}
		c := doc[b.Offset()]
		assert.True(t, c == '{' || c == '[' || c == '7' || c == '"', "record %d at %d: %q", b.Index(), b.Offset(), c)
	}

	// Within the limits, the bytes reach the decoder unchanged.
	g := newGuard(strings.NewReader(doc), "Records", false, Limits{MaxBytes: 1 << 20, MaxDepth: 5000})
	out, err := io.ReadAll(g)
	require.NoError(t, err)
	assert.True(t, doc == string(out), "unchanged")
	assert.Empty(t, g.shifts)
}

// TestLimitsBoundMemory: a record far larger than the limit is passed
// without being held: the guard's buffers stay near the limit.
func TestLimitsBoundMemory(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	huge := io.MultiReader(strings.NewReader(`{"Records":[{"userAgent":"`), &repeat{b: 'a', n: size}, strings.NewReader(`"},{"ok":1}]}`))
	a := NewRecordsLimited(huge, "Records", false, Limits{})
	ok, err := a.Next()
	require.True(t, ok)
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, int64(size+len(`{"userAgent":""}`)), le.Size)
	ok, err = a.Next()
	require.True(t, ok)
	require.NoError(t, err)
	var tr Tree
	root, err := a.Decode(&tr)
	require.NoError(t, err)
	assert.Equal(t, `{"ok":1}`, string(tr.Encode(nil, root)))
	assert.LessOrEqual(t, cap(a.g.buf), 2*DefaultMaxBytes+64, "the guard held at most the limit")
}

// repeat reads n bytes b.
type repeat struct {
	b byte
	n int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	copy(p, bytes.Repeat([]byte{r.b}, n))
	r.n -= n
	return n, nil
}

// FuzzGuard: within its limits the guard hands the decoder the document
// unchanged, whatever it is (broken JSON included); with small limits,
// walking the records never panics and ends.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{`{"Records":[{"a":1},{"b":[1,2,{"c":"]"}]}]}`, `[1,"x",{}]`, `{"x":"\"","Records":[[[]]],"y":{}}`,
		`{"Records":[{"a":"\`, `{"Records"`, `{"Records":[}]}`, `]]]`, `{"Records":[1 2]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g := newGuard(bytes.NewReader(b), "Records", false, Limits{MaxBytes: 1 << 20, MaxFields: 1 << 20, MaxDepth: 1 << 20})
		out, err := io.ReadAll(g)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("changed %q to %q", b, out)
		}
		for _, bare := range []bool{false, true} {
			a := NewRecordsLimited(bytes.NewReader(b), "Records", bare, Limits{MaxBytes: 8, MaxFields: 2, MaxDepth: 2})
			var tr Tree
			for i := 0; i < len(b)+2; i++ {
				ok, err := a.Next()
				if !ok {
					break
				}
				var le *LimitError
				if errors.As(err, &le) {
					continue
				}
				if err != nil {
					break
				}
				tr.Reset()
				if _, err := a.Decode(&tr); err != nil {
					break
				}
			}
		}
	})
}
