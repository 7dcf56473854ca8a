package heappeak

import (
	"runtime"
	"sync"
	"time"
)

// Sampler reads the heap in use every interval from Start until Stop.
type Sampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

// Start samples the heap in use every interval, starting now.
func Start(interval time.Duration) *Sampler {
	s := &Sampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var ms runtime.MemStats
		sample := func() {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			sample()
			select {
			case <-s.done:
				sample()
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling, after one last sample, and returns the highest
// heap in use seen, in bytes. It is called once.
func (s *Sampler) Stop() uint64 {
	close(s.done)
	s.wg.Wait()
	return s.peak
}

// During collects garbage, runs f and returns the highest heap in use seen
// while it ran, sampled every interval.
func During(interval time.Duration, f func()) uint64 {
	runtime.GC()
	s := Start(interval)
	f()
	return s.Stop()
}
