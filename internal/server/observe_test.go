package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// The common middleware as server.New stacks it, around a small mux.
func observed(t *testing.T, trust bool) (http.Handler, *bytes.Buffer, *prometheus.Registry) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Id", RequestID(r.Context()))
		_, _ = w.Write([]byte("item"))
	})
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	recovered := func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "oops "+RequestID(r.Context()), http.StatusInternalServerError)
	}
	var h http.Handler = securityHeaders(false, mux)
	h = observe(log, newHTTPMetrics(reg), recovered, h)
	h = withRequestID(func(*http.Request) bool { return trust }, h)
	return h, &logs, reg
}

func serve(h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	h.ServeHTTP(rec, r)
	return rec
}

func counter(t *testing.T, reg *prometheus.Registry, route, method, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "kaiin_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["route"] == route && l["method"] == method && l["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestRequestID(t *testing.T) {
	h, _, _ := observed(t, false)
	hexID := regexp.MustCompile(`^[0-9a-f]{16}$`)
	a, b := serve(h, "/items/1"), serve(h, "/items/1")
	ida, idb := a.Header().Get("X-Request-Id"), b.Header().Get("X-Request-Id")
	if !hexID.MatchString(ida) || !hexID.MatchString(idb) || ida == idb {
		t.Fatalf("request ids %q, %q: want two different 16-hex-digit ids", ida, idb)
	}
	if a.Header().Get("X-Seen-Id") != ida {
		t.Fatalf("id on the context %q, echoed %q", a.Header().Get("X-Seen-Id"), ida)
	}
	// An untrusted peer's X-Request-Id is replaced.
	if got := serve(h, "/items/1", "X-Request-Id", "from-client").Header().Get("X-Request-Id"); got == "from-client" {
		t.Fatal("untrusted X-Request-Id kept")
	}
	// A trusted proxy's is kept when it looks sane.
	ht, _, _ := observed(t, true)
	if got := serve(ht, "/items/1", "X-Request-Id", "proxy-id-1").Header().Get("X-Request-Id"); got != "proxy-id-1" {
		t.Fatalf("trusted X-Request-Id: got %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("x", 65)} {
		if got := serve(ht, "/items/1", "X-Request-Id", bad).Header().Get("X-Request-Id"); !hexID.MatchString(got) {
			t.Fatalf("trusted but malformed X-Request-Id %q: got %q", bad, got)
		}
	}
}

func TestObserveMetricsAndLog(t *testing.T) {
	h, logs, reg := observed(t, false)
	for range 3 {
		serve(h, "/items/42?token=secret")
	}
	serve(h, "/nowhere")
	if n := counter(t, reg, "GET /items/{id}", "GET", "2xx"); n != 3 {
		t.Fatalf("GET /items/{id} 2xx = %v; want 3", n)
	}
	if n := counter(t, reg, "unmatched", "GET", "4xx"); n != 1 {
		t.Fatalf("unmatched 4xx = %v; want 1", n)
	}
	if strings.Contains(logs.String(), "secret") {
		t.Fatalf("the query was logged:\n%s", logs)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["level"] != "INFO" || line["msg"] != "http request" || line["path"] != "/items/42" || line["route"] != "GET /items/{id}" ||
		line["method"] != "GET" || line["status"] != float64(200) || line["bytes"] != float64(4) || line["request_id"] == "" {
		t.Fatalf("access log line %v", line)
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Fatalf("no duration in %v", line)
	}
}

func TestObserveRecoversPanics(t *testing.T) {
	h, logs, reg := observed(t, false)
	rec := serve(h, "/boom")
	id := rec.Header().Get("X-Request-Id")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "oops "+id) {
		t.Fatalf("panic answered %d %q", rec.Code, rec.Body)
	}
	if n := counter(t, reg, "GET /boom", "GET", "5xx"); n != 1 {
		t.Fatalf("GET /boom 5xx = %v; want 1", n)
	}
	if !strings.Contains(logs.String(), `"msg":"handler panicked"`) || !strings.Contains(logs.String(), `"level":"WARN","msg":"http request"`) {
		t.Fatalf("logs:\n%s", logs)
	}
	// The headers every response carries are there too.
	if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("headers %v", rec.Header())
	}
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{0: "other", 99: "other", 100: "1xx", 204: "2xx", 302: "3xx", 404: "4xx", 599: "5xx", 600: "other"} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q; want %q", code, got, want)
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	log := slog.New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mux := http.NewServeMux()
	body := []byte(`{"keys":[]}`)
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	var h http.Handler = securityHeaders(false, mux)
	h = observe(log, newHTTPMetrics(prometheus.NewRegistry()), nil, h)
	h = withRequestID(func(*http.Request) bool { return false }, h)
	r := httptest.NewRequest("GET", "/keys", nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// nopWriter is a ResponseWriter that keeps nothing, so that the benchmark
// measures the middleware rather than a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
