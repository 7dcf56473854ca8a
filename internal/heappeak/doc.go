// Package heappeak measures the highest heap in use while something runs,
// for the benchmarks and tests that bound memory: a goroutine reads
// runtime.MemStats.HeapInuse every interval until it is stopped. It
// samples, so a peak shorter than the interval can be missed; the heap
// counted includes garbage not collected yet (what the process holds).
package heappeak
