package decoders

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpcalertd/vpcalertd/event"
)

// fuzzSet is loaded once: fuzz functions run many times.
var fuzzSet *Set

func fuzzDecoders(f *testing.F) *Set {
	if fuzzSet == nil {
		set, err := Load(os.DirFS("../ruleset"), "decoders")
		if err != nil {
			f.Fatal(err)
		}
		fuzzSet = set
	}
	return fuzzSet
}

// drain decodes the whole stream and fails on anything but io.EOF,
// *RecordError and *StreamError, or on an event without fields.
func drain(t *testing.T, set *Set, origin event.Origin, data []byte, opts OpenOptions) {
	st, err := set.Open(origin, bytes.NewReader(data), opts)
	if err != nil {
		if errors.Is(err, ErrNoDecoder) {
			return
		}
		t.Fatalf("open: %v", err)
	}
	var ev event.Event
	layouts := map[uint64]string{} // Layout -> the keys it promises
	for n := 0; n <= len(data)+2; n++ {
		err := st.Next(&ev)
		var re *RecordError
		var se *StreamError
		switch {
		case err == io.EOF:
			return
		case err == nil:
			if len(ev.Fields) == 0 && st.Decoder() != "wazuh-json" {
				t.Fatalf("event without fields")
			}
			for _, f := range ev.Fields {
				// Only a top-level member named "" has an empty key.
				if f.Key == "" && !bytes.Contains(data, []byte(`""`)) {
					t.Fatalf("field without key in %v", ev.Fields)
				}
				if f.Safe && !event.IsSafe(f.Value) {
					t.Fatalf("field %s marked safe but holds %q", f.Key, f.Value)
				}
			}
			if ev.Layout != 0 {
				var keys strings.Builder
				for _, f := range ev.Fields {
					keys.WriteString(f.Key)
					keys.WriteByte(0)
				}
				if k, seen := layouts[ev.Layout]; seen && k != keys.String() {
					t.Fatalf("layout %x promised keys %q, got %q", ev.Layout, k, keys.String())
				}
				layouts[ev.Layout] = keys.String()
			}
		case errors.As(err, &re):
		case errors.As(err, &se):
			if err := st.Next(&ev); err != io.EOF {
				t.Fatalf("after a StreamError: %v", err)
			}
			return
		default:
			t.Fatalf("unexpected error %T: %v", err, err)
		}
	}
	t.Fatalf("more results than input bytes")
}

func addSeeds(f *testing.F, pattern string, whole bool) {
	names, _ := filepath.Glob(pattern)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		if whole {
			f.Add(data)
			continue
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			f.Add(line)
		}
	}
}

// FuzzFlowLine feeds flow-log text (lines or whole files) to the vpcflow
// decoder, plain and through gzip, and to the sniffer.
func FuzzFlowLine(f *testing.F) {
	set := fuzzDecoders(f)
	addSeeds(f, "testdata/aws/vpcflow-*.log", false)
	addSeeds(f, "testdata/wazuh/vpcflow-*.log", true)
	f.Add([]byte("version srcaddr\n- -\n\x1f\x8b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		origin := event.Origin{Type: event.LogTypeVPCFlow, Path: "f", LogFormat: "${version} ${srcaddr} ${start}"}
		drain(t, set, origin, data, OpenOptions{MaxLineBytes: 200})
		drain(t, set, event.Origin{Path: "f"}, data, OpenOptions{})
		checkBatched(t, set, origin, data, OpenOptions{MaxLineBytes: 200})
		var gz bytes.Buffer
		zw := newGzipWriter(&gz)
		zw.Write(data)
		zw.Close()
		drain(t, set, origin, gz.Bytes()[:len(gz.Bytes())-len(data)%7], OpenOptions{})
	})
}

// FuzzCloudTrailFile feeds JSON documents to the cloudtrail decoder and to
// the sniffer (single records, Wazuh bodies).
func FuzzCloudTrailFile(f *testing.F) {
	set := fuzzDecoders(f)
	addSeeds(f, "testdata/aws/cloudtrail-*.json", true)
	addSeeds(f, "testdata/wazuh/cloudtrail-logfile-*.json", true)
	addSeeds(f, "testdata/wazuh/*.datagrams.txt", false)
	f.Add([]byte(`{"Records":[{"a":[{"b":null}],"tags":1,"requestParameters":[1.5e300,"x'\""]},2]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		drain(t, set, event.Origin{Type: event.LogTypeCloudTrail, Path: "c"}, data, OpenOptions{})
		drain(t, set, event.Origin{Path: "c"}, data, OpenOptions{})
		checkBatched(t, set, event.Origin{Path: "c"}, data, OpenOptions{})
	})
}
