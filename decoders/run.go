package decoders

import (
	"errors"
	"strings"

	"github.com/vpcalertd/vpcalertd/event"
	"github.com/vpcalertd/vpcalertd/ojson"
)

// step is a compiled step, shared by every stream of its decoder.
type step interface {
	// prepare runs once per stream, before the first record (resolve
	// symbols and origin values).
	prepare(r *runState, c *stepState)
	// apply runs the step on the event being built from the current record.
	apply(r *runState, ev *event.Event, c *stepState) error
}

// errSkip is returned by a record step when the record is consumed but is
// not an event (a flow-log header line).
var errSkip = errors.New("record is not an event")

// runState is the per-stream state the steps share.
type runState struct {
	origin *event.Origin
	path   string // for messages
	syms   *event.Symbols
	warn   func(error)

	// The current record: a line (line framings) or a JSON decoder
	// positioned at the record (json_array framing).
	line     []byte
	lineNo   int
	tcols    [][]TableValue // parquet framing: rows column by column, and the current row
	trow     int
	json     *ojson.Records
	consumed bool

	// layout identifies the sequence of field keys the event has at this
	// point of the steps, so that a step can reuse the positions it found
	// for the previous record. 0 means "unknown": look the fields up again.
	// Every record starts at layoutStart; a columns plan sets its own id;
	// a step that changes the keys depending on the data sets 0.
	layout  int
	layouts int // the last id handed out

	// scratch holds values the steps produce for the current record
	// (timestamps, Python strings, compact JSON); reset per record.
	scratch []byte

	originVals [numOriginFields][]byte

	cols    columnsState
	tree    ojson.Tree
	keys    keyCache
	tmp     []event.Field // fields being built by a step
	tmp2    []event.Field
	pathBuf []byte // dotted key being built
	spans   []span // columns of the current line
	epoch   epochCache
}

const layoutStart = 1

func (r *runState) newLayout() int {
	r.layouts++
	return r.layouts
}

// stepState is a step's per-stream cache.
type stepState struct {
	layout     int  // the layout the cached positions belong to (0: none)
	start, end int  // the field or object run found (start < 0: absent)
	exact      int  // index of the field when it is one non-object field, else -1
	ins        int  // where a new member of the field's parent goes
	insReplace bool // ins holds an empty object that a new member replaces
	appendNew  bool // the field is absent and a new one goes last
	sym        int32
	val        []byte
	safe       bool        // val is event.IsSafe
	sub        []stepState // per-field caches of multi-field steps
	last       []byte      // epoch_to_utc: the last value converted (nil: none yet)
	lastText   [20]byte    // and its text
}

// hit reports whether the cached positions hold for the event as it is.
func (c *stepState) hit(r *runState) bool { return r.layout != 0 && c.layout == r.layout }

// find returns the run of fields of key (one field, or an object's
// members), or start < 0; it reuses the previous answer while the layout is
// the same.
func (c *stepState) find(r *runState, fields []event.Field, key string) (start, end int) {
	if c.hit(r) {
		return c.start, c.end
	}
	c.start, c.end = locate(fields, key)
	c.exact = -1
	if c.start >= 0 && c.end == c.start+1 && fields[c.start].Key == key && fields[c.start].Kind != event.EmptyObject {
		c.exact = c.start
	}
	c.ins, c.insReplace = insertionPoint(fields, key)
	c.appendNew = c.start < 0 && !c.insReplace && c.ins == len(fields)
	c.layout = r.layout
	return c.start, c.end
}

// put sets key to f: in place when key exists (a whole object is replaced by
// the one field), else as the last member of its parent object (Python's
// dict assignment). It keeps the layout deterministic.
func (c *stepState) put(r *runState, ev *event.Event, key string, f event.Field) {
	start, end := c.find(r, ev.Fields, key)
	switch {
	case start >= 0 && end == start+1:
		ev.Fields[start] = f
	case start >= 0:
		ev.Fields[start] = f
		ev.Fields = append(ev.Fields[:start+1], ev.Fields[end:]...)
	case c.insReplace:
		ev.Fields[c.ins] = f
	case c.ins >= len(ev.Fields):
		ev.Fields = append(ev.Fields, f)
	default:
		ev.Fields = insertFields(ev.Fields, c.ins, f)
	}
}

// within reports whether key is a member (at any depth) of object prefix.
func within(key, prefix string) bool {
	return len(key) > len(prefix) && key[len(prefix)] == '.' && key[:len(prefix)] == prefix
}

// locate returns the field key, or the contiguous run of the members of
// object key, or -1, -1.
func locate(fields []event.Field, key string) (start, end int) {
	for i := range fields {
		k := fields[i].Key
		if k == key || within(k, key) {
			j := i + 1
			for j < len(fields) && within(fields[j].Key, key) {
				j++
			}
			return i, j
		}
	}
	return -1, -1
}

// insertionPoint returns where a new field key goes: after the last member
// of its closest existing ancestor object, or at the end. replace is true
// when the field there is an empty object standing for that ancestor, which
// the new member replaces.
func insertionPoint(fields []event.Field, key string) (at int, replace bool) {
	for {
		dot := strings.LastIndexByte(key, '.')
		if dot < 0 {
			return len(fields), false
		}
		key = key[:dot]
		for i := len(fields) - 1; i >= 0; i-- {
			k := fields[i].Key
			if within(k, key) {
				return i + 1, false
			}
			if k == key {
				return i, fields[i].Kind == event.EmptyObject
			}
		}
	}
}

// insertFields inserts fs at i.
func insertFields(fields []event.Field, i int, fs ...event.Field) []event.Field {
	n := len(fields)
	for range fs {
		fields = append(fields, event.Field{})
	}
	copy(fields[i+len(fs):], fields[i:n])
	copy(fields[i:], fs)
	return fields
}

// removeRun deletes fields[start:end]; when that empties the parent object
// of key, an empty-object field for the parent takes their place, as a
// Python dict keeps an emptied dict.
func removeRun(fields []event.Field, start, end int, key string) []event.Field {
	dot := strings.LastIndexByte(key, '.')
	if dot > 0 {
		parent := key[:dot]
		prevIn := start > 0 && within(fields[start-1].Key, parent)
		nextIn := end < len(fields) && within(fields[end].Key, parent)
		if !prevIn && !nextIn {
			fields[start] = event.Field{Key: parent, Value: emptyObject, Kind: event.EmptyObject, Sym: event.NoSym}
			return append(fields[:start+1], fields[end:]...)
		}
	}
	return append(fields[:start], fields[end:]...)
}

var emptyObject = []byte("{}")

// originField names a value of the stream's origin that set can copy.
type originField uint8

const (
	originType originField = iota
	originBucket
	originKey
	originPath
	originAccountID
	originAccountAlias
	originRegion
	numOriginFields
)

var originFields = map[string]originField{
	"type":          originType,
	"bucket":        originBucket,
	"key":           originKey,
	"path":          originPath,
	"account_id":    originAccountID,
	"account_alias": originAccountAlias,
	"region":        originRegion,
}

func (r *runState) setOrigin(o *event.Origin) {
	r.origin = o
	vals := [numOriginFields]string{
		originType: string(o.Type), originBucket: o.Bucket, originKey: o.Key, originPath: o.Path,
		originAccountID: o.AccountID, originAccountAlias: o.AccountAlias, originRegion: o.Region,
	}
	for i, v := range vals {
		r.originVals[i] = []byte(v)
	}
}

// keyCache interns the dotted keys built while flattening JSON, with their
// symbols, so that a key seen before costs no allocation.
type keyCache struct {
	m map[string]keyInfo
}

type keyInfo struct {
	key string
	sym int32
}

const maxCachedKeys = 1 << 14

func (k *keyCache) get(r *runState, b []byte) keyInfo {
	if ki, ok := k.m[string(b)]; ok {
		return ki
	}
	ki := keyInfo{key: string(b)}
	ki.sym = r.syms.Lookup(ki.key)
	if k.m == nil {
		k.m = map[string]keyInfo{}
	}
	if len(k.m) < maxCachedKeys {
		k.m[ki.key] = ki
	}
	return ki
}
