package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/state"
)

// The benchmarks send real loopback HTTP: client → proxy → a trivial
// upstream, 32 concurrent clients (b.SetParallelism(16) on two cores). The
// bare proxy is the yardstick: run them together and divide req/s.
//
//	go test ./internal/gateway -run '^$' -bench . -benchtime 5s

const benchParallelism = 16

func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok")
	}))
	b.Cleanup(up.Close)
	return up
}

// tunedTransport keeps as many idle connections as there are clients.
func tunedTransport() *http.Transport {
	return &http.Transport{MaxIdleConns: 0, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}
}

// load runs GETs of url with the token against srv from parallel clients
// and reports req/s.
func load(b *testing.B, target, token string) {
	client := &http.Client{Transport: tunedTransport()}
	b.Cleanup(client.CloseIdleConnections)
	get := func() {
		req, _ := http.NewRequest("GET", target, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	for range 64 { // warm the connection pools
		get()
	}
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkBareReverseProxy is the yardstick: httputil.ReverseProxy with a
// tuned Transport (as in shared/bench/limits). BufferPool adds a pool of
// copy buffers, as the gateway has, for a stricter comparison.
func BenchmarkBareReverseProxy(b *testing.B) {
	for _, pooled := range []bool{false, true} {
		name := "Default"
		if pooled {
			name = "BufferPool"
		}
		b.Run(name, func(b *testing.B) {
			up := benchUpstream(b)
			target, _ := url.Parse(up.URL)
			tr := tunedTransport()
			b.Cleanup(tr.CloseIdleConnections)
			proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.SetXForwarded()
			}, Transport: tr}
			if pooled {
				proxy.BufferPool = &bufferPool{}
			}
			srv := httptest.NewServer(proxy)
			b.Cleanup(srv.Close)
			load(b, srv.URL+"/api/x", "")
		})
	}
}

type benchGateway struct {
	url   string
	token string
}

func newBenchGateway(b *testing.B, st state.State, revMaxAge time.Duration, rateLimit bool) benchGateway {
	up := benchUpstream(b)
	is := newIssuer(b)
	var revs Revocations
	if st != nil {
		revs = StateRevocations{State: st}
	}
	// Access logs are formatted as in production, then dropped.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	v, err := NewJWTVerifier(JWTVerifierOptions{Issuer: is.url, Revocations: revs, RevocationMaxAge: revMaxAge,
		Registry: prometheus.NewRegistry(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	route := Route{Name: "api", PathPrefix: "/api", Upstreams: []string{up.URL}, RequiredScopes: []string{"members:read"}}
	var lim *ratelimit.Limiter
	if rateLimit {
		lim = ratelimit.New(st, []byte("bench"))
		route.RateLimit = ratelimit.Rate{N: 1 << 30, Per: time.Hour}
	}
	g, err := New(Options{Routes: []Route{route}, Verifier: v, Limiter: lim, Logger: log, Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	srv := httptest.NewServer(g)
	b.Cleanup(srv.Close)
	token, _ := is.sign(tok{scope: "openid members:read"})
	return benchGateway{url: srv.URL + "/api/x", token: token}
}

// BenchmarkGatewayJWT: a valid, cached JWT; no hot state.
func BenchmarkGatewayJWT(b *testing.B) {
	g := newBenchGateway(b, nil, 0, false)
	load(b, g.url, g.token)
}

// BenchmarkGatewayJWTRateLimited: a rate limit counted in the hot state
// on every request, and revocation re-checked every 500 ms.
func BenchmarkGatewayJWTRateLimited(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) (state.State, state.State)
	}{{"SQLite", sqliteStates}, {"Redis", redisStates}} {
		b.Run(be.name, func(b *testing.B) {
			st, _ := be.open(b)
			g := newBenchGateway(b, st, 0, true)
			load(b, g.url, g.token)
		})
	}
}

// BenchmarkGatewayJWTRevocationEveryRequest measures the alternative to
// the 500 ms re-check: one hot-state read per request (no rate limit).
func BenchmarkGatewayJWTRevocationEveryRequest(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) (state.State, state.State)
	}{{"SQLite", sqliteStates}, {"Redis", redisStates}} {
		b.Run(be.name, func(b *testing.B) {
			st, _ := be.open(b)
			g := newBenchGateway(b, st, -1, false)
			load(b, g.url, g.token)
		})
	}
}

// BenchmarkVerifyCached is the in-process cost of a cached token.
func BenchmarkVerifyCached(b *testing.B) {
	is := newIssuer(b)
	v, err := NewJWTVerifier(JWTVerifierOptions{Issuer: is.url, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	token, _ := is.sign(tok{scope: "members:read"})
	if _, err := v.Verify(b.Context(), token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(b.Context(), token); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// burst sends n GETs from conc clients and returns how long they took,
// in wall-clock time and in this process's CPU time (client, proxy and
// upstream all run here), which other load on the machine does not skew.
func burst(b *testing.B, client *http.Client, target, token string, n, conc int) (wall, cpu time.Duration) {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				req, _ := http.NewRequest("GET", target, nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), processCPU() - cpu0
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGatewayVsBare alternates short bursts through the bare proxy
// (the yardstick, without and with a buffer pool) and through the gateway,
// so that a busy machine slows all alike, and reports each one's req/s and
// the gateway's share of each bare rate. b.N requests go through each.
func BenchmarkGatewayVsBare(b *testing.B) {
	variants := []struct {
		name      string
		open      func(testing.TB) (state.State, state.State)
		revMaxAge time.Duration
		rateLimit bool
	}{
		{"JWT", nil, 0, false},
		// The revocation choice: a hot-state read every 500 ms per token
		// (JWTRevocationCheck500ms) or on every request.
		{"JWTRevocationCheck500msRedis", redisStates, 0, false},
		{"JWTRevocationEveryRequestRedis", redisStates, -1, false},
		{"JWTRateLimitedSQLite", sqliteStates, 0, true},
		{"JWTRateLimitedRedis", redisStates, 0, true},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			up := benchUpstream(b)
			target, _ := url.Parse(up.URL)
			bare := func(pool httputil.BufferPool) string {
				tr := tunedTransport()
				b.Cleanup(tr.CloseIdleConnections)
				srv := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
					pr.SetURL(target)
					pr.SetXForwarded()
				}, Transport: tr, BufferPool: pool})
				b.Cleanup(srv.Close)
				return srv.URL + "/api/x"
			}
			bareURL, pooledURL := bare(nil), bare(&bufferPool{})
			var g benchGateway
			if v.open == nil {
				g = newBenchGateway(b, nil, 0, false)
			} else {
				st, _ := v.open(b)
				g = newBenchGateway(b, st, v.revMaxAge, v.rateLimit)
			}
			client := &http.Client{Transport: tunedTransport()}
			b.Cleanup(client.CloseIdleConnections)
			const conc, rounds = 2 * benchParallelism, 20
			for _, u := range []string{bareURL, pooledURL, g.url} {
				burst(b, client, u, g.token, 200, conc) // warm up
			}
			b.ResetTimer()
			var wall, cpu [3]time.Duration
			per := max(1, b.N/rounds)
			for range rounds {
				// The same request everywhere: the bare proxies forward the
				// token unread.
				for i, u := range []string{bareURL, pooledURL, g.url} {
					w, c := burst(b, client, u, g.token, per, conc)
					wall[i] += w
					cpu[i] += c
				}
			}
			n := float64(per * rounds)
			b.ReportMetric(n/wall[0].Seconds(), "bare_req/s")
			b.ReportMetric(n/wall[1].Seconds(), "bare_pooled_req/s")
			b.ReportMetric(n/wall[2].Seconds(), "gateway_req/s")
			b.ReportMetric(float64(cpu[2].Microseconds())/n, "gateway_cpu_us/req")
			b.ReportMetric(float64(cpu[1].Microseconds())/n, "bare_pooled_cpu_us/req")
			b.ReportMetric(wall[0].Seconds()/wall[2].Seconds(), "ratio_vs_bare")
			b.ReportMetric(wall[1].Seconds()/wall[2].Seconds(), "ratio_vs_pooled")
			b.ReportMetric(cpu[0].Seconds()/cpu[2].Seconds(), "cpu_ratio_vs_bare")
			b.ReportMetric(cpu[1].Seconds()/cpu[2].Seconds(), "cpu_ratio_vs_pooled")
		})
	}
}
