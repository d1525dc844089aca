package main

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// stats summarises one closed-loop load run.
type stats struct {
	ops, errs int64
	elapsed   time.Duration
	lat       []time.Duration // sorted
	cpu       time.Duration   // CPU used while measuring (runCPU only)
}

// cpuPerOp is the CPU time per successful operation, in microseconds.
func (s stats) cpuPerOp() float64 {
	if s.ops == 0 {
		return 0
	}
	return us(s.cpu) / float64(s.ops)
}

func (s stats) rate() float64 { return float64(s.ops) / s.elapsed.Seconds() }

func (s stats) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(s.lat)-1))
	return s.lat[i]
}

// run drives op from clients goroutines for warmup+d and measures the
// part after warmup. Each client records its own latencies.
func run(ctx context.Context, clients int, warmup, d time.Duration, op func(ctx context.Context, client int) error) stats {
	return runCPU(ctx, clients, warmup, d, nil, op)
}

// runCPU is run that also reads cpu() when measuring starts and ends.
func runCPU(ctx context.Context, clients int, warmup, d time.Duration, cpu func() time.Duration, op func(ctx context.Context, client int) error) stats {
	if cpu == nil {
		cpu = func() time.Duration { return 0 }
	}
	var measuring atomic.Bool
	var ops, errs atomic.Int64
	lats := make([][]time.Duration, clients)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(ctx, c)
				el := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				ops.Add(1)
				local = append(local, el)
			}
			lats[c] = local
		}(c)
	}
	time.Sleep(warmup)
	cpu0 := cpu()
	measuring.Store(true)
	start := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(start)
	used := cpu() - cpu0
	cancel()
	wg.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return stats{ops: ops.Load(), errs: errs.Load(), elapsed: elapsed, lat: all, cpu: used}
}

func sortDurations(d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
}

func pctOf(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(p/100*float64(len(d)-1))]
}
