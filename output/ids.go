package output

import (
	"bytes"
	"strconv"
	"sync"
)

// IDSource keeps the offset half of alert ids ("<epoch>.<offset>",
// docs/wazuh-compat.md, "The alerts.json line") growing across restarts. The engine numbers ids
// from a start offset by the length of each line it renders, as Wazuh uses
// the alerts log's byte offset. Seed the source with everything the previous
// run may have used (its persisted high-water mark and the alerts file's
// size), give Start to the engine (engine.Options.IDOffset), Observe every
// line written, and persist Next with the done-marks: an id is then never
// handed out twice, even when a restart falls in the same second.
type IDSource struct {
	mu    sync.Mutex // guards start and next
	start int64
	next  int64
}

// NewIDSource returns a source starting at the largest seed.
func NewIDSource(seeds ...int64) *IDSource {
	var m int64
	for _, s := range seeds {
		if s > m {
			m = s
		}
	}
	return &IDSource{start: m, next: m}
}

// Start returns the offset the engine should number from.
func (s *IDSource) Start() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.start
}

// Observe notes an alerts.json line written with its id.
func (s *IDSource) Observe(line []byte) {
	_, off, ok := ParseID(line)
	if !ok {
		return
	}
	end := off + int64(len(line)) + 1
	s.mu.Lock()
	if end > s.next {
		s.next = end
	}
	s.mu.Unlock()
}

// Next returns the high-water mark to persist: above every id observed and
// every range reserved.
func (s *IDSource) Next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// IDRangeSize is how many offsets one reserved range of ids holds: the
// alerts of one object take their ids from ranges of their own, so that
// a re-read gives them the same ids whatever else is read meanwhile.
const IDRangeSize = 1 << 24

// Reserve returns the first offset of a new range of IDRangeSize offsets,
// above every id handed out or observed.
func (s *IDSource) Reserve() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := s.next
	s.next += IDRangeSize
	return base
}

// ObjectIDs numbers the alerts of one object (engine.IDAllocator): each
// line's offset is where the previous line of the object ended, as Wazuh
// numbers alerts by their byte offset in alerts.log, within ranges of
// IDRangeSize offsets. Ranges come first from a list saved before an
// earlier read of the object (so that a re-read numbers its alerts as
// that read did), then from the IDSource. It is used by one goroutine.
type ObjectIDs struct {
	src    *IDSource
	ranges []int64 // bases of the ranges, in order of use
	cur    int     // index of the range in use
	used   int64   // offsets of ranges[cur] taken
}

// NewObjectIDs numbers from the ranges given (nil or empty: a first
// read), then from new ranges of src.
func NewObjectIDs(src *IDSource, ranges []int64) *ObjectIDs {
	return &ObjectIDs{src: src, ranges: append([]int64(nil), ranges...)}
}

// Take returns the offset of a line of fixed bytes plus the offset's own
// digits. A line that would cross the end of the range starts the next
// one.
func (o *ObjectIDs) Take(fixed int64) int64 {
	if len(o.ranges) == 0 {
		o.ranges = append(o.ranges, o.src.Reserve())
	}
	for {
		off := o.ranges[o.cur] + o.used
		n := fixed + int64(digits(off))
		if o.used+n <= IDRangeSize || o.used == 0 {
			o.used += n
			return off
		}
		o.cur, o.used = o.cur+1, 0
		if o.cur == len(o.ranges) {
			o.ranges = append(o.ranges, o.src.Reserve())
		}
	}
}

// Ranges returns the bases of the ranges used or given so far.
func (o *ObjectIDs) Ranges() []int64 { return o.ranges }

func digits(v int64) int {
	n := 1
	for v >= 10 {
		v /= 10
		n++
	}
	return n
}

// ParseID finds the alert's own id ("id":"<epoch>.<offset>") in an
// alerts.json line. rule.id ("80401") and mitre ids come earlier but have
// no dot between digits, and data comes after the id.
func ParseID(line []byte) (epoch, off int64, ok bool) {
	const key = `"id":"`
	for i := 0; ; {
		j := bytes.Index(line[i:], []byte(key))
		if j < 0 {
			return 0, 0, false
		}
		v := line[i+j+len(key):]
		i += j + len(key)
		end := bytes.IndexByte(v, '"')
		if end < 0 {
			return 0, 0, false
		}
		a, b, found := bytes.Cut(v[:end], []byte{'.'})
		if !found {
			continue
		}
		e, err1 := strconv.ParseInt(string(a), 10, 64)
		o, err2 := strconv.ParseInt(string(b), 10, 64)
		if err1 == nil && err2 == nil {
			return e, o, true
		}
	}
}
