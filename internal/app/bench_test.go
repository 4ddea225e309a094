package app_test

// Benchmarks of the password sign-in hot path against its unavoidable cost.
//
// ARCHITECTURE.md: "Password sign-in: the argon2id hash is the cost." The
// target is that a whole node signs members in over HTTP at >= 0.85 of the
// rate at which bare argon2id runs on all cores at the same parameters.
// Run both in one invocation so they see the same (noisy) machine:
//
//	go test -run XXX -bench 'Argon2idBare|SignInHTTP' -benchtime 5s -count 3 ./internal/app/
//
// and divide: ratio = (ns/op of BenchmarkArgon2idBare) / (ns/op of
// BenchmarkSignInHTTP). Both report their throughput as a custom metric
// (hashes/s and signins/s) too; `go run ./bench/ratio` does the division
// from the benchmark output.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/password"
)

const benchPassword = "correct horse battery staple, benchmarked"

// BenchmarkArgon2idBare is the yardstick: argon2id at the parameters a
// node uses (m=19456 KiB, t=2, p=1, 32-byte key), GOMAXPROCS goroutines in
// parallel, nothing else.
func BenchmarkArgon2idBare(b *testing.B) {
	p := password.DefaultParams
	cfg := config.Default().Password
	if uint32(cfg.HashMemoryKiB) != p.Memory || uint32(cfg.HashIterations) != p.Iterations ||
		uint8(cfg.HashParallelism) != p.Parallelism {
		b.Fatalf("the default configuration no longer hashes at %+v: compare like with like", p)
	}
	salt := []byte("0123456789abcdef")
	b.RunParallel(func(pb *testing.PB) {
		pw := []byte(benchPassword)
		for pb.Next() {
			argon2.IDKey(pw, salt, p.Iterations, p.Memory, p.Parallelism, 32)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkSignInHTTP signs a verified member in through POST /login on a
// whole node (embedded SQLite, hot state in SQLite) with rate limits off.
// Every request starts without cookies, so each one pays for a full
// argon2id verification and creates a session.
func BenchmarkSignInHTTP(b *testing.B) { benchSignIn(b, apptest.SQLite) }

// BenchmarkSignInHTTPPostgresRedis is the same on PostgreSQL with Redis as
// the hot state (needs scripts/test-services).
func BenchmarkSignInHTTPPostgresRedis(b *testing.B) { benchSignIn(b, apptest.PostgresRedis) }

// signInParallelism is the number of client goroutines per GOMAXPROCS.
// The hasher runs GOMAXPROCS hashes at once and queues up to 32 per slot;
// 4 clients per core keep every slot busy while the HTTP and database work
// of the other requests overlaps, and stay far below the queue bound (so no
// 503 is expected).
const signInParallelism = 4

func benchSignIn(b *testing.B, backend apptest.Backend) {
	cfg := apptest.Config(b, backend)
	cfg.RateLimit = config.RateLimit{} // every limit off
	n := apptest.Start(b, cfg, nil)
	if got := n.App.Hasher.Params(); got != password.DefaultParams {
		b.Fatalf("node hashes at %+v, the yardstick at %+v", got, password.DefaultParams)
	}
	const email = "bench@example.com"
	if _, err := n.App.Accounts.CreateUser(context.Background(), email, benchPassword, true, false); err != nil {
		b.Fatal(err)
	}
	cookieName := n.App.Sessions.CookieName()
	body := url.Values{"email": {email}, "password": {benchPassword}, "next": {"/account"}}.Encode()

	conc := signInParallelism * runtime.GOMAXPROCS(0)
	// One keep-alive connection per client goroutine; no cookie jar, so
	// every request arrives without a session, as a new browser would.
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	signIn := func() (status int, cookie bool, err error) {
		req, _ := http.NewRequest("POST", n.URL+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", n.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Accept-Language", "en")
		resp, err := client.Do(req)
		if err != nil {
			return 0, false, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == cookieName && c.Value != "" {
				cookie = true
			}
		}
		return resp.StatusCode, cookie, nil
	}
	// Warm up: the connections, the templates, the database's caches; and
	// check once that the path works at all.
	if st, ck, err := signIn(); err != nil || st != http.StatusSeeOther || !ck {
		b.Fatalf("warm-up sign-in: status %d, cookie %v, err %v", st, ck, err)
	}

	var ok, noCookie, failed atomic.Int64
	var mu sync.Mutex
	other := map[string]int{}
	b.SetParallelism(signInParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st, ck, err := signIn()
			switch {
			case err == nil && st == http.StatusSeeOther && ck:
				ok.Add(1)
			case err == nil && st == http.StatusSeeOther:
				noCookie.Add(1)
			default:
				failed.Add(1)
				key := fmt.Sprint(st)
				if err != nil {
					key = "error"
				}
				mu.Lock()
				other[key]++
				mu.Unlock()
			}
		}
	})
	elapsed := b.Elapsed()
	b.StopTimer()
	b.ReportMetric(float64(ok.Load())/elapsed.Seconds(), "signins/s")
	b.ReportMetric(float64(failed.Load()+noCookie.Load()), "non303")
	if bad := failed.Load() + noCookie.Load(); bad > 0 {
		b.Errorf("%d of %d sign-ins did not answer 303 with a session cookie (303 without cookie: %d; others by status: %v)",
			bad, b.N, noCookie.Load(), other)
	}
}
