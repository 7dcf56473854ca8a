package decoders

import (
	"fmt"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// A record's JSON is parsed into an ojson.Tree (member order, number
// literals and Python's repeated-key semantics kept), then flattened into
// the event's dotted fields.

// appendFlat appends the fields of node i found at path: members of objects
// become dotted keys, {} an EmptyObject field, a list one Array field
// holding its compact JSON, scalars one field of their kind.
func appendFlat(t *ojson.Tree, r *runState, i int32, path []byte, out []event.Field) []event.Field {
	switch t.Kind(i) {
	case ojson.Object:
		if t.Count(i) == 0 {
			ki := r.keys.get(r, path)
			return append(out, event.Field{Key: ki.key, Value: emptyObject, Kind: event.EmptyObject, Sym: ki.sym})
		}
		for c := t.First(i); c >= 0; c = t.Next(c) {
			// Like analysisd's JSON decoder: a member's key is its parent's
			// key, a dot and its name, even when either is empty, so that
			// {"": {"srcip": "x"}} keeps its shape as ".srcip" instead of
			// becoming the static field srcip.
			p := append(path, '.')
			p = append(p, t.Name(c)...)
			out = appendFlat(t, r, c, p, out)
			path = p[:len(path)] // keep any growth of the buffer
		}
		r.pathBuf = path[:0]
		return out
	case ojson.Array:
		ki := r.keys.get(r, path)
		start := len(r.scratch)
		r.scratch = t.AppendCJSON(r.scratch, i)
		return append(out, event.Field{Key: ki.key, Value: r.scratch[start:len(r.scratch):len(r.scratch)], Kind: event.Array, Sym: ki.sym})
	}
	ki := r.keys.get(r, path)
	k := t.Kind(i)
	return append(out, event.Field{Key: ki.key, Value: t.Text(i), Kind: kindOfJSON[k], Sym: ki.sym})
}

var kindOfJSON = [...]event.Kind{ojson.String: event.String, ojson.Number: event.Number, ojson.Bool: event.Bool, ojson.Null: event.Null}

// maxObjectDepth bounds the nesting of objects that are flattened: each
// level lengthens every key below it, so a deep record would cost memory
// quadratic in its size. Real records nest a dozen levels.
const maxObjectDepth = 100

var errTooDeep = fmt.Errorf("record nests objects more than %d levels deep", maxObjectDepth)
