package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestHSTSOnlyOverHTTPS(t *testing.T) {
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, https := range []bool{false, true} {
		rec := httptest.NewRecorder()
		securityHeaders(https, ok).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if got := rec.Header().Get("Strict-Transport-Security") != ""; got != https {
			t.Errorf("https=%v: HSTS sent = %v", https, got)
		}
	}
}

func TestClientIP(t *testing.T) {
	c := ClientIP{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	cases := []struct {
		remote, xff, want string
	}{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "198.51.100.1", "203.0.113.5"},                  // untrusted peer: header ignored
		{"10.0.0.2:1234", "198.51.100.1", "198.51.100.1"},                    // trusted proxy
		{"10.0.0.2:1234", "6.6.6.6, 198.51.100.1, 10.0.0.3", "198.51.100.1"}, // rightmost untrusted
		{"10.0.0.2:1234", "garbage", "10.0.0.2"},
		{"[::ffff:10.0.0.2]:1234", "198.51.100.1", "198.51.100.1"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := c.Of(r); got != tc.want {
			t.Errorf("%s xff=%q: got %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
