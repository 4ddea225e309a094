package main

import (
	"os"
	"sync"
)

// environ returns the process environment; tests replace it with
// setEnviron.
var (
	environMu  sync.Mutex
	environSrc = os.Environ
)

func environ() []string {
	environMu.Lock()
	defer environMu.Unlock()
	return environSrc()
}

func setEnviron(f func() []string) {
	environMu.Lock()
	environSrc = f
	environMu.Unlock()
}
