// Command flood checks that a Kaiin node survives a flood of concurrent
// password sign-in attempts: it starts `kaiin serve` on an empty temporary
// data directory on a free 127.0.0.1 port, creates a verified member, then
// keeps -concurrency wrong-password sign-ins in flight (random addresses,
// bounded by -attempts and -duration) while a trickle of legitimate
// sign-ins for the real member runs alongside from another loopback
// address. It reports the answers by status, the legitimate sign-ins'
// latency, the server's peak RSS, and whether the process is still alive
// and healthy afterwards.
//
// It exits 1 when a target fails: the process died, its peak RSS reached
// -max-rss, an answer was a 5xx other than 503, a 429/503 came without a
// Retry-After, no legitimate sign-in succeeded during the flood, /healthz
// did not answer 200 afterwards, or a member could not sign in after it.
//
// The flood comes from 127.0.0.1 (or -flood-ips loopback addresses); the
// legitimate sign-ins take -members members in turn from 127.0.2.x, as
// real members sign in from their own addresses (one address or one
// account alone would trip the shipped per-IP and per-account limits).
//
// Everything stays on loopback:
//
//	go build -o /tmp/kaiin ./cmd/kaiin
//	go run ./bench/flood -kaiin /tmp/kaiin                  # default rate limits
//	go run ./bench/flood -kaiin /tmp/kaiin -rate-limits off # the hasher's queue is the defence
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const memberPassword = "a long and legitimate passphrase 42"

// memberEmail is the address of the i-th legitimate member.
func memberEmail(i int) string { return fmt.Sprintf("member%d@example.com", i+1) }

type options struct {
	kaiin       string
	concurrency int
	attempts    int64
	duration    time.Duration
	legitEvery  time.Duration
	rateLimits  string
	floodIPs    int
	legitIPs    int
	members     int
	maxRSS      int64
	keep        bool
	redisURL    string
}

func main() {
	var o options
	flag.StringVar(&o.kaiin, "kaiin", "", "path of the kaiin binary (required)")
	flag.IntVar(&o.concurrency, "concurrency", 2000, "flood sign-in attempts kept in flight at once")
	flag.Int64Var(&o.attempts, "attempts", 20000, "upper bound on the flood's sign-in attempts")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "upper bound on the flood's duration (at most 60s)")
	flag.DurationVar(&o.legitEvery, "legit-every", 100*time.Millisecond, "interval between legitimate sign-ins")
	flag.StringVar(&o.rateLimits, "rate-limits", "default", "default: the shipped rate limits; off: signin_ip and signin_account off")
	flag.IntVar(&o.floodIPs, "flood-ips", 1, "spread the flood over this many loopback source addresses (1 = 127.0.0.1 only; more = 127.0.1.1, 127.0.1.2, ...)")
	flag.IntVar(&o.legitIPs, "legit-ips", 50, "the legitimate sign-ins come in turn from this many loopback addresses (127.0.2.1, 127.0.2.2, ...), as members sign in from their own")
	flag.IntVar(&o.members, "members", 10, "legitimate members, created before the server starts; the legitimate sign-ins take them in turn")
	flag.Int64Var(&o.maxRSS, "max-rss", 1<<30, "peak RSS (bytes) at or above which the run fails")
	flag.StringVar(&o.redisURL, "redis-url", "", "keep the hot state (rate limits, sessions) in this loopback Redis instead of SQLite")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary data directory and the server log")
	flag.Parse()
	switch {
	case o.kaiin == "":
		fatalf("-kaiin is required")
	case o.rateLimits != "default" && o.rateLimits != "off":
		fatalf("-rate-limits must be default or off")
	case o.duration <= 0 || o.duration > 60*time.Second:
		fatalf("-duration must be within (0, 60s]")
	case o.concurrency < 1 || o.concurrency > 10000 || o.attempts < 1 || o.attempts > 1_000_000:
		fatalf("-concurrency must be within 1..10000 and -attempts within 1..1000000")
	case o.floodIPs < 1 || o.floodIPs > 250:
		fatalf("-flood-ips must be within 1..250")
	}
	if u, err := url.Parse(o.redisURL); o.redisURL != "" && (err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost")) {
		fatalf("-redis-url must be a redis://127.0.0.1 URL")
	}
	if o.legitIPs < 1 || o.legitIPs > 250 || o.members < 1 || o.members > 100 {
		fatalf("-legit-ips must be within 1..250 and -members within 1..100")
	}
	if ok, err := run(o); err != nil {
		fatalf("%v", err)
	} else if !ok {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "flood: "+format+"\n", args...)
	os.Exit(2)
}

// server is a running `kaiin serve`.
type server struct {
	cmd    *exec.Cmd
	base   string
	log    string
	exited atomic.Bool
	done   chan struct{}
	err    error
}

func run(o options) (bool, error) {
	dir, err := os.MkdirTemp("", "kaiin-flood-")
	if err != nil {
		return false, err
	}
	if o.keep {
		fmt.Printf("data dir and log: %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	data := filepath.Join(dir, "data")
	env := kaiinEnv(o.rateLimits, o.redisURL)

	// The members, created before the server starts: one administrator,
	// the others verified members.
	for i := range o.members {
		args := []string{"admin", "create-admin", "--email", memberEmail(i), "--password-stdin", "--data-dir", data}
		if i > 0 {
			args = []string{"admin", "user", "create", "--verified", "--email", memberEmail(i), "--password-stdin", "--data-dir", data}
		}
		create := exec.Command(o.kaiin, args...)
		create.Env = env
		create.Stdin = strings.NewReader(memberPassword + "\n")
		if out, err := create.CombinedOutput(); err != nil {
			return false, fmt.Errorf("kaiin %s: %v\n%s", strings.Join(args[:3], " "), err, out)
		}
	}

	addr, err := freeAddr()
	if err != nil {
		return false, err
	}
	s, err := startServer(o.kaiin, env, data, addr, filepath.Join(dir, "server.log"))
	if err != nil {
		return false, err
	}
	defer s.stop()
	if err := s.waitReady(30 * time.Second); err != nil {
		return false, err
	}
	pid := s.cmd.Process.Pid
	baseRSS, _ := readStatus(pid)

	// Peak RSS: VmHWM is the kernel's own high-water mark; the samples are
	// a cross-check (and survive a process that dies mid-run).
	var sampledPeak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(context.Background())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if st, err := readStatus(pid); err == nil {
				sampledPeak.Store(max(sampledPeak.Load(), st.rss, st.hwm))
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	}()

	hot := "SQLite"
	if o.redisURL != "" {
		hot = "Redis"
	}
	fmt.Printf("kaiin serve pid %d on %s; hot state in %s; rate limits %s; flood: %d in flight from %s, at most %d attempts in %s; legitimate sign-in every %s for %d members in turn, from 127.0.2.1..127.0.2.%d in turn\n",
		pid, s.base, hot, o.rateLimits, o.concurrency, floodSources(o.floodIPs), o.attempts, o.duration, o.legitEvery, o.members, o.legitIPs)
	fmt.Printf("idle RSS before the flood: %s (VmHWM %s)\n", mib(baseRSS.rss), mib(baseRSS.hwm))

	cpu0, _ := cpuTime(pid)
	res := flood(o, s.base)
	cpu1, _ := cpuTime(pid)

	// After the flood: still alive, healthy, and signing members in.
	time.Sleep(500 * time.Millisecond)
	stopSampling()
	<-sampled
	final, statusErr := readStatus(pid)
	peak := max(sampledPeak.Load(), final.hwm)
	alive := !s.exited.Load() && statusErr == nil
	health := 0
	if resp, err := http.Get(s.base + "/healthz"); err == nil {
		health = resp.StatusCode
		resp.Body.Close()
	}
	after := legitClient(legitSource(0))
	var afterStatus int
	var afterLatency time.Duration
	for range 20 { // a member who waits out Retry-After
		st, lat, retry, _ := signIn(after, s.base, memberEmail(0), memberPassword, true)
		afterStatus, afterLatency = st, lat
		if st != http.StatusTooManyRequests && st != http.StatusServiceUnavailable {
			break
		}
		time.Sleep(min(max(retry, time.Second), 5*time.Second))
	}
	metrics := scrapeMetrics(s.base)

	// Report.
	fmt.Printf("\nflood: %d attempts in %.1fs (%.0f/s)\n", res.floodTotal(), res.floodTime.Seconds(), float64(res.floodTotal())/res.floodTime.Seconds())
	fmt.Printf("  by status: %s\n", res.flood.String())
	fmt.Printf("  429/503 answers without a Retry-After: %d; longest Retry-After: %ds\n", res.noRetry.Load(), res.maxRetry.Load())
	fmt.Printf("  server CPU during the flood: %.1fs of %.1fs wall (%.2f cores; the flood client shares the same cores)\n",
		(cpu1 - cpu0).Seconds(), res.floodTime.Seconds(), (cpu1-cpu0).Seconds()/res.floodTime.Seconds())
	fmt.Printf("legitimate sign-ins during the flood: %d sent, %d succeeded (303 + session cookie)\n", res.legit.total(), len(res.legitOK))
	fmt.Printf("  by status: %s\n", res.legit.String())
	if len(res.legitOK) > 0 {
		fmt.Printf("  latency of the successful ones: p50 %s, p99 %s, max %s\n", pct(res.legitOK, 50), pct(res.legitOK, 99), pct(res.legitOK, 100))
	}
	if len(res.legitAll) > 0 {
		fmt.Printf("  latency of every answer: p50 %s, p99 %s, max %s\n", pct(res.legitAll, 50), pct(res.legitAll, 99), pct(res.legitAll, 100))
	}
	fmt.Printf("legitimate sign-in after the flood: status %d in %s\n", afterStatus, afterLatency.Round(time.Millisecond))
	fmt.Printf("server peak RSS (VmHWM): %s (sampled every 20ms: %s); RSS at the end: %s\n", mib(peak), mib(sampledPeak.Load()), mib(final.rss))
	fmt.Printf("server alive: %v; /healthz: %d\n", alive, health)
	for _, l := range metrics {
		fmt.Printf("  %s\n", l)
	}

	var failures []string
	if !alive {
		failures = append(failures, "the server process died")
	}
	if peak >= o.maxRSS {
		failures = append(failures, fmt.Sprintf("peak RSS %s >= %s", mib(peak), mib(o.maxRSS)))
	}
	if n := res.flood.fiveXXNot503() + res.legit.fiveXXNot503(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d answers were a 5xx other than 503", n))
	}
	if n := res.noRetry.Load(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d 429/503 answers lacked a Retry-After", n))
	}
	if len(res.legitOK) == 0 {
		failures = append(failures, "no legitimate sign-in succeeded during the flood")
	}
	if health != http.StatusOK {
		failures = append(failures, fmt.Sprintf("/healthz answered %d after the flood", health))
	}
	if afterStatus != http.StatusSeeOther {
		failures = append(failures, fmt.Sprintf("a legitimate sign-in after the flood answered %d", afterStatus))
	}
	fmt.Printf("RESULT mode=%s hot=%s attempts=%d rps=%.0f s303=%d s401=%d s429=%d s503=%d other=%d errors=%d legit_sent=%d legit_ok=%d legit_p50_ms=%.0f legit_p99_ms=%.0f peak_rss_mib=%.1f alive=%v healthz=%d\n",
		o.rateLimits, hot, res.floodTotal(), float64(res.floodTotal())/res.floodTime.Seconds(),
		res.flood.get(303), res.flood.get(401), res.flood.get(429), res.flood.get(503), res.flood.other(), res.flood.get(0),
		res.legit.total(), len(res.legitOK), ms(pct(res.legitOK, 50)), ms(pct(res.legitOK, 99)), float64(peak)/(1<<20), alive, health)
	if len(failures) > 0 {
		fmt.Printf("FAIL: %s\n", strings.Join(failures, "; "))
		tail(s.log, 20)
		return false, nil
	}
	fmt.Println("PASS")
	return true, nil
}

// kaiinEnv is the environment without any KAIIN_ variable of the caller's
// (kaiin rejects unknown ones and they would change the run), plus the
// chosen rate limits.
func kaiinEnv(rateLimits, redisURL string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KAIIN_") {
			env = append(env, kv)
		}
	}
	env = append(env, "KAIIN_LOG_LEVEL=warn")
	if redisURL != "" {
		env = append(env, "KAIIN_REDIS_URL="+redisURL)
	}
	if rateLimits == "off" {
		env = append(env, "KAIIN_RATE_LIMIT_SIGNIN_IP=off", "KAIIN_RATE_LIMIT_SIGNIN_ACCOUNT=off")
	}
	return env
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startServer(bin string, env []string, data, addr, logPath string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--data-dir", data, "--addr", addr)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, log: logPath, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		s.exited.Store(true)
		logf.Close()
		close(s.done)
	}()
	return s, nil
}

func (s *server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if s.exited.Load() {
			tail(s.log, 20)
			return fmt.Errorf("kaiin serve exited before it was ready: %v", s.err)
		}
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("kaiin serve not ready within %s", limit)
}

// stop sends SIGTERM and waits; after 15s it kills.
func (s *server) stop() {
	if s.exited.Load() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		fmt.Fprintln(os.Stderr, "flood: kaiin serve did not stop within 15s after SIGTERM; killing it")
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

type procStatus struct{ rss, hwm int64 }

// readStatus reads VmRSS and VmHWM (bytes) of pid.
func readStatus(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	zombie := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "State:":
			zombie = f[1] == "Z" || f[1] == "X"
		case "VmRSS:":
			st.rss = kib(f)
		case "VmHWM:":
			st.hwm = kib(f)
		}
	}
	if zombie {
		return st, errors.New("process is a zombie")
	}
	return st, nil
}

// cpuTime returns the user+system CPU time pid has used (/proc/pid/stat,
// assuming the usual 100 clock ticks per second).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after "pid (comm)"
	if len(f) < 13 {
		return 0, errors.New("short /proc/pid/stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func kib(f []string) int64 {
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n << 10
}

// counts are answers by status; 0 stands for a transport error.
type counts struct {
	mu sync.Mutex
	m  map[int]int64
}

func (c *counts) add(status int) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[int]int64{}
	}
	c.m[status]++
	c.mu.Unlock()
}

func (c *counts) get(status int) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[status]
}

func (c *counts) total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, v := range c.m {
		n += v
	}
	return n
}

func (c *counts) other() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.m {
		if k != 0 && k != 303 && k != 401 && k != 429 && k != 503 {
			n += v
		}
	}
	return n
}

func (c *counts) fiveXXNot503() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for k, v := range c.m {
		if k >= 500 && k != 503 {
			n += v
		}
	}
	return n
}

func (c *counts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]int, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := strconv.Itoa(k)
		if k == 0 {
			name = "errors"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, c.m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

type result struct {
	flood     counts
	floodTime time.Duration
	legit     counts
	legitOK   []time.Duration // latency of 303s with a session cookie
	legitAll  []time.Duration // latency of every answer
	firstErrs []string

	noRetry  atomic.Int64 // 429/503 answers without a valid Retry-After
	maxRetry atomic.Int64 // the longest Retry-After seen, in seconds
}

func (r *result) noteRetry(st int, retry time.Duration) {
	if st != http.StatusTooManyRequests && st != http.StatusServiceUnavailable {
		return
	}
	if retry < 0 {
		r.noRetry.Add(1)
		return
	}
	for {
		old := r.maxRetry.Load()
		if int64(retry/time.Second) <= old || r.maxRetry.CompareAndSwap(old, int64(retry/time.Second)) {
			return
		}
	}
}

func (r *result) floodTotal() int64 { return r.flood.total() }

func legitSource(i int) string { return fmt.Sprintf("127.0.2.%d", i+1) }

func floodSources(n int) string {
	if n == 1 {
		return "127.0.0.1"
	}
	return fmt.Sprintf("127.0.1.1..127.0.1.%d", n)
}

// transport returns a transport whose connections come from the loopback
// address src.
func transport(src string, conns int) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Transport{DialContext: d.DialContext, MaxIdleConns: conns, MaxIdleConnsPerHost: conns,
		IdleConnTimeout: time.Minute}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func legitClient(src string) *http.Client {
	// No cookie jar: every sign-in starts as a new browser would.
	return &http.Client{Transport: transport(src, 4), Timeout: 30 * time.Second, CheckRedirect: noRedirect}
}

// signIn posts the login form; it returns the status (0 on a transport
// error), the latency, the Retry-After hint, and whether the answer set a
// session cookie.
func signIn(c *http.Client, base, email, pw string, wantCookie bool) (int, time.Duration, time.Duration, error) {
	body := url.Values{"email": {email}, "password": {pw}}.Encode()
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, time.Since(start), 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil {
		retry = -1 // missing or not whole seconds
	}
	st := resp.StatusCode
	if wantCookie && st == http.StatusSeeOther && !hasSession(resp) {
		return -303, lat, 0, errors.New("303 without a session cookie")
	}
	return st, lat, time.Duration(retry) * time.Second, nil
}

func hasSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "session") && c.Value != "" {
			return true
		}
	}
	return false
}

func flood(o options, base string) *result {
	res := &result{}
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()

	transports := make([]*http.Transport, o.floodIPs)
	for i := range transports {
		src := "127.0.0.1"
		if o.floodIPs > 1 {
			src = fmt.Sprintf("127.0.1.%d", i+1)
		}
		transports[i] = transport(src, o.concurrency/o.floodIPs+1)
	}
	defer func() {
		for _, t := range transports {
			t.CloseIdleConnections()
		}
	}()

	var sent atomic.Int64
	var errMu sync.Mutex
	noteErr := func(err error) {
		errMu.Lock()
		if len(res.firstErrs) < 5 {
			res.firstErrs = append(res.firstErrs, err.Error())
		}
		errMu.Unlock()
	}
	go0 := make(chan struct{})
	var wg sync.WaitGroup
	for i := range o.concurrency {
		c := &http.Client{Transport: transports[i%o.floodIPs], Timeout: 30 * time.Second, CheckRedirect: noRedirect}
		wg.Go(func() {
			var b [6]byte
			<-go0
			for ctx.Err() == nil && sent.Add(1) <= o.attempts {
				_, _ = rand.Read(b[:])
				email := "x" + hex.EncodeToString(b[:]) + "@example.net"
				st, _, retry, err := signIn(c, base, email, "wrong password "+hex.EncodeToString(b[:]), false)
				res.noteRetry(st, retry)
				if err != nil && ctx.Err() != nil {
					sent.Add(-1) // cut off by the end of the run, not answered
					return
				}
				if err != nil {
					noteErr(err)
				}
				res.flood.add(st)
			}
		})
	}

	// The legitimate trickle, from its own address.
	legit := make([]*http.Client, o.legitIPs)
	for i := range legit {
		legit[i] = legitClient(legitSource(i))
	}
	var lmu sync.Mutex
	var lwg sync.WaitGroup
	floodDone := make(chan struct{})
	lwg.Go(func() {
		t := time.NewTicker(o.legitEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-floodDone:
				return
			case <-t.C:
			}
			c, email := legit[i%len(legit)], memberEmail(i%o.members)
			lwg.Go(func() {
				st, lat, retry, err := signIn(c, base, email, memberPassword, true)
				res.noteRetry(st, retry)
				if st == 0 && err != nil {
					noteErr(fmt.Errorf("legitimate: %w", err))
				}
				res.legit.add(st)
				lmu.Lock()
				res.legitAll = append(res.legitAll, lat)
				if st == http.StatusSeeOther {
					res.legitOK = append(res.legitOK, lat)
				}
				lmu.Unlock()
			})
		}
	})

	start := time.Now()
	close(go0)
	wg.Wait()
	res.floodTime = time.Since(start)
	close(floodDone)
	lwg.Wait()
	for _, c := range legit {
		c.CloseIdleConnections()
	}
	for _, e := range res.firstErrs {
		fmt.Printf("  transport error (first ones): %s\n", e)
	}
	return res
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(time.Millisecond)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// scrapeMetrics returns the sign-in and hasher counters worth showing.
func scrapeMetrics(base string) []string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return []string{"metrics: " + err.Error()}
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "kaiin_signin_attempts_total{") || strings.HasPrefix(l, "kaiin_password_hash_rejected_total{") ||
			strings.HasPrefix(l, "kaiin_password_hash_duration_seconds_count") || strings.HasPrefix(l, "go_goroutines ") || strings.HasPrefix(l, "process_max_fds ") {
			out = append(out, l)
		}
	}
	return out
}

func tail(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	fmt.Printf("--- last %d lines of the server log ---\n", min(n, len(lines)))
	for _, l := range lines[max(len(lines)-n, 0):] {
		fmt.Println(l)
	}
}
