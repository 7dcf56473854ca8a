package decoders

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
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
		if root, err = r.json.Decode(&r.tree); err != nil {
			return &streamFail{err}
		}
	} else if root, err = parseLine(&r.tree, r.line); err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if r.tree.Kind(root) != ojson.Object {
		return errNotObject
	}
	if r.tree.ObjectDepth() > maxObjectDepth {
		return errTooDeep
	}
	r.layout = 0
	ins, replace := insertionPoint(ev.Fields, s.probe)
	if replace { // into was {}: its members take its place
		ev.Fields = append(ev.Fields[:ins], ev.Fields[ins+1:]...)
	}
	// Flatten every member; a member whose key is already in the event
	// (rare: the envelope's log_info) replaces it in place.
	pre := ev.Fields
	r.tmp, r.tmp2 = r.tmp[:0], r.tmp2[:0]
	var moved []memberRun
	for m := r.tree.First(root); m >= 0; m = r.tree.Next(m) {
		path := r.pathBuf[:0]
		if s.into != "" {
			path = append(append(path, s.into...), '.')
		}
		path = append(path, r.tree.Name(m)...)
		key := r.keys.get(r, path).key
		if start, end := locate(pre, key); start >= 0 {
			from := len(r.tmp2)
			r.tmp2 = appendFlat(&r.tree, r, m, path, r.tmp2)
			moved = append(moved, memberRun{start, end, from, len(r.tmp2)})
		} else {
			r.tmp = appendFlat(&r.tree, r, m, path, r.tmp)
		}
		r.pathBuf = path[:0]
	}
	ev.Fields = insertFields(ev.Fields, ins, r.tmp...)
	for i := len(moved) - 1; i >= 0; i-- { // in place, last first: all lie before ins
		mr := moved[i]
		ev.Fields = replaceFields(ev.Fields, mr.start, mr.end, r.tmp2[mr.from:mr.to])
	}
	return nil
}

// memberRun is a member of a parsed record that replaces fields[start:end].
type memberRun struct{ start, end, from, to int }

// parseLine parses a line holding one JSON value. encoding/json checks it
// first, for its messages ("invalid character ... looking for beginning of
// value"), which name the problem as users of Python's json module expect.
func parseLine(t *ojson.Tree, b []byte) (int32, error) {
	if !json.Valid(b) {
		var m json.RawMessage
		err := json.Unmarshal(b, &m)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return -1, err
	}
	return t.Add(b)
}
