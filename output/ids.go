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

// Next returns the high-water mark to persist: above every id observed.
func (s *IDSource) Next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
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
