package event

import "unsafe"

// DataWriter renders data objects like AppendDataJSON, remembering the layout
// of the last event: when the next event has the same keys, and the same
// values are empty (every record of one flow-log file does), only the values
// are written between the remembered fragments. Where fields go depends only
// on the keys and on which values are empty (docs/wazuh-compat.md), so a
// learnt layout holds for every event that matches it. A DataWriter is for
// one goroutine.
type DataWriter struct {
	layout  uint64 // the Event.Layout of the last event, 0 if none
	keys    []string
	skips   []bool
	learned bool // order and frags describe keys and skips

	order   []int32  // the field of each value written, in output order
	frags   [][]byte // frags[k] precedes value k; the last one closes the objects
	fragBuf []byte   // holds frags
	spans   []span
	scratch scratch
}

type span struct{ field, start, end int }

// Append appends e's data object to dst.
func (w *DataWriter) Append(dst []byte, e *Event) []byte {
	if w.matches(e) {
		if w.learned {
			return w.fill(dst, e)
		}
		// Seen twice in a row: worth learning.
		return w.learn(dst, e)
	}
	w.remember(e)
	if e.Layout != 0 {
		// The decoder promises more events like this one.
		return w.learn(dst, e)
	}
	return e.appendNested(dst, dataStyle, nil, &w.scratch)
}

// matches reports whether e has the keys and empty values of the last event.
func (w *DataWriter) matches(e *Event) bool {
	if len(e.Fields) != len(w.keys) || len(w.keys) == 0 {
		return false
	}
	if e.Layout != 0 && e.Layout == w.layout {
		// Same keys by the decoder's promise; only which values are empty
		// may differ.
		for i := range e.Fields {
			if skip(&e.Fields[i], dataStyle) != w.skips[i] {
				return false
			}
		}
		return true
	}
	for i := range e.Fields {
		f := &e.Fields[i]
		if !sameString(f.Key, w.keys[i]) || skip(f, dataStyle) != w.skips[i] {
			return false
		}
	}
	// The same keys under another layout (the next object of the same
	// format, read by a new stream): the events after this one keep to
	// e.Layout, so they take the check above.
	w.layout = e.Layout
	return true
}

// sameString compares two strings, first by where they are stored: a
// decoder hands out the same key strings for every record of a file.
func sameString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return unsafe.StringData(a) == unsafe.StringData(b) || a == b
}

// remember keeps e's keys and empty values as the last event's.
func (w *DataWriter) remember(e *Event) {
	w.layout = e.Layout
	w.learned = false
	w.keys = w.keys[:0]
	w.skips = w.skips[:0]
	for i := range e.Fields {
		w.keys = append(w.keys, e.Fields[i].Key)
		w.skips = append(w.skips, skip(&e.Fields[i], dataStyle))
	}
}

// learn renders e into dst, recording where each value went, and keeps the
// bytes between values as the layout.
func (w *DataWriter) learn(dst []byte, e *Event) []byte {
	base := len(dst)
	w.spans = w.spans[:0]
	dst = e.appendNested(dst, dataStyle, &w.spans, &w.scratch)
	w.order = w.order[:0]
	w.fragBuf = w.fragBuf[:0]
	prev := base
	for _, sp := range w.spans {
		w.fragBuf = append(w.fragBuf, dst[prev:sp.start]...)
		w.order = append(w.order, int32(sp.field))
		prev = sp.end
	}
	w.fragBuf = append(w.fragBuf, dst[prev:]...)
	// Slice fragBuf only now that it no longer moves.
	w.frags = w.frags[:0]
	at := 0
	prev = base
	for _, sp := range w.spans {
		n := sp.start - prev
		w.frags = append(w.frags, w.fragBuf[at:at+n:at+n])
		at += n
		prev = sp.end
	}
	w.frags = append(w.frags, w.fragBuf[at:])
	w.learned = true
	return dst
}

// fill writes e with the learnt layout.
func (w *DataWriter) fill(dst []byte, e *Event) []byte {
	frags := w.frags[:len(w.order)+1]
	for k, fi := range w.order {
		dst = append(dst, frags[k]...)
		dst = appendValue(dst, &e.Fields[fi], dataStyle)
	}
	return append(dst, frags[len(w.order)]...)
}
