package redisstate

import (
	"slices"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		in        string
		addrs     []string
		cluster   bool
		user, pw  string
		db        int
		tls       bool
		tlsServer string
	}{
		{in: "redis://127.0.0.1:6379", addrs: []string{"127.0.0.1:6379"}},
		{in: "redis://127.0.0.1:6379/0", addrs: []string{"127.0.0.1:6379"}},
		{in: "redis://localhost", addrs: []string{"localhost:6379"}},
		{in: "redis://localhost/", addrs: []string{"localhost:6379"}},
		{in: "redis://cache.internal:7000/3", addrs: []string{"cache.internal:7000"}, db: 3},
		{in: "redis://kaiin:s3cret@cache:6379/1", addrs: []string{"cache:6379"}, user: "kaiin", pw: "s3cret", db: 1},
		{in: "redis://:only-password@cache:6379", addrs: []string{"cache:6379"}, pw: "only-password"},
		{in: "redis://kaiin@cache:6379", addrs: []string{"cache:6379"}, user: "kaiin"},
		{in: "redis://u:p%40ss%2Fw%2Cd@cache", addrs: []string{"cache:6379"}, user: "u", pw: "p@ss/w,d"},
		{in: "redis://[::1]:6380", addrs: []string{"[::1]:6380"}},
		{in: "rediss://u:pw@redis.example.com:6380", addrs: []string{"redis.example.com:6380"}, user: "u", pw: "pw",
			tls: true, tlsServer: "redis.example.com"},
		{in: "redis://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002", cluster: true,
			addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"}},
		{in: " redis://:pw@n1:7000 , n2:7001 ,n3", cluster: true, pw: "pw",
			addrs: []string{"n1:7000", "n2:7001", "n3:6379"}},
		{in: "redis://:pw@n1:7000,redis://:pw@n2:7001,redis://n3:7002", cluster: true, pw: "pw",
			addrs: []string{"n1:7000", "n2:7001", "n3:7002"}},
		{in: "rediss://n1.example.com:7000,[fd00::2]:7001", cluster: true, tls: true, tlsServer: "n1.example.com",
			addrs: []string{"n1.example.com:7000", "[fd00::2]:7001"}},
		{in: "redis://n1:7000/0,n2:7001", cluster: true, addrs: []string{"n1:7000", "n2:7001"}},
	}
	for _, tc := range good {
		o, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q) = %v", tc.in, err)
			continue
		}
		if !slices.Equal(o.Addrs, tc.addrs) || o.Cluster != tc.cluster || o.Username != tc.user ||
			o.Password != tc.pw || o.DB != tc.db || (o.TLS != nil) != tc.tls {
			t.Errorf("ParseURL(%q) = %+v (tls %v); want addrs %q cluster %v user %q db %d tls %v",
				tc.in, o, o.TLS != nil, tc.addrs, tc.cluster, tc.user, tc.db, tc.tls)
		}
		if tc.tls && o.TLS != nil && o.TLS.ServerName != tc.tlsServer {
			t.Errorf("ParseURL(%q): TLS server name %q; want %q", tc.in, o.TLS.ServerName, tc.tlsServer)
		}
		if tc.pw != "" && strings.Contains(o.String(), tc.pw) {
			t.Errorf("Options.String() = %q shows the password", o.String())
		}
	}

	// Each bad input carries the password "hunter2"; no error may show it,
	// nor any piece of it that a mis-split URL might leave in a field.
	bad := []struct{ in, wantErr string }{
		{"", "empty"},
		{"   ", "empty"},
		{"127.0.0.1:6379", "not a URL"},
		{"kaiin:hunter2@127.0.0.1:6379", "credentials without a scheme"},
		{"http://kaiin:hunter2@cache:6379", `unsupported scheme "http"`},
		{"redis://kaiin:hunter2@:6379", "missing host"},
		{"redis://kaiin:hunter2@cache:99999", "port must be 1-65535"},
		{"redis://kaiin:hunter2@cache:0", "port must be 1-65535"},
		{"redis://kaiin:hunter2@cache:port", "not a valid URL"},
		{"redis://kaiin:hunter2@cache:6379/x", "database must be a number"},
		{"redis://kaiin:hunter2@cache:6379/-1", "database must be a number"},
		{"redis://kaiin:hunter2@cache:6379?password=hunter2", "query parameters are not supported (password)"},
		{"redis://kaiin:hunter2@cache:6379#frag", "fragment"},
		{"redis://kaiin:hun/ter2@cache:6379", "percent-encode"},   // '/' ends the host early
		{"redis://kaiin:hun?ter2@cache:6379", "percent-encode"},   // so does '?'
		{"redis://kaiin:hun#ter2@cache:6379", "percent-encode"},   // and '#'
		{"redis://kaiin:12/hunter2@cache:6379", "percent-encode"}, // host "kaiin", port 12
		{"redis://kaiin:hun,ter2@cache:6379", "percent-encode ','"},
		{"redis://kaiin:12,hunter2@cache:6379", "percent-encode ','"},
		{"redis://kaiin:12,c:hunter2,x@cache", "percent-encode ','"},
		{"redis://kaiin:hunter2@n1:7000,", "entry 2: empty address"},
		{"redis://kaiin:hunter2@n1:7000,,n3:7002", "entry 2: empty address"},
		{"redis://kaiin:hunter2@n1:7000,n2:notaport", "entry 2"},
		{"redis://kaiin:hunter2@n1:7000,::1:7001", "IPv6"},
		{"redis://kaiin:hunter2@n1:7000,rediss://n2:7001", "mixes rediss:// with redis://"},
		{"redis://kaiin:hunter2@n1:7000,redis://kaiin:other@n2:7001", "credentials differ"},
		{"redis://kaiin:hunter2@n1:7000/2,n2:7001", "only database 0"},
		{"redis://kaiin:hunter2@n1:7000,redis://n2:7001/2", "differs from the first"},
		{"redis:kaiin:hunter2@cache", "credentials without a scheme"},
		{"redis:opaque", "not a URL"},
	}
	for _, tc := range bad {
		o, err := ParseURL(tc.in)
		if err == nil {
			t.Errorf("ParseURL(%q) = %+v; want an error", tc.in, o)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.wantErr) {
			t.Errorf("ParseURL(%q) error %q; want it to mention %q", tc.in, msg, tc.wantErr)
		}
		for _, secret := range []string{"hunter2", "hun", "ter2"} {
			if strings.Contains(msg, secret) {
				t.Errorf("ParseURL(%q) error %q shows (part of) the password", tc.in, msg)
			}
		}
		if !strings.HasPrefix(msg, "redisstate: ") {
			t.Errorf("ParseURL(%q) error %q lacks the package prefix", tc.in, msg)
		}
	}
}

// A write must be read back by any node: nothing may route reads to
// replicas.
func TestClusterOptionsPrimariesOnly(t *testing.T) {
	o := clusterOptions(Options{Addrs: []string{"a:1", "b:2"}, Password: "pw", PoolSize: 7})
	if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
		t.Errorf("cluster options ReadOnly=%v RouteByLatency=%v RouteRandomly=%v; want all false",
			o.ReadOnly, o.RouteByLatency, o.RouteRandomly)
	}
	if !slices.Equal(o.Addrs, []string{"a:1", "b:2"}) || o.Password != "pw" || o.PoolSize != 7 {
		t.Errorf("cluster options = %+v; want the given addresses, password and pool size", o)
	}
}

func TestNewRejects(t *testing.T) {
	for _, o := range []Options{
		{},
		{Addrs: []string{"a:1"}, KeyPrefix: "kaiin{x}:"},
		{Addrs: []string{"a:1", "b:2"}, DB: 1},
		{Addrs: []string{"a:1"}, Cluster: true, DB: 1},
		{Addrs: []string{"a:1"}, PoolSize: -1},
	} {
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%v) = nil error; want one", o)
		}
	}
}
