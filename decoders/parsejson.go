package decoders

import (
	"errors"
	"fmt"

	"github.com/vpcalertd/vpcalertd/event"
)

// streamFail wraps an error of the underlying stream met by a record step;
// it ends the stream (a StreamError) instead of skipping one record.
type streamFail struct{ err error }

func (e *streamFail) Error() string { return e.err.Error() }
func (e *streamFail) Unwrap() error { return e.err }

var errNotObject = errors.New("record is not a JSON object")

// parseJSONStep reads the record as a JSON object and merges its members
// into the object into (the event root when empty), as Python's
// dict.update: a member whose key exists replaces it in place, new members
// go last.
type parseJSONStep struct {
	into  string
	probe string // a member path of into, to find where new members go
}

func (s *parseJSONStep) prepare(*runState, *stepState) {}

func (s *parseJSONStep) apply(r *runState, ev *event.Event, _ *stepState) error {
	r.consumed = true
	var root int32
	var err error
	if r.json != nil {
		if root, err = r.tree.parseValue(r.json.dec); err != nil {
			return &streamFail{err}
		}
	} else if root, err = r.tree.parseBytes(r.line); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if r.tree.nodes[root].kind != jObject {
		return errNotObject
	}
	r.layout = 0
	ins, replace := insertionPoint(ev.Fields, s.probe)
	if replace { // into was {}: its members take its place
		ev.Fields = append(ev.Fields[:ins], ev.Fields[ins+1:]...)
	}
	pre := len(ev.Fields)
	for m := r.tree.nodes[root].first; m >= 0; m = r.tree.nodes[m].next {
		path := r.pathBuf[:0]
		if s.into != "" {
			path = append(append(path, s.into...), '.')
		}
		path = append(path, r.tree.nodes[m].key...)
		key := r.keys.get(r, path).key
		r.tmp = r.tree.appendFlat(r, m, path, r.tmp[:0])
		if start, end := locate(ev.Fields[:pre], key); start >= 0 {
			ev.Fields = replaceFields(ev.Fields, start, end, r.tmp)
			delta := len(r.tmp) - (end - start)
			pre += delta
			if start < ins {
				ins += delta
			}
			continue
		}
		ev.Fields = insertFields(ev.Fields, ins, r.tmp...)
		ins += len(r.tmp)
		pre += len(r.tmp)
		r.pathBuf = path[:0]
	}
	return nil
}
