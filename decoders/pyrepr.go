package decoders

import (
	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// Python's str() of a JSON value after json.load, as the wodle writes
// {"string": str(value)} for CloudTrail fields that are not objects
// (docs/wazuh-compat.md, "CloudTrail records", step 5): True/False/None, ints as written,
// floats in repr form, lists and dicts in repr form (['a', 'b']).

// appendPythonStr appends str(v) for the value of f.
func (r *runState) appendPythonStr(dst []byte, f *event.Field) []byte {
	switch f.Kind {
	case event.String:
		return append(dst, f.Value...)
	case event.Number:
		return ojson.AppendPyNumber(dst, f.Value)
	case event.Bool:
		return ojson.AppendPyBool(dst, string(f.Value) == "true")
	case event.Null:
		return append(dst, "None"...)
	case event.EmptyObject:
		return append(dst, "{}"...)
	}
	// f.Value is the compact JSON of an array, which ojson.Tree.AppendCJSON wrote.
	i, err := r.tree.Add(f.Value)
	if err != nil {
		return append(dst, f.Value...)
	}
	return r.tree.AppendPyRepr(dst, i)
}
