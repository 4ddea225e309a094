package memberapi_test

// BenchmarkMemberAPIRead measures GET /api/v1/members/{sub} end to end
// (BENCHMARKS.md §5): a whole node on a loopback port, a first-party
// client_credentials token, random members of benchMembers seeded with a
// full profile, and b.RunParallel clients over keep-alive connections.
//
// Run it twice, in the default build (profiles sealed with AES-256-GCM)
// and in the benchmark build with encryption disabled:
//
//	go test -run XXX -bench MemberAPIRead ./internal/memberapi/
//	go test -run XXX -bench MemberAPIRead -tags kaiin_plainprofile ./internal/memberapi/
//
// bench/memberapi builds both and runs them in interleaved pairs. In the
// plain build (internal/member/vault_plain_bench.go) every seeded profile
// is re-stored unencrypted, and the node's Vault opens it with a copying
// cipher.AEAD; the read path runs the same code otherwise.
//
// Sub-benchmarks, per backend:
//   - sealed build: dek-cached (the data key of a member read in the last
//     minute is in the node's DEKCache, as for a busy member) and
//     dek-uncached (the Vault's cache is off: every read unwraps the
//     member's data key under the KEK, the worst case);
//   - plain build: plain.
//
// Metrics: req/s (wall clock), p50-ms and p99-ms (latency of each request
// as the client sees it), cpu-us/op (this process's user+system CPU time
// per request: the server and the in-process client; PostgreSQL and Redis
// are other processes and not counted), and non200 (must be 0).

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/kaiin-project/kaiin/internal/app/apptest"
	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

const (
	benchMembers     = 1000
	benchParallelism = 4 // client goroutines per GOMAXPROCS
)

// plainVault is implemented by *member.Vault in the kaiin_plainprofile
// build only.
type plainVault interface {
	PlainProfileForBenchmark(memberID string, wrappedDEK []byte, blobs map[string][]byte) (map[string][]byte, error)
}

type readFixture struct {
	node   *apptest.Node
	token  string
	subs   []string
	client *http.Client
	plain  bool
}

func BenchmarkMemberAPIRead(b *testing.B) {
	for _, be := range apptest.Backends {
		b.Run(string(be), func(b *testing.B) {
			f := readNode(b, be)
			if f.plain {
				b.Run("plain", func(b *testing.B) { benchRead(b, f) })
				return
			}
			vault := f.node.App.Members.Vault
			cache := vault.Cache
			b.Run("dek-cached", func(b *testing.B) { vault.Cache = cache; benchRead(b, f) })
			b.Run("dek-uncached", func(b *testing.B) { vault.Cache = nil; benchRead(b, f) })
			vault.Cache = cache
		})
	}
}

func readNode(b *testing.B, be apptest.Backend) *readFixture {
	cfg := apptest.Config(b, be)
	cfg.RateLimit = config.RateLimit{}
	n := apptest.Start(b, cfg, nil)
	ctx := context.Background()
	pv, plain := any(n.App.Members.Vault).(plainVault)
	f := &readFixture{node: n, plain: plain}

	// Members: users inserted directly (no password hash to compute),
	// profiles through member.Service as the account page stores them.
	now := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < benchMembers; i += 4 {
				id := fmt.Sprintf("benchmember%06d", i)
				if err := n.App.Data.Store.CreateUser(ctx, store.User{ID: id, Email: fmt.Sprintf("member%06d@example.com", i),
					EmailVerified: true, CreatedAt: now, UpdatedAt: now}); err != nil {
					errs <- err
					return
				}
				p, err := n.App.Members.Put(ctx, id, benchProfile(i))
				if err != nil {
					errs <- fmt.Errorf("put %s: %w", id, err)
					return
				}
				// The plain build stores the profile again, unencrypted;
				// the sealed build stores it again as it is, so that
				// both builds write the same to the database.
				rec, err := n.App.Data.Store.GetProfile(ctx, id)
				if err == nil && plain {
					rec.Blobs, err = pv.PlainProfileForBenchmark(id, rec.WrappedKey, rec.Blobs)
				}
				if err == nil {
					err = n.App.Data.Store.PutProfile(ctx, rec, map[string]string{"phone": n.App.Members.Index.Phone(p.Phone)})
				}
				if err != nil {
					errs <- fmt.Errorf("re-store %s: %w", id, err)
					return
				}
				mu.Lock()
				f.subs = append(f.subs, id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	slices.Sort(f.subs)

	cl, secret, err := n.App.Clients.Create(ctx, oidc.ClientSpec{Name: "Bench service", GrantTypes: []string{"client_credentials"},
		Scopes: []string{"members:profile:read", "members:phone:read", "members:address:read"}, SkipConsent: true})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := (&clientcredentials.Config{ClientID: cl.ID, ClientSecret: secret, TokenURL: n.URL + "/oauth/token",
		Scopes: []string{"members:profile:read", "members:phone:read", "members:address:read"}}).Token(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f.token = tok.AccessToken

	conc := benchParallelism * runtime.GOMAXPROCS(0)
	tr := &http.Transport{MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, IdleConnTimeout: time.Minute}
	b.Cleanup(tr.CloseIdleConnections)
	f.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// The path works, and serves what was stored.
	for _, i := range []int{0, benchMembers - 1} {
		st, body := f.get(f.subs[i])
		want := benchProfile(i)
		if st != 200 || !containsAll(body, want.FamilyName, want.Address.Street, `"phone_number":"+81`) {
			b.Fatalf("warm-up read of %s: %d %s", f.subs[i], st, body)
		}
	}
	b.Logf("backend %s, plain build %v, %d members, %d clients", be, plain, len(f.subs), conc)
	return f
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

var (
	benchFamily = []string{"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"}
	benchKana   = []string{"サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト", "ナカムラ"}
	benchGiven  = []string{"一郎", "花子", "健太", "美咲", "翔", "陽菜"}
	benchGivenK = []string{"イチロウ", "ハナコ", "ケンタ", "ミサキ", "ショウ", "ヒナ"}
	benchPref   = []string{"東京都", "大阪府", "北海道", "福岡県", "愛知県"}
)

// benchProfile is a full profile, different for every member (the phone
// number must be: the blind index is unique).
func benchProfile(i int) member.Profile {
	return member.Profile{
		FamilyName: benchFamily[i%len(benchFamily)], GivenName: benchGiven[i%len(benchGiven)],
		FamilyNameKana: benchKana[i%len(benchKana)], GivenNameKana: benchGivenK[i%len(benchGivenK)],
		Nickname: fmt.Sprintf("member%d", i),
		Phone:    fmt.Sprintf("090-%04d-%04d", 1000+i/10000, i%10000),
		Address: &member.Address{Country: "JP", PostalCode: fmt.Sprintf("%03d-%04d", 100+i%900, i%10000),
			Region: benchPref[i%len(benchPref)], Locality: "渋谷区", Street: fmt.Sprintf("神宮前%d-%d-%d", 1+i%6, 1+i%30, 1+i%20),
			Building: fmt.Sprintf("ベンチマークビル%d階", 1+i%40)},
		Birthdate: fmt.Sprintf("19%02d-%02d-%02d", 50+i%50, 1+i%12, 1+i%28),
		Locale:    "ja-JP", Zoneinfo: "Asia/Tokyo",
	}
}

func (f *readFixture) get(sub string) (int, string) {
	req, _ := http.NewRequest("GET", f.node.URL+"/api/v1/members/"+sub, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (f *readFixture) read(sub string) bool {
	req, _ := http.NewRequest("GET", f.node.URL+"/api/v1/members/"+sub, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func benchRead(b *testing.B, f *readFixture) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, 1<<16)
	var failed atomic.Int64
	b.SetParallelism(benchParallelism)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 4096)
		for pb.Next() {
			sub := f.subs[rand.IntN(len(f.subs))]
			t0 := time.Now()
			ok := f.read(sub)
			local = append(local, time.Since(t0))
			if !ok {
				failed.Add(1)
			}
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(failed.Load()), "non200")
	if failed.Load() > 0 {
		b.Errorf("%d of %d reads did not answer 200", failed.Load(), b.N)
	}
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
