// Command startup measures how fast `kaiin serve` becomes ready on an empty
// data directory (embedded SQLite, migrations included) and how much
// memory it holds when idle. It starts the binary -n times, each on a fresh
// temporary data directory and a free 127.0.0.1 port, times the start
// until /readyz answers 200, waits -idle, then reads VmRSS (and VmHWM) from
// /proc and stops the process with SIGTERM (timing that too).
//
// With -hello it runs a bare net/http server (bench/hello) the same way,
// interleaved with kaiin, as the yardstick of what any Go server costs.
//
//	go build -o /tmp/kaiin ./cmd/kaiin && go build -o /tmp/hello ./bench/hello
//	go run ./bench/startup -kaiin /tmp/kaiin -hello /tmp/hello -n 5
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type sample struct {
	ready, stop time.Duration
	rss, hwm    int64
}

func main() {
	kaiin := flag.String("kaiin", "", "path of the kaiin binary (required)")
	hello := flag.String("hello", "", "path of the bare net/http yardstick (bench/hello); empty = skip")
	n := flag.Int("n", 5, "starts of each binary")
	idle := flag.Duration("idle", 2*time.Second, "idle time before reading RSS")
	flag.Parse()
	if *kaiin == "" || *n < 1 || *n > 50 {
		fmt.Fprintln(os.Stderr, "startup: -kaiin is required and -n must be within 1..50")
		os.Exit(2)
	}
	bins := []struct{ name, path string }{{"kaiin", *kaiin}}
	if *hello != "" {
		bins = append(bins, struct{ name, path string }{"hello", *hello})
	}
	results := map[string][]sample{}
	for i := range *n {
		for _, b := range bins {
			s, err := once(b.path, *idle)
			if err != nil {
				fmt.Fprintf(os.Stderr, "startup: %s run %d: %v\n", b.name, i+1, err)
				os.Exit(1)
			}
			fmt.Printf("%-5s run %d: ready in %6.1f ms, idle VmRSS %6.1f MiB (VmHWM %6.1f MiB), stopped in %6.1f ms\n",
				b.name, i+1, msf(s.ready), mibf(s.rss), mibf(s.hwm), msf(s.stop))
			results[b.name] = append(results[b.name], s)
		}
	}
	fmt.Println()
	for _, b := range bins {
		r := results[b.name]
		ready := field(r, func(s sample) float64 { return msf(s.ready) })
		rss := field(r, func(s sample) float64 { return mibf(s.rss) })
		hwm := field(r, func(s sample) float64 { return mibf(s.hwm) })
		stop := field(r, func(s sample) float64 { return msf(s.stop) })
		fmt.Printf("RESULT bin=%s n=%d ready_ms_median=%.1f ready_ms_max=%.1f idle_rss_mib_median=%.1f idle_rss_mib_max=%.1f hwm_mib_max=%.1f stop_ms_median=%.1f stop_ms_max=%.1f\n",
			b.name, len(r), median(ready), slices.Max(ready), median(rss), slices.Max(rss), slices.Max(hwm), median(stop), slices.Max(stop))
	}
	if h := results["hello"]; len(h) > 0 {
		k := results["kaiin"]
		kr := median(field(k, func(s sample) float64 { return msf(s.ready) }))
		hr := median(field(h, func(s sample) float64 { return msf(s.ready) }))
		km := median(field(k, func(s sample) float64 { return mibf(s.rss) }))
		hm := median(field(h, func(s sample) float64 { return mibf(s.rss) }))
		fmt.Printf("kaiin / bare net/http: start-up %.1fx (%.1f ms more), idle RSS %.1fx (%.1f MiB more)\n", kr/hr, kr-hr, km/hm, km-hm)
	}
}

func once(bin string, idle time.Duration) (sample, error) {
	var s sample
	dir, err := os.MkdirTemp("", "kaiin-startup-")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	addr := ln.Addr().String()
	ln.Close()

	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return s, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--addr", addr)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAIIN_") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	done := make(chan error, 1)

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	go func() { done <- cmd.Wait() }()
	kill := func() { _ = cmd.Process.Kill(); <-done }
	for {
		if time.Since(start) > 30*time.Second {
			kill()
			return s, errors.New("not ready within 30s")
		}
		select {
		case err := <-done:
			log, _ := os.ReadFile(logf.Name())
			return s, fmt.Errorf("exited before it was ready: %v\n%s", err, log)
		default:
		}
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(start)
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
	}

	time.Sleep(idle)
	s.rss, s.hwm, err = memory(cmd.Process.Pid)
	if err != nil {
		kill()
		return s, err
	}
	stopStart := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		s.stop = time.Since(stopStart)
	case <-time.After(15 * time.Second):
		kill()
		return s, errors.New("did not stop within 15s of SIGTERM")
	}
	return s, nil
}

// memory reads VmRSS and VmHWM (bytes) of pid.
func memory(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			hwm = v << 10
		}
	}
	return rss, hwm, nil
}

func field(r []sample, f func(sample) float64) []float64 {
	out := make([]float64, len(r))
	for i, s := range r {
		out[i] = f(s)
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

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mibf(b int64) float64 { return float64(b) / (1 << 20) }
