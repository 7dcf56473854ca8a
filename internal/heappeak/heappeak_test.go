package heappeak

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var sink []byte

// TestDuring: a 64 MiB buffer held while f runs is in the peak; once it is
// collected, the peak of a function that allocates nothing is far below.
func TestDuring(t *testing.T) {
	held := During(time.Millisecond, func() {
		sink = make([]byte, 64<<20)
		for i := range sink {
			sink[i] = byte(i)
		}
		time.Sleep(20 * time.Millisecond)
	})
	sink = nil
	runtime.GC()
	idle := During(time.Millisecond, func() { time.Sleep(20 * time.Millisecond) })
	assert.GreaterOrEqual(t, held, uint64(64<<20))
	assert.Less(t, idle, held-32<<20)
}
