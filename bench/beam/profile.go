package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/gridrun/gridrun/internal/procstat"
)

// startProfiles profiles a child's job into dir: its CPU over the whole
// job (cpu-NAME.pprof), and its heap at the largest heap seen
// (heap-NAME.pprof, written again each time the heap grows by a tenth),
// which is what its peak RSS is made of, and the heap and peak RSS every
// 50 ms (mem-NAME.tsv: seconds, heap in use MiB, peak RSS MiB). stop ends
// them.
func startProfiles(dir, name string) (stop func() error, err error) {
	cpu, err := os.Create(filepath.Join(dir, "cpu-"+name+".pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, err
	}
	tsv, err := os.Create(filepath.Join(dir, "mem-"+name+".tsv"))
	if err != nil {
		pprof.StopCPUProfile()
		cpu.Close()
		return nil, err
	}
	start := time.Now()
	done := make(chan struct{})
	ended := make(chan error, 1)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				ended <- nil
				return
			case <-tick.C:
			}
			runtime.ReadMemStats(&ms)
			hwm, _ := procstat.PeakRSS()
			fmt.Fprintf(tsv, "%.2f\t%.1f\t%.1f\n", time.Since(start).Seconds(), float64(ms.HeapInuse)/(1<<20), float64(hwm)/(1<<20))
			if ms.HeapInuse < peak+peak/10 {
				continue
			}
			peak = ms.HeapInuse
			if err := writeHeap(filepath.Join(dir, "heap-"+name+".pprof")); err != nil {
				ended <- err
				<-done
				return
			}
		}
	}()
	return func() error {
		pprof.StopCPUProfile()
		close(done)
		err := <-ended
		if cerr := cpu.Close(); err == nil {
			err = cerr
		}
		if cerr := tsv.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}

func writeHeap(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
