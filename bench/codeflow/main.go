// Command codeflow measures the OpenID Connect authorization code flow end
// to end against a running Kaiin node: -c virtual browsers each run whole
// flows back to back, bounded by -n flows and -d time. One flow is what a
// relying party and a member's browser do together:
//
//  1. GET /authorize (response_type=code, PKCE S256, state, nonce) → 302/303
//     to /login?authRequestID=…
//  2. GET /login?authRequestID=… (the sign-in page, as a browser shows it)
//  3. POST /login with the member's email, password and the authRequestID
//     (Origin and Sec-Fetch-Site as a browser sends them) → 303 to the
//     provider's callback (the client is registered with --skip-consent)
//  4. GET the callback with the new session cookie → 302/303 to the
//     redirect URI with code and the same state
//  5. POST /oauth/token (authorization_code, code_verifier, Basic client
//     auth) → 200 with an access token and an ID token
//
// Every flow starts from a fresh cookie jar (a new browser, no session), so
// each one signs in with the password: one argon2id hash per flow. The
// redirect URI is never fetched. A flow counts only if every step answers
// as above; anything else is reported by step and status and makes the run
// exit 1. The sign-in rate limits must be off on the node
// (KAIIN_RATE_LIMIT_SIGNIN_IP=off, KAIIN_RATE_LIMIT_SIGNIN_ACCOUNT=off),
// since every flow comes from 127.0.0.1 for one member.
//
// It prints one machine-readable line:
//
//	RESULT flows_s=… p50_ms=… p99_ms=… flows=… failed=… c=… elapsed_s=…
//
// followed by the median time of each step. Loopback only:
//
//	go run ./bench/codeflow -base http://127.0.0.1:8080 -client-id … -client-secret … \
//	    -redirect-uri http://127.0.0.1:9/cb -email m@example.com -password '…' -c 8 -d 10s
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	base, clientID, clientSecret, redirectURI, email, password, scope string
	concurrency                                                       int
	flows                                                             int64
	duration                                                          time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.base, "base", "", "the node's base URL, http://127.0.0.1:PORT (required)")
	flag.StringVar(&o.clientID, "client-id", "", "a confidential client with authorization_code and --skip-consent (required)")
	flag.StringVar(&o.clientSecret, "client-secret", "", "its secret (required)")
	flag.StringVar(&o.redirectURI, "redirect-uri", "", "one of its redirect URIs (never fetched; required)")
	flag.StringVar(&o.email, "email", "", "a verified member's email (required)")
	flag.StringVar(&o.password, "password", "", "the member's password (required)")
	flag.StringVar(&o.scope, "scope", "openid email", "the scopes asked for")
	flag.IntVar(&o.concurrency, "c", 8, "virtual browsers running flows at once")
	flag.Int64Var(&o.flows, "n", 100000, "upper bound on the flows started")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "upper bound on the run's duration (at most 120s)")
	flag.Parse()
	switch {
	case o.base == "" || o.clientID == "" || o.clientSecret == "" || o.redirectURI == "" || o.email == "" || o.password == "":
		fatalf("-base, -client-id, -client-secret, -redirect-uri, -email and -password are required")
	case o.concurrency < 1 || o.concurrency > 1000 || o.flows < 1:
		fatalf("-c must be within 1..1000 and -n at least 1")
	case o.duration <= 0 || o.duration > 120*time.Second:
		fatalf("-d must be within (0, 120s]")
	}
	if u, err := url.Parse(o.base); err != nil || u.Scheme != "http" || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		fatalf("-base must be an http://127.0.0.1 URL")
	}
	o.base = strings.TrimSuffix(o.base, "/")
	if !run(o) {
		os.Exit(1)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "codeflow: "+format+"\n", args...)
	os.Exit(2)
}

// steps of a flow, for the per-step medians and the failure report.
var stepNames = []string{"authorize", "login page", "sign-in", "callback", "token"}

type flowResult struct {
	total time.Duration
	steps [5]time.Duration
}

// stepError is a flow that went wrong at one step.
type stepError struct {
	step   int
	status int
	msg    string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", stepNames[e.step], e.status, e.msg)
}

func run(o options) bool {
	var started atomic.Int64
	var mu sync.Mutex
	var results []flowResult
	failures := map[string]int{}
	var firstErr error

	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One browser's connections, kept alive across its flows; the
			// cookies are new for every flow.
			tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
			defer tr.CloseIdleConnections()
			for time.Now().Before(deadline) && started.Add(1) <= o.flows {
				r, err := flow(o, tr)
				mu.Lock()
				if err != nil {
					var se *stepError
					key := err.Error()
					if errors.As(err, &se) {
						key = fmt.Sprintf("%s %d", stepNames[se.step], se.status)
					}
					failures[key]++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					results = append(results, r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	totals := make([]time.Duration, len(results))
	for i, r := range results {
		totals[i] = r.total
	}
	nfail := 0
	for _, n := range failures {
		nfail += n
	}
	fmt.Printf("RESULT flows_s=%.1f p50_ms=%.1f p99_ms=%.1f flows=%d failed=%d c=%d elapsed_s=%.2f\n",
		float64(len(results))/elapsed.Seconds(), ms(pct(totals, 50)), ms(pct(totals, 99)),
		len(results), nfail, o.concurrency, elapsed.Seconds())
	var parts []string
	for s := range stepNames {
		d := make([]time.Duration, len(results))
		for i, r := range results {
			d[i] = r.steps[s]
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", stepNames[s], ms(pct(d, 50))))
	}
	fmt.Printf("step medians (ms): %s\n", strings.Join(parts, ", "))
	if nfail > 0 {
		keys := make([]string, 0, len(failures))
		for k := range failures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("failed: %s × %d\n", k, failures[k])
		}
		fmt.Printf("first failure: %v\n", firstErr)
	}
	return nfail == 0 && len(results) > 0
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)]
}

func random() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// flow runs one authorization code flow in a new browser.
func flow(o options, tr *http.Transport) (flowResult, error) {
	var res flowResult
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier, state, nonce := random(), random(), random()
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	t0 := time.Now()
	mark := func(step int) {
		now := time.Now()
		res.steps[step] = now.Sub(t0)
		res.total += res.steps[step]
		t0 = now
	}

	// 1. The relying party sends the browser to /authorize.
	q := url.Values{"client_id": {o.clientID}, "redirect_uri": {o.redirectURI}, "response_type": {"code"},
		"scope": {o.scope}, "state": {state}, "nonce": {nonce},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	loc, err := get(c, o.base+"/authorize?"+q.Encode(), 0)
	if err != nil {
		return res, err
	}
	mark(0)
	id := loc.Query().Get("authRequestID")
	if loc.Path != "/login" || id == "" {
		return res, &stepError{0, 0, "redirected to " + loc.String() + ", not /login?authRequestID=…"}
	}

	// 2. The sign-in page.
	resp, err := c.Get(o.base + "/login?authRequestID=" + url.QueryEscape(id))
	if err != nil {
		return res, &stepError{1, 0, err.Error()}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, &stepError{1, resp.StatusCode, "want 200"}
	}
	mark(1)

	// 3. The member signs in; with skip-consent, on to the callback.
	form := url.Values{"email": {o.email}, "password": {o.password}, "authRequestID": {id}}
	req, _ := http.NewRequest(http.MethodPost, o.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", o.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	loc, err = do(c, req, 2)
	if err != nil {
		return res, err
	}
	mark(2)
	if loc.Path != "/authorize/callback" {
		return res, &stepError{2, http.StatusSeeOther, "redirected to " + loc.Path + ", not the callback"}
	}

	// 4. The callback sends the browser back to the relying party with a code.
	loc, err = get(c, o.base+loc.RequestURI(), 3)
	if err != nil {
		return res, err
	}
	mark(3)
	code := loc.Query().Get("code")
	if code == "" || loc.Query().Get("state") != state || !strings.HasPrefix(loc.String(), o.redirectURI) {
		return res, &stepError{3, 0, "no code or wrong state in " + loc.Redacted()}
	}

	// 5. The relying party exchanges the code.
	form = url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.redirectURI},
		"code_verifier": {verifier}}
	req, _ = http.NewRequest(http.MethodPost, o.base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(o.clientID), url.QueryEscape(o.clientSecret))
	resp, err = tr.RoundTrip(req) // no cookies: this is the relying party's server
	if err != nil {
		return res, &stepError{4, 0, err.Error()}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, &stepError{4, resp.StatusCode, strings.TrimSpace(string(body))}
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" || tok.IDToken == "" {
		return res, &stepError{4, resp.StatusCode, "no access_token and id_token in " + string(body)}
	}
	mark(4)
	return res, nil
}

func get(c *http.Client, u string, step int) (*url.URL, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(c, req, step)
}

// do sends req and wants a 302 or 303; it returns the Location.
func do(c *http.Client, req *http.Request, step int) (*url.URL, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, &stepError{step, 0, err.Error()}
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return nil, &stepError{step, resp.StatusCode, "want a redirect; body: " + snippet(body)}
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, &stepError{step, resp.StatusCode, "no Location"}
	}
	return loc, nil
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
