package output

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/alert"
)

// line renders an alert line shaped like engine output, with its id.
func line(i int, epoch, off int64) []byte {
	return []byte(fmt.Sprintf(`{"timestamp":"2024-03-05T10:20:31.102+0000","rule":{"level":3,"description":"AWS VPC Flow: ACCEPT","id":"80401","mitre":{"id":["T1110"]},"firedtimes":%d,"mail":false,"groups":["amazon"]},"agent":{"id":"000","name":"m"},"manager":{"name":"m"},"id":"%d.%d","decoder":{"name":"json"},"data":{"aws":{"id":"1.5","n":"%d"}},"location":"Wazuh-AWS"}`, i, epoch, off, i))
}

func writeN(t *testing.T, s *FileSink, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		require.NoError(t, s.Write(&alert.Alert{JSON: []byte(fmt.Sprintf("line-%04d", i))}))
	}
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	require.NoError(t, err)
	return st.Size()
}

func readLines(t *testing.T, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		if len(b) == 0 {
			continue
		}
		require.Equal(t, byte('\n'), b[len(b)-1], "%s ends with a newline", p)
		out = append(out, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
	}
	return out
}

func TestFileRecovery(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "logs", "alerts.json")
	pos := filepath.Join(dir, "state.db.alerts-pos")
	opts := FileOptions{Fsync: true, PosPath: pos}
	s, rec, err := OpenFile(p, opts, nil)
	require.NoError(t, err)
	assert.Equal(t, Recovery{}, rec)
	writeN(t, s, 0, 3)
	require.NoError(t, s.Sync())
	cp, err := s.Checkpoint()
	require.NoError(t, err)
	assert.Equal(t, int64(30), cp.Size)
	assert.NotZero(t, cp.Ino)
	assert.Equal(t, 30, cp.TailLen)
	writeN(t, s, 3, 2) // written after the checkpoint: not committed
	require.NoError(t, s.Close())
	original, err := os.ReadFile(p)
	require.NoError(t, err)
	restore := func(t *testing.T) {
		// Same inode: write the bytes back in place; the position note
		// would take that for another program's writes.
		require.NoError(t, os.WriteFile(p, original, 0o640))
		if err := os.Remove(pos); err != nil {
			require.ErrorIs(t, err, os.ErrNotExist)
		}
	}

	t.Run("cut-after-checkpoint", func(t *testing.T) {
		s, rec, err := OpenFile(p, opts, &cp)
		require.NoError(t, err)
		assert.Equal(t, Recovery{Truncated: 20}, rec)
		writeN(t, s, 3, 1)
		require.NoError(t, s.Close())
		assert.Equal(t, []string{"line-0000", "line-0001", "line-0002", "line-0003"}, readLines(t, p))
	})
	t.Run("foreign-bytes-after-own", func(t *testing.T) {
		restore(t)
		s, rec, err := OpenFile(p, opts, &cp)
		require.NoError(t, err)
		assert.Equal(t, Recovery{Truncated: 20, NoPos: true}, rec)
		writeN(t, s, 3, 2)
		require.NoError(t, s.Close())
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString("another program's line\n")
		require.NoError(t, err)
		require.NoError(t, f.Close())
		before, err := os.ReadFile(p)
		require.NoError(t, err)
		_, _, err = OpenFile(p, opts, &cp)
		require.ErrorIs(t, err, ErrForeignBytes)
		assert.Contains(t, err.Error(), "alerts file "+p+": the alerts file holds bytes vpcalertd did not write: 23 bytes after offset 50 were appended by another program")
		assert.Contains(t, err.Error(), "nothing was cut")
		after, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, before, after, "nothing was cut")
	})
	t.Run("foreign-bytes-instead-of-own", func(t *testing.T) {
		// The daemon noted a write of 20 bytes at offset 30 and died before
		// making it; another program then appended, as many bytes or fewer.
		for _, foreign := range []string{"short line\n", "exactly twenty bytes"} {
			restore(t)
			s, _, err := OpenFile(p, opts, &cp)
			require.NoError(t, err)
			writeN(t, s, 3, 2)
			require.NoError(t, s.Close()) // note: 30 to 50
			require.NoError(t, os.Truncate(p, 30))
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString(foreign)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			_, _, err = OpenFile(p, opts, &cp)
			require.ErrorIs(t, err, ErrForeignBytes, foreign)
			assert.Contains(t, err.Error(), fmt.Sprintf("%d bytes after offset 30 were appended by another program", len(foreign)))
			assert.Equal(t, int64(30+len(foreign)), fileSize(t, p), "nothing was cut")
		}
	})
	t.Run("own-write-cut-short", func(t *testing.T) {
		// A SIGKILL in the middle of a write leaves a prefix of it that
		// ends on a page: that is the sink's own, and is cut; an end
		// elsewhere is not.
		for _, c := range []struct {
			end int64
			ok  bool
		}{{4096, true}, {8192, true}, {5000, false}} {
			restore(t)
			s, _, err := OpenFile(p, opts, &cp)
			require.NoError(t, err)
			for i := 0; i < 1000; i++ {
				require.NoError(t, s.Write(&alert.Alert{JSON: []byte(fmt.Sprintf("line-%04d", i))}))
			}
			require.NoError(t, s.Close()) // one write: 30 to 10030
			require.NoError(t, os.Truncate(p, c.end))
			s, rec, err := OpenFile(p, opts, &cp)
			if !c.ok {
				require.ErrorIs(t, err, ErrForeignBytes, c.end)
				assert.Equal(t, c.end, fileSize(t, p))
				continue
			}
			require.NoError(t, err, c.end)
			assert.Equal(t, Recovery{Truncated: c.end - 30}, rec)
			require.NoError(t, s.Close())
		}
	})
	t.Run("no-position-note", func(t *testing.T) {
		restore(t)
		s, rec, err := OpenFile(p, FileOptions{}, &cp)
		require.NoError(t, err)
		assert.Equal(t, Recovery{Truncated: 20, NoPos: true}, rec)
		require.NoError(t, s.Close())
	})
	t.Run("committed-part-rewritten", func(t *testing.T) {
		restore(t)
		b := bytes.Clone(original)
		copy(b, "LINE")
		require.NoError(t, os.WriteFile(p, b, 0o640))
		_, _, err := OpenFile(p, opts, &cp)
		require.ErrorIs(t, err, ErrCommittedChanged)
		assert.Contains(t, err.Error(), "the 30 bytes before offset 30 are not those committed")
		after, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.Equal(t, b, after, "nothing was cut")
	})
	t.Run("shrunk", func(t *testing.T) {
		restore(t)
		big := cp
		big.Size = 1000
		_, _, err := OpenFile(p, opts, &big)
		require.ErrorIs(t, err, ErrCommittedChanged)
		assert.Contains(t, err.Error(), "it holds 50 bytes but 1000 were committed")
	})
	t.Run("emptied", func(t *testing.T) {
		require.NoError(t, os.WriteFile(p, nil, 0o640))
		s, rec, err := OpenFile(p, opts, &cp)
		require.NoError(t, err)
		assert.Equal(t, Recovery{Emptied: true}, rec)
		require.NoError(t, s.Close())
	})
	t.Run("partial-line-without-checkpoint", func(t *testing.T) {
		restore(t)
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteString(`{"timestamp":"2024-`)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		s, rec, err := OpenFile(p, FileOptions{}, nil)
		require.NoError(t, err)
		assert.Equal(t, Recovery{PartialLine: 19}, rec)
		require.NoError(t, s.Close())
		assert.Len(t, readLines(t, p), 5)
	})
	t.Run("foreign-file", func(t *testing.T) {
		restore(t)
		other := cp
		other.Ino++
		s, rec, err := OpenFile(p, FileOptions{}, &other)
		require.NoError(t, err)
		assert.Equal(t, Recovery{Foreign: true}, rec)
		require.NoError(t, s.Close())
		assert.Len(t, readLines(t, p), 5, "a file that is not the checkpoint's is never cut")
	})
}

// TestFileLocked: the alerts file is locked while a sink has it open; a
// second sink (another daemon) is refused, and gets it once the first
// closes.
func TestFileLocked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "alerts.json")
	a, _, err := OpenFile(p, FileOptions{}, nil)
	require.NoError(t, err)
	_, _, err = OpenFile(p, FileOptions{}, nil)
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "alerts file "+p+": locked by another process: pid ")
	require.NoError(t, a.Close())
	b, _, err := OpenFile(p, FileOptions{}, nil)
	require.NoError(t, err)
	require.NoError(t, b.Close())
}

func TestFileRotateBySize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "alerts.json")
	now := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	opts := FileOptions{Fsync: true, MaxSize: 45, Now: func() time.Time { return now }, Location: time.UTC}
	// A file from an earlier run already holds the first rotated name.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "alerts-2024-03-05.json"), []byte("earlier\n"), 0o640))
	s, _, err := OpenFile(p, opts, nil)
	require.NoError(t, err)
	var rotated []string
	for i := 0; i < 12; i++ {
		writeN(t, s, i, 1)
		require.NoError(t, s.Sync())
		if s.RotationDue() {
			dst, err := s.Rotate()
			require.NoError(t, err)
			rotated = append(rotated, dst)
			cp, err := s.Checkpoint()
			require.NoError(t, err)
			assert.Equal(t, int64(0), cp.Size)
		}
	}
	require.NoError(t, s.Close())
	assert.Equal(t, []string{
		filepath.Join(dir, "alerts-2024-03-05.1.json"),
		filepath.Join(dir, "alerts-2024-03-05.2.json"),
	}, rotated, "five 10-byte lines reach 45 bytes")
	assert.Equal(t, []string{"earlier"}, readLines(t, filepath.Join(dir, "alerts-2024-03-05.json")), "never overwritten")
	var want []string
	for i := 0; i < 12; i++ {
		want = append(want, fmt.Sprintf("line-%04d", i))
	}
	assert.Equal(t, want, readLines(t, append(rotated, p)...), "every line once, in order")
}

func TestFileRotateDaily(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "alerts.json")
	now := time.Date(2024, 3, 5, 23, 59, 0, 0, time.UTC)
	s, _, err := OpenFile(p, FileOptions{Daily: true, Now: func() time.Time { return now }, Location: time.UTC}, nil)
	require.NoError(t, err)
	assert.False(t, s.RotationDue(), "empty")
	writeN(t, s, 0, 2)
	assert.False(t, s.RotationDue())
	now = now.Add(2 * time.Minute)
	assert.True(t, s.RotationDue())
	dst, err := s.Rotate()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "alerts-2024-03-05.json"), dst)
	writeN(t, s, 2, 1)
	assert.False(t, s.RotationDue())
	require.NoError(t, s.Close())
	assert.Equal(t, []string{"line-0000", "line-0001"}, readLines(t, dst))
	assert.Equal(t, []string{"line-0002"}, readLines(t, p))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	assert.Equal(t, []string{"alerts-2024-03-05.json", "alerts.json"}, names)
}

func TestParseID(t *testing.T) {
	cases := []struct {
		line       string
		epoch, off int64
		ok         bool
	}{
		{string(line(1, 1709634031, 12345)), 1709634031, 12345, true},
		{`{"rule":{"id":"80401"},"id":"1.0"}`, 1, 0, true},
		{`{"rule":{"id":"80401"}}`, 0, 0, false},
		{`{"id":"x.y","id":"2.3"}`, 2, 3, true},
		{`{"id":"1.`, 0, 0, false},
	}
	for _, c := range cases {
		e, o, ok := ParseID([]byte(c.line))
		assert.Equal(t, c.ok, ok, c.line)
		assert.Equal(t, c.epoch, e, c.line)
		assert.Equal(t, c.off, o, c.line)
	}
}

func TestIDSource(t *testing.T) {
	s := NewIDSource(500, 1200, 0)
	assert.Equal(t, int64(1200), s.Start())
	assert.Equal(t, int64(1200), s.Next())
	l := line(1, 1709634031, 1200)
	s.Observe(l)
	assert.Equal(t, int64(1200+len(l)+1), s.Next())
	s.Observe(line(2, 1709634031, 100)) // an older id does not lower it
	assert.Equal(t, int64(1200+len(l)+1), s.Next())
	s.Observe([]byte("not an alert"))
	assert.Equal(t, int64(1200), s.Start(), "Start stays the seed")
}

// TestObjectIDs: an object's lines are numbered by their byte offsets
// within ranges of their own; a second read given the first read's ranges
// numbers the same lines the same way, whatever was reserved meanwhile.
func TestObjectIDs(t *testing.T) {
	src := NewIDSource(1000)
	first := NewObjectIDs(src, nil)
	var offs []int64
	sizes := []int64{400, 700, IDRangeSize - 1500, 500, 300} // the fourth does not fit in the first range
	for _, n := range sizes {
		offs = append(offs, first.Take(n))
	}
	assert.Equal(t, []int64{1000, 1000 + 400 + 4, 1000 + 404 + 700 + 4}, offs[:3])
	ranges := first.Ranges()
	require.Len(t, ranges, 2)
	assert.Equal(t, []int64{1000, 1000 + IDRangeSize}, ranges)
	assert.Equal(t, ranges[1], offs[3], "a line that would cross the range's end starts the next")
	assert.Equal(t, int64(1000+2*IDRangeSize), src.Next(), "the source is above both ranges")

	other := NewObjectIDs(src, nil) // another object, meanwhile
	assert.Equal(t, int64(1000+2*IDRangeSize), other.Take(100))

	again := NewObjectIDs(src, ranges)
	for i, n := range sizes {
		assert.Equal(t, offs[i], again.Take(n), "line %d", i)
	}
	assert.Equal(t, ranges, again.Ranges(), "no new range")
	assert.Equal(t, int64(1000+3*IDRangeSize), src.Next())
}

type errSink struct{ alert.Discard }

func (errSink) Sync() error { return errors.New("sync failed") }

func TestTeeAndStream(t *testing.T) {
	var a, b bytes.Buffer
	tee := Tee{NewStream(&a), NewStream(&b)}
	require.NoError(t, tee.Write(&alert.Alert{JSON: []byte(`{"x":1}`)}))
	assert.Empty(t, a.String(), "buffered until Sync")
	require.NoError(t, tee.Sync())
	assert.Equal(t, "{\"x\":1}\n", a.String())
	assert.Equal(t, "{\"x\":1}\n", b.String())
	require.NoError(t, tee.Close())
	assert.EqualError(t, Tee{NewStream(&a), errSink{}}.Sync(), "sync failed")
}
