package event

import (
	"github.com/vpcalertd/vpcalertd/ojson"

	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// fuzzFields reads a fuzz input as one field a line, "key<TAB>kind value":
// kind s is a string, n a number, a a decoder's array, b true or false, z
// null, e an empty object. Lines that a decoder could not produce (a
// number or an array that is not JSON) are left out.
func fuzzFields(spec string) *Event {
	ev := &Event{}
	for _, line := range strings.Split(spec, "\n") {
		key, v, ok := strings.Cut(line, "\t")
		if !ok || v == "" {
			continue
		}
		kind, val := v[0], v[1:]
		switch kind {
		case 's':
			ev.Add(key, []byte(val), String, NoSym)
		case 'n':
			if jsonNumber.MatchString(val) {
				ev.Add(key, []byte(val), Number, NoSym)
			}
		case 'a':
			var b bytes.Buffer
			// A decoder's arrays come from records cJSON read, so cJSON
			// reads them (Wazuh drops a record it cannot read).
			if strings.HasPrefix(val, "[") && json.Compact(&b, []byte(val)) == nil {
				if _, ok := refParse(b.String()); ok {
					ev.Add(key, b.Bytes(), Array, NoSym)
				}
			}
		case 'b':
			ev.Add(key, []byte(map[bool]string{true: "true", false: "false"}[val == "1"]), Bool, NoSym)
		case 'z':
			ev.Add(key, []byte("null"), Null, NoSym)
		case 'e':
			ev.Add(key, []byte("{}"), EmptyObject, NoSym)
		}
	}
	return ev
}

// FuzzDataJSON compares the data renderer, alone and through a DataWriter
// (learning a layout, then filling it with other values), with the
// reference model of Wazuh's W_JSON_AddField and cJSON.
func FuzzDataJSON(f *testing.F) {
	for _, seed := range []string{
		"zone\tsa\nZONE\tsb",
		"Net.a\ts1\nnet.b\ts2",
		"zone\tsa\nZone.id\ts2",
		"Zone.id\ts2\nzone\tsa",
		"Net.a\ts1\nx\ts2\nnet.b\ts3\nNET.a\ts4",
		"a\ts[1,2]\nb\ts[7] \nc\ts[1] [2]\nd\ts[01]\ne\ts[1.]",
		"a.b.c\ts1\na.B\ts2\nA.b.D\ts[\"x\\u0000y\", {\"k\":-.5}]",
		"integration\tsaws\naws.log_info.aws_account_alias\ts\naws.log_info.log_file\tsk\naws.version\tn2\naws.tags\ta[1,\"x\",true,null,{\"k\":2.5}]\naws.flag\tb1\naws.none\tz\naws.e\te",
		"a\tn1.5\nA\tn2\nb\ta[]\nB.c\ts1",
		"é\ts1\nÉ\ts2\nk\ts3\n\u212a\ts4",
		"a..b\ts1\na.\ts2\n.a\ts3\n\ts4",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ev := fuzzFields(spec)
		want := refDataJSON(ev)
		if got := string(ev.AppendDataJSON(nil)); got != want {
			t.Fatalf("AppendDataJSON\n got: %s\nwant: %s\nspec: %q", got, want, spec)
		}
		// Another event with the same keys and empty values, other values.
		other := ev.Clone()
		for i := range other.Fields {
			if f := &other.Fields[i]; f.Kind == String && len(f.Value) > 0 {
				f.Value = append(f.Value[:len(f.Value):len(f.Value)], 'x')
			}
		}
		otherWant := refDataJSON(other)
		for _, layout := range []uint64{0, 7} {
			ev.Layout, other.Layout = layout, layout
			var w DataWriter
			for i, e := range []*Event{ev, ev, other, ev} {
				want := want
				if e == other {
					want = otherWant
				}
				if got := string(w.Append([]byte("prefix"), e)); got != "prefix"+want {
					t.Fatalf("DataWriter (layout %d) event %d\n got: %s\nwant: prefix%s\nspec: %q", layout, i, got, want, spec)
				}
			}
		}
	})
}

// FuzzCJSONArray compares the renderer's reading of a string that starts
// with '[' with the reference model of cJSON's parse.
func FuzzCJSONArray(f *testing.F) {
	for _, seed := range []string{
		"[1,2]", "[7] ", "[1] [2]", "[01]", "[1.]", "[-.5]", "[.5]", "[1e999]", "[\x01true\t,null ]",
		`["a\u0000b","\uzzzz","\ud83d\ude00","\udc00"]`, `[{"k":1,"k":[{}]}]`, "[\"raw\x01\"]", "[1]\x00",
		"[" + strings.Repeat("9", 63) + "]", "[" + strings.Repeat("9", 64) + "]",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !strings.HasPrefix(v, "[") {
			v = "[" + v
		}
		got, ok, _ := ojson.AppendCJSONArray([]byte("prefix"), []byte(v))
		js, refOK := refParse(v)
		if ok != refOK {
			t.Fatalf("%q: renderer reads an array: %v, the model: %v", v, ok, refOK)
		}
		if !ok {
			if string(got) != "prefix" {
				t.Fatalf("%q: not an array, yet %q was written", v, got)
			}
			return
		}
		var b strings.Builder
		refPrint(&b, js)
		if string(got) != "prefix"+b.String() {
			t.Fatalf("%q\n got: %s\nwant: prefix%s", v, got, b.String())
		}
	})
}
