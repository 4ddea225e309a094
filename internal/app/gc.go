package app

import (
	"os"
	"runtime/debug"
)

// TuneGC sets the garbage collector for a node, unless the operator set
// GOGC or GOMEMLIMIT. A node's allocations are dominated by argon2id: 19
// MiB per password hash, garbage at once. With Go's default (GOGC=100)
// the collector runs every hash or two and costs about a tenth of a
// sign-in's CPU (BENCHMARKS.md §1); GOGC=400 collects a quarter as often.
// The soft memory limit keeps the process well under 1 GiB all the same:
// near it, the collector runs as often as it must.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(768 << 20)
	}
}
