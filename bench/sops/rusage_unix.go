//go:build unix

package main

import (
	"runtime"
	"syscall"
)

// peakRSS returns the peak resident set size, in KiB, of this process and of the largest child
// it waited for.
func peakRSS() (self, children int64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = kib(int64(ru.Maxrss))
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		children = kib(int64(ru.Maxrss))
	}
	return self, children
}

// kib converts ru_maxrss, which Linux reports in KiB and macOS in bytes.
func kib(maxrss int64) int64 {
	if runtime.GOOS == "darwin" {
		return maxrss / 1024
	}
	return maxrss
}
