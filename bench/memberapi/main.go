// Command memberapi compares the member API read (GET /api/v1/members/{sub},
// decryption included) with the same read with encryption disabled
// (BENCHMARKS.md §5.1). It builds internal/memberapi's test binary twice —
// the default build, and the benchmark build -tags kaiin_plainprofile —
// and runs BenchmarkMemberAPIRead from each in interleaved pairs, in
// ABBA order (sealed, plain, plain, sealed, …), one backend at a time, so
// that other load on the machine falls on both sides of a pair.
//
// For each pair it prints the wall-clock ratio (plain req/s ÷ sealed
// req/s) and the CPU-cost ratio (sealed cpu-us/op ÷ plain cpu-us/op): the
// overhead of encryption, whose target is at most 1.3. It judges on the
// median CPU-cost ratio of the dek-cached pairs, which other work on the
// machine barely moves, and exits 1 above -max.
//
//	go run ./bench/memberapi -pairs 4 -benchtime 4s
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

type result struct {
	reqs, p50, p99, cpu, non200 float64
}

var lineRE = regexp.MustCompile(`^BenchmarkMemberAPIRead/([^/]+)/(\S+?)-\d+\s+\d+\s+\d+ ns/op\s+(.*)$`)

func main() {
	pairs := flag.Int("pairs", 4, "interleaved pairs per backend")
	benchtime := flag.String("benchtime", "4s", "-test.benchtime of each run")
	backends := flag.String("backends", "sqlite,postgres+redis", "backends, comma-separated")
	maxRatio := flag.Float64("max", 1.3, "largest acceptable overhead (sealed cost ÷ plain cost)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "kaiin-memberapi-bench-")
	check(err)
	defer os.RemoveAll(dir)
	bins := map[string]string{"sealed": filepath.Join(dir, "sealed.test"), "plain": filepath.Join(dir, "plain.test")}
	for _, args := range [][]string{
		{"test", "-c", "-o", bins["sealed"], "./internal/memberapi/"},
		{"test", "-c", "-tags", "kaiin_plainprofile", "-o", bins["plain"], "./internal/memberapi/"},
	} {
		cmd := exec.Command("go", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		check(cmd.Run())
	}
	pkgDir, err := filepath.Abs("internal/memberapi")
	check(err)

	failed := false
	for _, be := range strings.Split(*backends, ",") {
		// sealed results by variant, and plain, in pair order.
		sealed := map[string][]result{}
		var plain []result
		for i := range *pairs {
			order := []string{"sealed", "plain"}
			if i%2 == 1 {
				order = []string{"plain", "sealed"}
			}
			for _, build := range order {
				fmt.Printf("# %s pair %d %s: %s load %s\n", be, i+1, build, time.Now().UTC().Format("15:04:05"), load())
				out := run(bins[build], pkgDir, "MemberAPIRead/"+regexp.QuoteMeta(be)+"/", *benchtime)
				for variant, r := range out {
					if r.non200 > 0 {
						failed = true
					}
					if build == "plain" {
						plain = append(plain, r)
					} else {
						sealed[variant] = append(sealed[variant], r)
					}
				}
			}
		}
		fmt.Printf("\n## %s: %d pairs\n", be, *pairs)
		fmt.Printf("%-13s %5s %10s %10s %8s %8s %8s %8s %9s %9s\n", "sealed", "pair", "sealed/s", "plain/s", "wall", "cpu-us s", "cpu-us p", "cost", "p99 s ms", "p99 p ms")
		for _, variant := range []string{"dek-cached", "dek-uncached"} {
			var walls, costs []float64
			for i, s := range sealed[variant] {
				if i >= len(plain) {
					break
				}
				p := plain[i]
				wall, cost := p.reqs/s.reqs, s.cpu/p.cpu
				walls, costs = append(walls, wall), append(costs, cost)
				fmt.Printf("%-13s %5d %10.1f %10.1f %8.3f %8.1f %8.1f %8.3f %9.2f %9.2f\n", variant, i+1, s.reqs, p.reqs, wall, s.cpu, p.cpu, cost, s.p99, p.p99)
			}
			if len(costs) == 0 {
				continue
			}
			fmt.Printf("%-13s  median: wall (plain÷sealed req/s) %.3f, cost (sealed÷plain cpu/op) %.3f; cost of medians %.3f; best rates %.1f vs %.1f → %.3f\n",
				variant, median(walls), median(costs), median(field(sealed[variant], cpuOf))/median(field(plain, cpuOf)),
				slices.Max(field(sealed[variant], reqsOf)), slices.Max(field(plain, reqsOf)),
				slices.Max(field(plain, reqsOf))/slices.Max(field(sealed[variant], reqsOf)))
			if variant == "dek-cached" {
				verdict := "PASS"
				if median(costs) > *maxRatio {
					verdict, failed = "FAIL", true
				}
				fmt.Printf("RESULT %s overhead=%.3f (median CPU-cost ratio, dek-cached) max=%.2f %s\n", be, median(costs), *maxRatio, verdict)
			}
		}
		fmt.Println()
	}
	if failed {
		os.Exit(1)
	}
}

// run runs one benchmark binary and returns its results by variant; the
// raw output goes to stdout.
func run(bin, dir, bench, benchtime string) map[string]result {
	cmd := exec.Command(bin, "-test.run", "XXX", "-test.bench", bench, "-test.benchtime", benchtime, "-test.count", "1")
	cmd.Dir = dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, os.Stderr
	err := cmd.Run()
	os.Stdout.Write(buf.Bytes())
	check(err)
	out := map[string]result{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		var r result
		for i := 0; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseFloat(f[i], 64)
			switch f[i+1] {
			case "req/s":
				r.reqs = v
			case "p50-ms":
				r.p50 = v
			case "p99-ms":
				r.p99 = v
			case "cpu-us/op":
				r.cpu = v
			case "non200":
				r.non200 = v
			}
		}
		out[m[2]] = r
	}
	return out
}

func reqsOf(r result) float64 { return r.reqs }
func cpuOf(r result) float64  { return r.cpu }

func field(rs []result, f func(result) float64) []float64 {
	var out []float64
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func load() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "memberapi:", err)
		os.Exit(2)
	}
}
