package decoders

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpcalertd/vpcalertd/event"
)

// transcript writes one result of a stream as a line: an event with every
// field and its origin, a bad record, or a warning. Layouts are shown
// without the stream's number, which differs between two opens.
func transcriptEvent(w *strings.Builder, ev *event.Event) {
	fmt.Fprintf(w, "event line=%d off=%d time=%d layout=%d:", ev.Origin.Line, ev.Origin.Offset, ev.Time, ev.Layout&(1<<24-1))
	for _, f := range ev.Fields {
		fmt.Fprintf(w, " %s=%q/%d/%d/%v", f.Key, f.Value, f.Kind, f.Sym, f.Safe)
	}
	w.WriteByte('\n')
}

// serialTranscript decodes the stream with Next.
func serialTranscript(t testing.TB, set *Set, origin event.Origin, data []byte, opts OpenOptions) string {
	var w strings.Builder
	opts.OnWarning = func(err error) { fmt.Fprintf(&w, "warning %v\n", err) }
	st, err := set.Open(origin, bytes.NewReader(data), opts)
	if err != nil {
		return "open: " + err.Error()
	}
	var ev event.Event
	for {
		err := st.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(&w, "error %T %v\n", err, err)
			continue
		}
		transcriptEvent(&w, &ev)
	}
	fmt.Fprintf(&w, "records=%d bytes=%d\n", st.Records(), st.BytesRead())
	return w.String()
}

// batchTranscript reads the stream in batches of at most size records,
// keeps up to ahead batches in flight and decodes them on as many
// goroutines, in a shuffled order, then reads them in order.
func batchTranscript(t testing.TB, set *Set, origin event.Origin, data []byte, opts OpenOptions, size, ahead int, seed int64) string {
	var w strings.Builder
	opts.OnWarning = func(err error) { fmt.Fprintf(&w, "warning (outside a batch) %v\n", err) }
	st, err := set.Open(origin, bytes.NewReader(data), opts)
	if err != nil {
		return "open: " + err.Error()
	}
	st.batchRecords = size
	rng := rand.New(rand.NewSource(seed))
	for {
		var batches []*Batch
		eof := false
		for len(batches) < ahead {
			b := &Batch{}
			if err := st.ReadBatch(b); err == io.EOF {
				eof = true
				break
			} else if err != nil {
				t.Fatalf("read batch: %v", err)
			}
			batches = append(batches, b)
		}
		var wg sync.WaitGroup
		for _, i := range rng.Perm(len(batches)) {
			wg.Add(1)
			go func() { defer wg.Done(); st.Decode(batches[i]) }()
		}
		wg.Wait()
		for _, b := range batches {
			for i := 0; i < b.Len(); i++ {
				rec := b.Record(i)
				switch {
				case rec.Skip:
				case rec.Warning:
					fmt.Fprintf(&w, "warning %v\n", rec.Err)
				case rec.Err != nil:
					fmt.Fprintf(&w, "error %T %v\n", rec.Err, rec.Err)
				default:
					transcriptEvent(&w, &rec.Event)
				}
			}
		}
		if eof {
			break
		}
	}
	fmt.Fprintf(&w, "records=%d bytes=%d\n", st.Records(), st.BytesRead())
	return w.String()
}

// checkBatched fails when reading data in batches gives anything else than
// Next.
func checkBatched(t testing.TB, set *Set, origin event.Origin, data []byte, opts OpenOptions) {
	t.Helper()
	want := serialTranscript(t, set, origin, data, opts)
	for i, sz := range []struct{ size, ahead int }{{1, 3}, {2, 4}, {3, 2}, {512, 2}} {
		got := batchTranscript(t, set, origin, data, opts, sz.size, sz.ahead, int64(i))
		if got != want {
			g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
			for j := range min(len(g), len(w)) {
				if g[j] != w[j] {
					t.Fatalf("batches of %d, %d ahead: result %d differs:\ngot  %s\nwant %s", sz.size, sz.ahead, j, g[j], w[j])
				}
			}
			t.Fatalf("batches of %d, %d ahead: %d results, want %d:\ngot\n%s\nwant\n%s", sz.size, sz.ahead, len(g), len(w), got, want)
		}
	}
}

// TestBatchesAreNext: every sample of the repository, and streams made to
// hit each case ReadBatch handles in order (headers anywhere, unknown
// columns, no layout, blank, too long, invalid UTF-8 and bad lines, a
// truncated gzip stream, an empty file), decode in batches exactly as
// with Next.
func TestBatchesAreNext(t *testing.T) {
	set := loadRuleset(t)
	var files []string
	for _, g := range []string{"testdata/aws/*", "testdata/wazuh/*", "../testdata/alerts/*.log", "../testdata/alerts/*.json", "../testdata/alerts/*.gz", "../testdata/buckets/*/AWSLogs/*/*/*/*/*/*/*"} {
		m, err := filepath.Glob(g)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.Greater(t, len(files), 30)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		t.Run(filepath.Base(f), func(t *testing.T) {
			checkBatched(t, set, event.Origin{Path: f, Key: "k", Bucket: "b", AccountID: "123456789012", Region: "us-east-1"}, data, OpenOptions{Symbols: testSymbols()})
		})
	}
	header := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	line := "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1709633700 1709633760 ACCEPT OK\n"
	cases := map[string]struct {
		data   string
		origin event.Origin
		opts   OpenOptions
	}{
		"header in the middle":  {data: line + header + line + "version srcaddr dstaddr action extra-col\n2 10.0.0.9 10.0.0.8 REJECT x\n" + line},
		"header twice a column": {data: "version version srcaddr\n" + line},
		"unknown columns twice": {data: "version srcaddr foo-bar\n2 10.0.0.1 x\nversion foo-bar srcaddr\n2 y 10.0.0.2\n"},
		"log format":            {data: line + line, origin: event.Origin{LogFormat: "${version} ${srcaddr} ${bogus-field}"}},
		"bad log format":        {data: "\xff\xfe\n" + line, origin: event.Origin{LogFormat: "${version} srcaddr"}},
		"no layout":             {data: line, origin: event.Origin{Type: event.LogTypeVPCFlow, LogFormat: ""}},
		"blank, long, bad":      {data: "\n   \n" + strings.Repeat("9", 300) + "\n" + line + "2 x\n\xff\xfe bad utf8\n\r\n" + line, opts: OpenOptions{MaxLineBytes: 200}},
		"crlf and no newline":   {data: header[:len(header)-1] + "\r\n" + line[:len(line)-1] + "\r\n" + line[:len(line)-1]},
		"invalid header":        {data: "version srcaddr \xff\n" + line},
		"empty":                 {data: ""},
		"truncated gzip":        {data: string(gzipped(t, header+line+line+line)[:60])},
		"wazuh json lines":      {data: `1:Wazuh-AWS:{"integration":"aws","aws":{"source":"vpc","a":[1,2],"s":"x\"y"}}` + "\n{bad\n" + `{"integration":"aws","aws":{"n":1.5}}` + "\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o := c.origin
			if o.Type == "" && o.LogFormat != "" {
				o.Type = event.LogTypeVPCFlow
			}
			o.Path = name
			checkBatched(t, set, o, []byte(c.data), c.opts)
		})
	}
}

// A stream decodes the same whether its batches go one by one or many at
// once (run with -race): no state is shared between Decode calls but the
// read-only plan.
func TestBatchesDecodeConcurrently(t *testing.T) {
	set := loadRuleset(t)
	var data bytes.Buffer
	data.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&data, "2 123456789012 eni-%d 10.0.%d.%d 10.1.0.%d %d 443 6 10 840 %d %d ACCEPT OK\n", i%7, i%256, i%200, i%250, 1024+i, 1709633700+i, 1709633760+i)
	}
	origin := event.Origin{Type: event.LogTypeVPCFlow, Path: "big"}
	want := serialTranscript(t, set, origin, data.Bytes(), OpenOptions{Symbols: testSymbols()})
	got := batchTranscript(t, set, origin, data.Bytes(), OpenOptions{Symbols: testSymbols()}, 64, 16, 1)
	require.Equal(t, want, got)
}

// testSymbols resolves a few field names, as a ruleset would.
func testSymbols() *event.Symbols {
	s := event.NewSymbols()
	for _, n := range []string{"aws.srcaddr", "aws.action", "aws.start", "integration", "aws.source"} {
		s.Intern(n)
	}
	return s
}

func gzipped(t testing.TB, s string) []byte {
	var b bytes.Buffer
	zw := newGzipWriter(&b)
	_, err := zw.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return b.Bytes()
}
