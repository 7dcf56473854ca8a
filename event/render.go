package event

import (
	"strings"
	"sync"

	"github.com/vpcalertd/vpcalertd/ojson"
)

// AppendWodleJSON appends the event as the Wazuh AWS collector serialises it
// with Python's json.dumps defaults: separators ", " and ": ", non-ASCII
// escaped as \uXXXX, original JSON types kept, empty strings and empty objects
// kept. This is the text Wazuh stores as full_log and previous_output
// (docs/wazuh-compat.md, "The wodle's messages").
func (e *Event) AppendWodleJSON(dst []byte) []byte {
	return e.appendNested(dst, wodleStyle, nil, nil)
}

// AppendDataJSON appends the alert's data object as analysisd writes it
// (docs/wazuh-compat.md): compact JSON, every scalar a string, arrays kept
// as arrays with their element types, empty strings and empty objects
// dropped. Fields are placed in order as Wazuh's W_JSON_AddField places
// them: a name equal to an earlier one but for ASCII letter case is that
// name (a repeated leaf is dropped, a nested field goes into the earlier
// object, or is dropped when the earlier member is not an object), and the
// first spelling stays. A string that starts with '[' is written as JSON
// when cJSON reads all of it as an array (ojson.AppendCJSONArray).
func (e *Event) AppendDataJSON(dst []byte) []byte {
	return e.appendNested(dst, dataStyle, nil, nil)
}

type style uint8

const (
	wodleStyle style = iota
	dataStyle
)

// skip reports whether a field is left out in the given style.
func skip(f *Field, st style) bool {
	if st == dataStyle {
		return f.Kind == EmptyObject || (f.Kind == String && len(f.Value) == 0)
	}
	return false
}

// appendNested re-nests the flat dotted keys. Fields of one object are
// contiguous in every event a decoder produces, so the object is written in
// one pass with a stack of open path segments, remembering the names
// written at each open level. When a name equals one already written at its
// level (ignoring ASCII letter case in the data style: a key re-opening an
// object already closed, a scalar and an object under one name, a repeated
// key), or the event nests deeper than the stack holds, the event is
// written through a dataTree instead, which places fields exactly as
// Wazuh's W_JSON_AddField does. Both ways give the same bytes.
// When spans is not nil, it receives where each field's value was written
// (dst offsets), in the order written. sc is scratch space, or nil.
func (e *Event) appendNested(dst []byte, st style, spans *[]span, sc *scratch) []byte {
	if sc == nil {
		sc = scratchPool.Get().(*scratch)
		defer scratchPool.Put(sc)
	}
	start := len(dst)
	if out, ok := e.appendStream(dst, st, spans, sc); ok {
		return out
	}
	if spans != nil {
		*spans = (*spans)[:0]
	}
	sc.tree.build(e, st)
	return sc.tree.appendTo(dst[:start], e, 0, st, spans)
}

// scratch is the reusable memory of appendNested.
type scratch struct {
	sibs []string // names written at the open levels, outermost first
	tree dataTree
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// nameBit maps a name to one of 64 bits, the same for names equal but for
// ASCII letter case, so that most names need no comparison with the others
// of their level.
func nameBit(name string) uint64 {
	if name == "" {
		return 1
	}
	first, last := name[0]|0x20, name[len(name)-1]|0x20
	return 1 << ((uint(len(name))*7 + uint(first)*3 + uint(last)) & 63)
}

// streamDepth is how many open objects appendStream follows.
const streamDepth = 16

// appendStream is appendNested's one pass; it returns false when the event
// needs the tree.
func (e *Event) appendStream(dst []byte, st style, spans *[]span, sc *scratch) ([]byte, bool) {
	fold := st == dataStyle
	dst = append(dst, '{')
	var open [streamDepth]string          // open object segments below the root
	var levelStart [streamDepth + 1]int32 // where each level's names start in sibs
	var masks [streamDepth + 1]uint64     // nameBit of each level's names
	sibs := sc.sibs[:0]
	defer func() { sc.sibs = sibs[:0] }()
	depth := 0
	first := true
	for i := range e.Fields {
		f := &e.Fields[i]
		if skip(f, st) {
			continue
		}
		key := f.Key
		// Find how many open segments the key continues; pos is where the
		// rest of key starts.
		common, pos := 0, 0
		for common < depth {
			seg := open[common]
			if len(key)-pos <= len(seg) || key[pos+len(seg)] != '.' || key[pos:pos+len(seg)] != seg {
				break
			}
			pos += len(seg) + 1
			common++
		}
		for depth > common {
			sibs = sibs[:levelStart[depth]]
			masks[depth] = 0
			dst = append(dst, '}')
			depth--
			first = false
		}
		// Open the remaining parent segments, then write the leaf; a name
		// the level already has sends the event to the tree.
		for {
			dot := strings.IndexByte(key[pos:], '.')
			name := key[pos:]
			if dot >= 0 {
				name = key[pos : pos+dot]
			}
			if bit := nameBit(name); masks[depth]&bit == 0 {
				masks[depth] |= bit
			} else {
				for _, s := range sibs[levelStart[depth]:] {
					if len(s) == len(name) && (s == name || (fold && asciiEqualFold(s, name))) {
						return dst, false
					}
				}
			}
			sibs = append(sibs, name)
			dst = appendKey(dst, name, first, st)
			if dot < 0 {
				break
			}
			if depth == streamDepth {
				return dst, false
			}
			dst = append(dst, '{')
			open[depth] = name
			depth++
			levelStart[depth] = int32(len(sibs))
			first = true
			pos += dot + 1
		}
		vstart := len(dst)
		dst = appendValue(dst, f, st)
		if spans != nil {
			*spans = append(*spans, span{field: i, start: vstart, end: len(dst)})
		}
		first = false
	}
	for ; depth > 0; depth-- {
		dst = append(dst, '}')
	}
	return append(dst, '}'), true
}

func appendKey(dst []byte, k string, first bool, st style) []byte {
	if st == wodleStyle {
		if !first {
			dst = append(dst, ", "...)
		}
		dst = ojson.AppendPythonString(dst, k)
		return append(dst, ": "...)
	}
	if !first {
		dst = append(dst, ',')
	}
	dst = ojson.AppendCJSONString(dst, k)
	return append(dst, ':')
}

func appendValue(dst []byte, f *Field, st style) []byte {
	if f.Safe && f.Kind == String && (len(f.Value) == 0 || f.Value[0] != '[') {
		dst = append(dst, '"')
		dst = append(dst, f.Value...)
		return append(dst, '"')
	}
	if st == wodleStyle {
		switch f.Kind {
		case String:
			return ojson.AppendPythonString(dst, f.Value)
		case Array:
			return ojson.Reformat(dst, f.Value, ojson.Python)
		default:
			return append(dst, f.Value...)
		}
	}
	switch f.Kind {
	case Array:
		// A decoder's array is JSON cJSON reads; should one not be, it is
		// still written as the array it is.
		if out, ok, _ := ojson.AppendCJSONArray(dst, f.Value); ok {
			return out
		}
		return ojson.Reformat(dst, f.Value, ojson.CJSON)
	case Number:
		dst = append(dst, '"')
		dst = ojson.AppendNumberText(dst, f.Value)
		return append(dst, '"')
	case String:
		// W_JSON_AddField turns a value that cJSON reads as one whole
		// array back into JSON.
		if len(f.Value) > 0 && f.Value[0] == '[' {
			if out, ok, _ := ojson.AppendCJSONArray(dst, f.Value); ok {
				return out
			}
		}
		return ojson.AppendCJSONString(dst, f.Value)
	default:
		return ojson.AppendCJSONString(dst, f.Value)
	}
}
