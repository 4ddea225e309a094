// Command ratio reads `go test -bench` output on standard input and divides
// the bare argon2id cost by the cost of a whole sign-in over HTTP, as
// ARCHITECTURE.md's hot-path rule asks ("measure the path against that cost
// in the same run"):
//
//	go test -run XXX -bench 'Argon2idBare|SignInHTTP' -benchtime 5s -count 3 ./internal/app/ | tee bench.txt
//	go run ./bench/ratio -min 0.85 < bench.txt
//
// ratio = ns/op(BenchmarkArgon2idBare) / ns/op(BenchmarkSignInHTTP…): the
// share of the bare hashing rate that end-to-end sign-in reaches. The i-th
// result of each benchmark are paired; on a noisy machine run the rounds
// interleaved (`go test -count 1` several times, as bench/run.sh does) so
// that each pair ran within seconds of each other. The verdict uses the
// median of the paired ratios; the ratio of the medians is shown too. When
// the benchmarks report cpu-ms/op (process CPU time per operation), the
// same division of CPU costs is shown: it does not depend on how much CPU
// other work on the machine took, so it tells noise from a slow path.
// Benchmarks that report signin/bare (the …Interleaved ones, which pair
// short batches of both sides themselves) are judged on its median; when
// they are present they decide, and the ratios of the separate runs (which
// ran tens of seconds apart) are shown for information.
// Exits 1 when a verdict is below -min.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	line   = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	metric = regexp.MustCompile(`([-+\d.eE]+) (\S+)`)
)

// runs maps a benchmark to its results in order, each a map unit → value.
type runs map[string][]map[string]float64

func main() {
	minRatio := flag.Float64("min", 0.85, "the target: exit 1 when a paired-median ratio is below it")
	base := flag.String("base", "BenchmarkArgon2idBare", "the yardstick benchmark")
	flag.Parse()

	res := runs{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		vals := map[string]float64{}
		for _, mm := range metric.FindAllStringSubmatch(m[2], -1) {
			if v, err := strconv.ParseFloat(mm[1], 64); err == nil {
				vals[mm[2]] = v
			}
		}
		if _, ok := vals["ns/op"]; !ok {
			continue
		}
		if _, ok := res[m[1]]; !ok {
			order = append(order, m[1])
		}
		res[m[1]] = append(res[m[1]], vals)
	}
	if len(res[*base]) == 0 {
		fmt.Fprintf(os.Stderr, "ratio: no %s lines on standard input\n", *base)
		os.Exit(2)
	}
	interleaved := false
	for _, name := range order {
		if len(res.values(name, "signin/bare")) > 0 {
			interleaved = true
			continue
		}
		ns := res.values(name, "ns/op")
		fmt.Printf("%-34s runs %d  ns/op median %10.0f (%5.1f/s)  all: %s", name, len(ns), median(ns), 1e9/median(ns), join(ns, 0))
		if cpu := res.values(name, "cpu-ms/op"); len(cpu) == len(ns) {
			fmt.Printf("  cpu-ms/op: %s", join(cpu, 2))
		}
		fmt.Println()
	}
	fail := false
	for _, name := range order {
		if name == *base || len(res.values(name, "signin/bare")) > 0 {
			continue
		}
		short := strings.TrimPrefix(*base, "Benchmark") + " / " + strings.TrimPrefix(name, "Benchmark")
		bare, path := res.values(*base, "ns/op"), res.values(name, "ns/op")
		pair := paired(bare, path)
		verdict := "MET"
		switch {
		case median(pair) >= *minRatio:
		case interleaved:
			verdict = "not met here (informative: the interleaved benchmark below decides)"
		default:
			verdict = "NOT MET"
			fail = true
		}
		fmt.Printf("RATIO %s: paired %s -> median %.3f (min %.3f, max %.3f); ratio of medians %.0f / %.0f = %.3f; target >= %.2f: %s\n",
			short, join(pair, 3), median(pair), slices.Min(pair), slices.Max(pair),
			median(bare), median(path), median(bare)/median(path), *minRatio, verdict)
		cb, cp := res.values(*base, "cpu-ms/op"), res.values(name, "cpu-ms/op")
		if len(cb) > 0 && len(cp) > 0 {
			cpair := paired(cb, cp)
			fmt.Printf("CPU   %s: paired %s -> median %.3f (cpu-ms/op medians %.2f / %.2f)\n",
				short, join(cpair, 3), median(cpair), median(cb), median(cp))
		}
		for i, r := range res[name] {
			if r["non303"] != 0 {
				fmt.Printf("  WARNING %s run %d had %.0f answers other than 303\n", name, i+1, r["non303"])
			}
			if h, ok := r["hashes/op"]; ok && (h < 0.99 || h > 1.01) {
				fmt.Printf("  WARNING %s run %d computed %.3f hashes per sign-in, not 1\n", name, i+1, h)
			}
		}
	}
	// Benchmarks that interleave both sides themselves report the ratio.
	for _, name := range order {
		r := res.values(name, "signin/bare")
		if len(r) == 0 {
			continue
		}
		h, si := res.values(name, "hashes/s"), res.values(name, "signins/s")
		verdict := "MET"
		if median(r) < *minRatio {
			verdict = "NOT MET"
			fail = true
		}
		fmt.Printf("RATIO %s (interleaved batches): median per run %s -> %.3f; rates over all batches %s signins/s / %s hashes/s; target >= %.2f: %s\n",
			strings.TrimPrefix(name, "Benchmark"), join(r, 3), median(r), join(si, 1), join(h, 1), *minRatio, verdict)
		for i, m := range res[name] {
			if m["non303"] != 0 {
				fmt.Printf("  WARNING %s run %d had %.0f answers other than 303\n", name, i+1, m["non303"])
			}
		}
	}
	if fail {
		os.Exit(1)
	}
}

func (r runs) values(name, unit string) []float64 {
	var out []float64
	for _, m := range r[name] {
		if v, ok := m[unit]; ok {
			out = append(out, v)
		}
	}
	return out
}

// paired divides base[i] by path[i].
func paired(base, path []float64) []float64 {
	var out []float64
	for i := range min(len(base), len(path)) {
		out = append(out, base[i]/path[i])
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func join(v []float64, prec int) string {
	var p []string
	for _, x := range v {
		p = append(p, strconv.FormatFloat(x, 'f', prec, 64))
	}
	return strings.Join(p, " ")
}
