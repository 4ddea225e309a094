package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// load runs Load with yamlText as the config file (when not empty), env as
// the environment and args as the command line. It fails the test when the
// error is not an Errors.
func load(t *testing.T, yamlText string, env []string, args ...string) (Config, Errors, string) {
	t.Helper()
	path := ""
	if yamlText != "" {
		path = filepath.Join(t.TempDir(), "kaiin.yaml")
		if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append([]string{"--config", path}, args...)
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flag parse %q: %v", args, err)
	}
	cfg, err := Load(fs, env)
	if err == nil {
		return cfg, nil, path
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error is %T, not Errors: %v", err, err)
	}
	if cfg.Addr != "" {
		t.Errorf("Load returned a config with its error")
	}
	return cfg, errs, path
}

// yamlFor writes one setting as YAML, nested as the operator would.
func yamlFor(key, value string) string {
	q := strconv.Quote(value)
	if group, leaf, ok := strings.Cut(key, "."); ok {
		return group + ":\n  " + leaf + ": " + q + "\n"
	}
	return key + ": " + q + "\n"
}

type badValue struct {
	value  string
	errKey string // the key the error names, when another check catches it
}

// keyCases has, for every setting, good values with how they display once
// loaded, and bad values. extra is environment needed for the good values
// to pass the checks across settings.
var keyCases = []struct {
	key   string
	extra []string
	good  map[string]string
	bad   []badValue
}{
	{key: "addr",
		good: map[string]string{":9000": ":9000", "0.0.0.0:80": "0.0.0.0:80", "[::1]:8443": "[::1]:8443", " 127.0.0.1:1 ": "127.0.0.1:1"},
		bad:  []badValue{{value: "localhost"}, {value: "host:99999"}, {value: "host:http"}, {value: ""}}},
	{key: "data_dir",
		good: map[string]string{"/var/lib/kaiin": "/var/lib/kaiin", "データ": "データ"},
		bad:  []badValue{{value: ""}}},
	{key: "public_url",
		good: map[string]string{"https://id.example.com/": "https://id.example.com", "http://localhost:8080": "http://localhost:8080", "https://example.com/kaiin": "https://example.com/kaiin"},
		bad: []badValue{{value: "id.example.com"}, {value: "ftp://id.example.com"}, {value: "https://x.example/?a=1"},
			{value: "https://x.example/#top"}, {value: "https://user:pw@x.example"}, {value: "https://"}, {value: "http://x.example:0"}, {value: "http://x.example:99999"}}},
	{key: "database_url",
		good: map[string]string{"postgres://u:p@db:5432/kaiin": "postgres://xxxxx@db:5432/kaiin", "postgresql:///kaiin?host=/run/postgresql": "postgresql:///kaiin?host=/run/postgresql", "": ""},
		bad:  []badValue{{value: "mysql://u:pw@h/db"}, {value: "host=db user=u dbname=kaiin"}, {value: "postgres://u:p@db:badport/x"}}},
	{key: "database_max_conns",
		good: map[string]string{"1": "1", "1000": "1000"},
		bad:  []badValue{{value: "0"}, {value: "1001"}, {value: "ten"}, {value: ""}}},
	{key: "redis_url",
		good: map[string]string{"redis://localhost:6379": "redis://localhost:6379", "rediss://:pw@r1:6379,rediss://:pw@r2:6379": "rediss://xxxxx@r1:6379,rediss://xxxxx@r2:6379", "redis://cache": "redis://cache", "": ""},
		bad:  []badValue{{value: "http://cache:6379"}, {value: "redis://"}, {value: "redis://h:99999"}, {value: "redis://a:6379,,redis://b:6379"}, {value: "localhost:6379"}}},
	{key: "auto_migrate",
		good: map[string]string{"false": "false", "true": "true", "0": "false"},
		bad:  []badValue{{value: "maybe"}, {value: ""}}},
	{key: "dev_mode",
		good: map[string]string{"true": "true", "false": "false", "": "auto", "auto": "auto"},
		bad:  []badValue{{value: "yes"}}},
	{key: "shutdown_timeout",
		good: map[string]string{"10s": "10s", "1m30s": "1m30s"},
		bad:  []badValue{{value: "0s"}, {value: "-1s"}, {value: "10"}, {value: "ten seconds"}}},
	{key: "trusted_proxies",
		good: map[string]string{"10.0.0.0/8, 192.168.1.1": "10.0.0.0/8,192.168.1.1/32", "fd00::1/8": "fd00::/8", "": ""},
		bad:  []badValue{{value: "10.0.0.0/33"}, {value: "proxy.example.com"}}},
	{key: "log.level",
		good: map[string]string{"debug": "debug", "warn": "warn", "ERROR": "error"},
		bad:  []badValue{{value: "verbose"}, {value: "trace"}, {value: ""}}},
	{key: "log.format",
		good: map[string]string{"text": "text", "json": "json"},
		bad:  []badValue{{value: "xml"}}},
	{key: "smtp.host", extra: []string{"KAIIN_SMTP_FROM=no-reply@example.com"},
		good: map[string]string{"smtp.example.com": "smtp.example.com", "": ""},
		bad:  []badValue{{value: "smtp.example.com:587"}, {value: "smtp example"}}},
	{key: "smtp.port",
		good: map[string]string{"465": "465", "25": "25"},
		bad:  []badValue{{value: "0"}, {value: "70000"}, {value: "smtp"}}},
	{key: "smtp.username",
		good: map[string]string{"kaiin": "kaiin"}},
	{key: "smtp.password", extra: []string{"KAIIN_SMTP_USERNAME=kaiin"},
		good: map[string]string{"pa ss ": "[redacted]"}},
	{key: "smtp.from",
		good: map[string]string{"Kaiin <no-reply@example.com>": "Kaiin <no-reply@example.com>", "会員 <a@example.jp>": "会員 <a@example.jp>"},
		bad:  []badValue{{value: "not an address"}, {value: "a@example.com, b@example.com"}}},
	{key: "smtp.tls",
		good: map[string]string{"tls": "tls", "none": "none", "starttls": "starttls"},
		bad:  []badValue{{value: "ssl"}, {value: ""}}},
	{key: "session.idle_timeout",
		good: map[string]string{"30m": "30m", "720h": "720h"},
		bad:  []badValue{{value: "0"}, {value: "-5m"}, {value: "1d"}, {value: "721h"}}},
	{key: "session.absolute_timeout",
		good: map[string]string{"24h": "24h", "12h": "12h"},
		bad:  []badValue{{value: "0s"}, {value: "1h", errKey: "session.idle_timeout"}}},
	{key: "password.min_length",
		good: map[string]string{"12": "12", "64": "64"},
		bad:  []badValue{{value: "7"}, {value: "65"}, {value: "twelve"}}},
	{key: "password.max_length",
		good: map[string]string{"128": "128", "1024": "1024"},
		bad:  []badValue{{value: "63"}, {value: "1025"}}},
	{key: "password.hash_memory_kib",
		good: map[string]string{"47104": "47104", "17920": "17920"},
		bad:  []badValue{{value: "7167"}, {value: "7168"}, {value: "abc"}, {value: "4194305"}}},
	{key: "password.hash_iterations",
		good: map[string]string{"3": "3", "2": "2"},
		bad:  []badValue{{value: "0"}, {value: "1", errKey: "password.hash_memory_kib"}, {value: "101"}}},
	{key: "password.hash_parallelism",
		good: map[string]string{"4": "4", "255": "255"},
		bad:  []badValue{{value: "0"}, {value: "256"}}},
	{key: "password.max_concurrent_hashes",
		good: map[string]string{"0": "0", "8": "8"},
		bad:  []badValue{{value: "-1"}, {value: "many"}}},
	{key: "password.hash_queue",
		good: map[string]string{"0": "0", "100": "100"},
		bad:  []badValue{{value: "-1"}}},
	{key: "password.hash_queue_timeout",
		good: map[string]string{"500ms": "500ms", "3s": "3s"},
		bad:  []badValue{{value: "0s"}, {value: "2"}}},
	{key: "rate_limit.signin_ip",
		good: map[string]string{"5/1m": "5/1m", "off": "off", "OFF": "off", "10/h": "10/1h", "100/1m30s": "100/1m30s"},
		bad:  []badValue{{value: "0/1m"}, {value: "10"}, {value: "10/0s"}, {value: "ten/1m"}, {value: "10/fortnight"}, {value: ""}}},
	{key: "rate_limit.signin_account", good: map[string]string{"3/15m": "3/15m"}, bad: []badValue{{value: "-1/1m"}}},
	{key: "rate_limit.register_ip", good: map[string]string{"off": "off"}, bad: []badValue{{value: "1/-1h"}}},
	{key: "keys.algorithms", good: map[string]string{"ES256": "ES256", "ES256,RS256": "ES256,RS256"}, bad: []badValue{{value: "RS256"}, {value: "ES256,HS256"}}},
	{key: "mfa.required", good: map[string]string{"true": "true", "false": "false"}, bad: []badValue{{value: "sometimes"}}},
	{key: "gateway.addr", good: map[string]string{":8081": ":8081"}, bad: []badValue{{value: "nope"}}},
	{key: "gateway.metrics_addr", good: map[string]string{"127.0.0.1:9999": "127.0.0.1:9999"}, bad: []badValue{{value: "9999"}}},
	{key: "gateway.issuer_url", good: map[string]string{"https://id.example.com": "https://id.example.com"}, bad: []badValue{{value: "id.example.com"}}},
	{key: "gateway.jwks_url", good: map[string]string{"https://id.example.com/keys": "https://id.example.com/keys"}, bad: []badValue{{value: "ftp://x/keys"}}},
	{key: "gateway.routes_file", good: map[string]string{"/etc/kaiin/routes.yaml": "/etc/kaiin/routes.yaml"}},
	{key: "gateway.poll_interval", good: map[string]string{"1s": "1s"}, bad: []badValue{{value: "1ms"}}},
	{key: "gateway.revocation_max_age", good: map[string]string{"250ms": "250ms"}, bad: []badValue{{value: "2s"}}},
	{key: "oidc.access_token_lifetime", good: map[string]string{"5m": "5m"}, bad: []badValue{{value: "30s"}, {value: "2d"}}},
	{key: "oidc.id_token_lifetime", good: map[string]string{"2h": "2h"}, bad: []badValue{{value: "48h"}}},
	{key: "oidc.refresh_token_lifetime", good: map[string]string{"2160h": "2160h"}, bad: []badValue{{value: "10m"}}},
	{key: "oidc.code_lifetime", good: map[string]string{"30s": "30s"}, bad: []badValue{{value: "11m"}}},
	{key: "oidc.auth_request_lifetime", good: map[string]string{"10m": "10m"}, bad: []badValue{{value: "0s"}}},
	{key: "rate_limit.register_account", good: map[string]string{"3/1h": "3/1h", "off": "off"}, bad: []badValue{{value: "3"}}},
	{key: "rate_limit.reset_ip", good: map[string]string{"1/24h": "1/24h"}, bad: []badValue{{value: "x"}}},
	{key: "rate_limit.reset_account", good: map[string]string{"2/1h": "2/1h"}, bad: []badValue{{value: "2/1y"}}},
	{key: "keys.kek",
		good: map[string]string{testKEK: "[redacted]", " " + testKEK + "\n": "[redacted]", strings.TrimRight(testKEKURL, "="): "[redacted]", "": ""},
		bad:  []badValue{{value: "not base64!"}, {value: "c2hvcnQ="}, {value: testKEK + testKEK}}},
	{key: "keys.kek_file",
		good: map[string]string{"/run/secrets/kaiin-kek": "/run/secrets/kaiin-kek", "": ""}},
}

// TestEveryKeyEverySource loads each good and bad value of every setting
// through the file, the environment and (where there is one) the flag.
func TestEveryKeyEverySource(t *testing.T) {
	covered := map[string]bool{"smtp.password_file": true} // TestPasswordFile
	for _, kc := range keyCases {
		s := byKey[kc.key]
		if s == nil {
			t.Fatalf("no setting %q", kc.key)
		}
		covered[kc.key] = true
		type source struct {
			name string
			load func(t *testing.T, v string) (Config, Errors, string)
			src  func(path string) string
		}
		sources := []source{
			{"file", func(t *testing.T, v string) (Config, Errors, string) { return load(t, yamlFor(kc.key, v), kc.extra) },
				func(path string) string {
					line := 1
					if strings.Contains(kc.key, ".") {
						line = 2
					}
					return path + ":" + strconv.Itoa(line)
				}},
			{"env", func(t *testing.T, v string) (Config, Errors, string) {
				return load(t, "", append([]string{s.env() + "=" + v}, kc.extra...))
			}, func(string) string { return s.env() }},
		}
		if s.flag != "" {
			sources = append(sources, source{"flag", func(t *testing.T, v string) (Config, Errors, string) {
				return load(t, "", kc.extra, "--"+s.flag+"="+v)
			}, func(string) string { return "--" + s.flag }})
		}
		for _, src := range sources {
			for v, want := range kc.good {
				t.Run(fmt.Sprintf("%s/%s/good/%q", kc.key, src.name, v), func(t *testing.T) {
					cfg, errs, _ := src.load(t, v)
					if errs != nil {
						t.Fatalf("Load: %v", errs)
					}
					if got := s.display(&cfg); got != want {
						t.Errorf("%s = %q, want %q", kc.key, got, want)
					}
				})
			}
			for _, bad := range kc.bad {
				t.Run(fmt.Sprintf("%s/%s/bad/%q", kc.key, src.name, bad.value), func(t *testing.T) {
					_, errs, path := src.load(t, bad.value)
					if len(errs) != 1 {
						t.Fatalf("want 1 error, got %d: %v", len(errs), errs)
					}
					e := errs[0]
					wantKey, wantSrc := kc.key, src.src(path)
					if bad.errKey != "" {
						wantKey, wantSrc = bad.errKey, ""
					}
					if e.Key != wantKey || e.Source != wantSrc {
						t.Errorf("error names %q from %q, want %q from %q: %v", e.Key, e.Source, wantKey, wantSrc, e)
					}
					if e.Msg == "" {
						t.Errorf("error without a message: %#v", e)
					}
					if bad.errKey == "" && bad.value != "" && strings.TrimSpace(bad.value) != "" && !s.url && !s.secret && !strings.Contains(e.Error(), strconv.Quote(bad.value)) {
						t.Errorf("error does not quote the value: %v", e)
					}
					if s.secret && (strings.Contains(e.Value, bad.value) || strings.Contains(e.Msg, bad.value)) {
						t.Errorf("error shows the secret value: %v", e)
					}
				})
			}
		}
	}
	for _, s := range settings {
		if !covered[s.key] {
			t.Errorf("setting %s has no test cases", s.key)
		}
	}
}

func TestDefaults(t *testing.T) {
	cfg, errs, _ := load(t, "", nil)
	if errs != nil {
		t.Fatal(errs)
	}
	want := Default()
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load with nothing = %v\nwant Default() = %v", cfg, want)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if !cfg.DevMode() || cfg.HTTPS() || cfg.SQLitePath() != filepath.Join("kaiin-data", "kaiin.db") {
		t.Errorf("DevMode %v HTTPS %v SQLitePath %q", cfg.DevMode(), cfg.HTTPS(), cfg.SQLitePath())
	}
	if cfg.Log.Level != slog.LevelInfo || cfg.RateLimit.SigninAccount != (Rate{10, 15 * time.Minute}) || cfg.Session.AbsoluteTimeout != 720*time.Hour {
		t.Errorf("typed defaults wrong: %v", cfg)
	}
}

func TestTypedValues(t *testing.T) {
	cfg, errs, _ := load(t, `
addr: ":9000"
trusted_proxies:
  - 10.0.0.0/8
  - 2001:db8::/32
  - 192.0.2.7
database_url: postgres://kaiin@db/kaiin
log:
  level: debug
  format: text
smtp:
  host: smtp.example.com
  port: 465
  tls: tls
  username: kaiin
  password: "p@ss: word"
  from: Kaiin <no-reply@example.com>
session:
  idle_timeout: 30m
rate_limit:
  signin_ip: off
  reset_account: 3/2h
password:
  hash_memory_kib: 12288
  hash_iterations: 3
`, nil)
	if errs != nil {
		t.Fatal(errs)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.7/32")}
	switch {
	case !reflect.DeepEqual(cfg.TrustedProxies, wantProxies):
		t.Errorf("TrustedProxies = %v", cfg.TrustedProxies)
	case cfg.Log.Level != slog.LevelDebug || cfg.Log.Format != "text":
		t.Errorf("Log = %+v", cfg.Log)
	case cfg.SMTP.Port != 465 || cfg.SMTP.Password != "p@ss: word" || cfg.SMTP.TLS != "tls":
		t.Errorf("SMTP = %v", cfg.SMTP)
	case cfg.Session.IdleTimeout != 30*time.Minute:
		t.Errorf("IdleTimeout = %v", cfg.Session.IdleTimeout)
	case !cfg.RateLimit.SigninIP.Off() || cfg.RateLimit.ResetAccount != (Rate{3, 2 * time.Hour}):
		t.Errorf("RateLimit = %+v", cfg.RateLimit)
	case cfg.Password.HashMemoryKiB != 12288 || cfg.Password.HashIterations != 3:
		t.Errorf("Password = %+v", cfg.Password)
	case cfg.DevMode() || cfg.SQLitePath() != "":
		t.Errorf("DevMode %v SQLitePath %q with smtp.host and database_url", cfg.DevMode(), cfg.SQLitePath())
	case cfg.PublicURL != "http://localhost:9000":
		t.Errorf("PublicURL = %q", cfg.PublicURL)
	}
}

func TestPrecedence(t *testing.T) {
	file := "addr: 127.0.0.1:1001\nlog:\n  level: warn\nsmtp:\n  port: 2525\n"
	tests := []struct {
		name     string
		env      []string
		args     []string
		addr     string
		level    slog.Level
		smtpPort int
	}{
		{"file only", nil, nil, "127.0.0.1:1001", slog.LevelWarn, 2525},
		{"env over file", []string{"KAIIN_ADDR=127.0.0.1:1002", "KAIIN_SMTP_PORT=25"}, nil, "127.0.0.1:1002", slog.LevelWarn, 25},
		{"flag over env", []string{"KAIIN_ADDR=127.0.0.1:1002"}, []string{"--addr=127.0.0.1:1003", "--log-level", "error"}, "127.0.0.1:1003", slog.LevelError, 2525},
		{"unset flag keeps env", []string{"KAIIN_LOG_LEVEL=debug"}, []string{"--addr=127.0.0.1:1003"}, "127.0.0.1:1003", slog.LevelDebug, 2525},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs, _ := load(t, file, tt.env, tt.args...)
			if errs != nil {
				t.Fatal(errs)
			}
			if cfg.Addr != tt.addr || cfg.Log.Level != tt.level || cfg.SMTP.Port != tt.smtpPort {
				t.Errorf("addr %s level %v port %d; want %s %v %d", cfg.Addr, cfg.Log.Level, cfg.SMTP.Port, tt.addr, tt.level, tt.smtpPort)
			}
			// A loopback addr is reached as localhost (passkeys refuse IPs).
			if cfg.PublicURL != "http://"+strings.Replace(tt.addr, "127.0.0.1", "localhost", 1) {
				t.Errorf("public_url %q does not follow addr %q", cfg.PublicURL, tt.addr)
			}
		})
	}
}

func TestPublicURLDefault(t *testing.T) {
	for addr, want := range map[string]string{
		":9000":           "http://localhost:9000",
		"0.0.0.0:80":      "http://localhost:80",
		"[::]:8080":       "http://localhost:8080",
		"10.1.2.3:8080":   "http://10.1.2.3:8080",
		"[2001:db8::1]:8": "http://[2001:db8::1]:8",
	} {
		cfg, errs, _ := load(t, "", []string{"KAIIN_ADDR=" + addr})
		if errs != nil || cfg.PublicURL != want {
			t.Errorf("addr %s: public_url %q (%v), want %q", addr, cfg.PublicURL, errs, want)
		}
	}
	cfg, errs, _ := load(t, "", []string{"KAIIN_PUBLIC_URL=https://id.example.com/"})
	if errs != nil || cfg.PublicURL != "https://id.example.com" || !cfg.HTTPS() {
		t.Errorf("public_url %q HTTPS %v (%v)", cfg.PublicURL, cfg.HTTPS(), errs)
	}
}

func TestDevMode(t *testing.T) {
	const from = "KAIIN_SMTP_FROM=a@example.com"
	tests := []struct {
		env  []string
		args []string
		want bool
	}{
		{nil, nil, true},
		{[]string{"KAIIN_SMTP_HOST=smtp.example.com", from}, nil, false},
		{[]string{"KAIIN_SMTP_HOST=smtp.example.com", from, "KAIIN_DEV_MODE=true"}, nil, true},
		{[]string{"KAIIN_DEV_MODE=false"}, nil, false},
		{[]string{"KAIIN_SMTP_HOST=smtp.example.com", from}, []string{"--dev"}, true},
		{[]string{"KAIIN_DEV_MODE=true"}, []string{"--dev=false"}, false},
		// Unwise but allowed: development mode against a real database.
		{[]string{"KAIIN_DEV_MODE=true", "KAIIN_DATABASE_URL=postgres://db/kaiin"}, nil, true},
	}
	for _, tt := range tests {
		cfg, errs, _ := load(t, "", tt.env, tt.args...)
		if errs != nil || cfg.DevMode() != tt.want {
			t.Errorf("env %v args %v: DevMode %v (%v), want %v", tt.env, tt.args, cfg.DevMode(), errs, tt.want)
		}
	}
}

func TestBoolFlags(t *testing.T) {
	cfg, errs, _ := load(t, "", []string{"KAIIN_AUTO_MIGRATE=true"}, "--auto-migrate=false", "--dev")
	if errs != nil || cfg.AutoMigrate || !cfg.DevMode() {
		t.Errorf("AutoMigrate %v DevMode %v (%v)", cfg.AutoMigrate, cfg.DevMode(), errs)
	}
}

// TestForeignFlags checks that Load ignores flags of the subcommand that
// are not settings.
func TestForeignFlags(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	verbose := fs.Bool("verbose", false, "")
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--verbose", "--addr", ":1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(fs, nil)
	if err != nil || cfg.Addr != ":1" || !*verbose {
		t.Errorf("addr %q verbose %v err %v", cfg.Addr, *verbose, err)
	}
	var out bytes.Buffer
	fs.SetOutput(&out)
	fs.PrintDefaults()
	if !strings.Contains(out.String(), "KAIIN_ADDR") || !strings.Contains(out.String(), "-config file") {
		t.Errorf("flag help lacks the environment variable or --config:\n%s", out.String())
	}
}

func TestUnknownYAMLKey(t *testing.T) {
	_, errs, path := load(t, "addr: :1\nsmtp:\n  port: 25\n  hots: smtp.example.com\nlisten: :2\n", nil)
	if len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", errs)
	}
	if e := errs[0]; e.Key != "smtp.hots" || e.Source != path+":4" || !strings.Contains(e.Msg, "did you mean smtp.host?") {
		t.Errorf("first error %#v", e)
	}
	if e := errs[1]; e.Key != "listen" || e.Source != path+":5" || strings.Contains(e.Msg, "did you mean") {
		t.Errorf("second error %#v", e)
	}
}

func TestUnknownEnv(t *testing.T) {
	_, errs, _ := load(t, "", []string{
		"KAIIN_SMTP_HOTS=secret-looking-value", "KAIIN_TEST_POSTGRES=postgres://x", "KAIIN_CONFIG=", "HOME=/root", "KAIIN_ADDR=:1",
	})
	if len(errs) != 1 {
		t.Fatalf("want 1 error, got %v", errs)
	}
	e := errs[0]
	if e.Key != "KAIIN_SMTP_HOTS" || !strings.Contains(e.Msg, "did you mean KAIIN_SMTP_HOST?") {
		t.Errorf("error %#v", e)
	}
	if strings.Contains(errs.Error(), "secret-looking-value") {
		t.Errorf("error shows the unknown variable's value: %v", errs)
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, errs, path := load(t, `addr: nowhere
smtp:
  tls: ssl
  port: 0
`, []string{"KAIIN_LOG_LEVEL=loud"}, "--public-url=ftp://x")
	want := []struct{ key, src string }{
		{"addr", path + ":1"}, {"smtp.tls", path + ":3"}, {"smtp.port", path + ":4"},
		{"log.level", "KAIIN_LOG_LEVEL"}, {"public_url", "--public-url"},
	}
	if len(errs) != len(want) {
		t.Fatalf("want %d errors, got %d:\n%v", len(want), len(errs), errs)
	}
	got := map[string]string{}
	for _, e := range errs {
		got[e.Key] = e.Source
	}
	for _, w := range want {
		if got[w.key] != w.src {
			t.Errorf("%s: source %q, want %q", w.key, got[w.key], w.src)
		}
	}
	if n := strings.Count(errs.Error(), "\n") + 1; n != len(want) {
		t.Errorf("Error() has %d lines, want one per problem:\n%v", n, errs)
	}
}

func TestFileThreeBadKeys(t *testing.T) {
	_, errs, _ := load(t, "database_max_conns: 0\nsession:\n  idle_timeout: soon\nrate_limit:\n  signin_ip: lots\n", nil)
	if len(errs) != 3 {
		t.Fatalf("want 3 errors, got %d: %v", len(errs), errs)
	}
}

func TestErrorLine(t *testing.T) {
	_, errs, _ := load(t, "", []string{"KAIIN_SMTP_TLS=ssl"})
	want := `config: smtp.tls (from KAIIN_SMTP_TLS): "ssl" is not allowed; use one of starttls, tls, none`
	if errs.Error() != want {
		t.Errorf("got  %s\nwant %s", errs, want)
	}
	_, errs, _ = load(t, "", []string{"KAIIN_SMTP_HOST=smtp.example.com"})
	want = `config: smtp.from: is required when smtp.host is set`
	if errs.Error() != want {
		t.Errorf("got  %s\nwant %s", errs, want)
	}
	var fe FieldError
	if !errors.As(error(errs), &fe) || fe.Key != "smtp.from" {
		t.Errorf("errors.As did not find the FieldError: %#v", fe)
	}
}

func TestCrossChecks(t *testing.T) {
	tests := []struct {
		env     []string
		wantKey string
		wantMsg string
	}{
		{[]string{"KAIIN_SMTP_PASSWORD=pw"}, "smtp.username", "required when smtp.password"},
		{[]string{"KAIIN_SMTP_HOST=mail.example.com", "KAIIN_SMTP_FROM=a@example.com", "KAIIN_SMTP_USERNAME=u", "KAIIN_SMTP_TLS=none"}, "smtp.tls", "unencrypted"},
		{[]string{"KAIIN_PASSWORD_HASH_MEMORY_KIB=9216", "KAIIN_PASSWORD_HASH_ITERATIONS=3"}, "password.hash_memory_kib", "OWASP"},
		{[]string{"KAIIN_PASSWORD_MIN_LENGTH=100"}, "password.min_length", "password.max_length (64)"},
	}
	for _, tt := range tests {
		_, errs, _ := load(t, "", tt.env)
		if len(errs) != 1 || errs[0].Key != tt.wantKey || !strings.Contains(errs[0].Msg, tt.wantMsg) {
			t.Errorf("env %v: got %v, want one error on %s mentioning %q", tt.env, errs, tt.wantKey, tt.wantMsg)
		}
	}
	// Accepted: a local relay without TLS, and OWASP's whole table.
	for _, env := range [][]string{
		{"KAIIN_SMTP_HOST=localhost", "KAIIN_SMTP_FROM=a@example.com", "KAIIN_SMTP_USERNAME=u", "KAIIN_SMTP_PASSWORD=p", "KAIIN_SMTP_TLS=none"},
		{"KAIIN_PASSWORD_HASH_MEMORY_KIB=47104", "KAIIN_PASSWORD_HASH_ITERATIONS=1"},
		{"KAIIN_PASSWORD_HASH_MEMORY_KIB=9216", "KAIIN_PASSWORD_HASH_ITERATIONS=4"},
		{"KAIIN_PASSWORD_HASH_MEMORY_KIB=7168", "KAIIN_PASSWORD_HASH_ITERATIONS=5"},
	} {
		if _, errs, _ := load(t, "", env); errs != nil {
			t.Errorf("env %v: %v", env, errs)
		}
	}
}

func TestYAMLShapes(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the only error; "" for none
		check   func(Config) bool
	}{
		{"empty file", "\n", "", nil},
		{"comments only", "# nothing yet\n", "", nil},
		{"null keeps default", "addr:\nsmtp:\n", "", func(c Config) bool { return c.Addr == "127.0.0.1:8080" }},
		{"dotted key", "smtp.port: 2525\n", "", func(c Config) bool { return c.SMTP.Port == 2525 }},
		{"anchor and alias", "x_common: &d 45s\n", "x_common", nil},
		{"alias value", "shutdown_timeout: &d 45s\npassword:\n  hash_queue_timeout: *d\n", "",
			func(c Config) bool { return c.Password.HashQueueTimeout == 45*time.Second }},
		{"redis list", "redis_url:\n  - redis://a:6379\n  - redis://b:6379\n", "", func(c Config) bool { return c.RedisURL == "redis://a:6379,redis://b:6379" }},
		{"proxy flow list", "trusted_proxies: [10.0.0.0/8, \"::1\"]\n", "", func(c Config) bool { return len(c.TrustedProxies) == 2 }},
		{"group is scalar", "smtp: mail.example.com\n", "must be a mapping", nil},
		{"list for scalar", "addr: [\":1\", \":2\"]\n", "single value", nil},
		{"mapping for scalar", "addr:\n  host: x\n", "single value", nil},
		{"nested list item", "trusted_proxies:\n  - [10.0.0.0/8]\n", "list of single values", nil},
		{"set twice", "addr: :1\naddr: :2\n", "set twice (also at line 1)", nil},
		{"not YAML", "addr: [\n", "not valid YAML", nil},
		{"top level list", "- addr\n", "must be a mapping", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs, _ := load(t, tt.yaml, nil)
			if tt.wantErr == "" {
				if errs != nil {
					t.Fatal(errs)
				}
				if tt.check != nil && !tt.check(cfg) {
					t.Errorf("unexpected config %v", cfg)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs.Error(), tt.wantErr) {
				t.Errorf("got %v, want one error with %q", errs, tt.wantErr)
			}
		})
	}
}

func TestConfigFileSelection(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte("addr: :1\n"), 0o600)
	os.WriteFile(b, []byte("addr: :2\n"), 0o600)

	cfg, errs, _ := load(t, "", []string{"KAIIN_CONFIG=" + a})
	if errs != nil || cfg.Addr != ":1" || cfg.ConfigFile != a {
		t.Errorf("KAIIN_CONFIG: addr %q file %q (%v)", cfg.Addr, cfg.ConfigFile, errs)
	}
	cfg, errs, _ = load(t, "", []string{"KAIIN_CONFIG=" + a}, "--config", b)
	if errs != nil || cfg.Addr != ":2" {
		t.Errorf("--config over KAIIN_CONFIG: addr %q (%v)", cfg.Addr, errs)
	}
	missing := filepath.Join(dir, "missing.yaml")
	_, errs, _ = load(t, "", nil, "--config", missing)
	if len(errs) != 1 || errs[0].Source != "--config" || errs[0].Value != missing || !strings.Contains(errs[0].Msg, "no such file") {
		t.Errorf("missing file: %v", errs)
	}
	_, errs, _ = load(t, "", []string{"KAIIN_CONFIG=" + missing})
	if len(errs) != 1 || errs[0].Source != "KAIIN_CONFIG" {
		t.Errorf("missing file from env: %v", errs)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const secret = "correct horse battery staple"
	good := write("pw", secret+"\r\n")
	user := "KAIIN_SMTP_USERNAME=kaiin"

	cfg, errs, _ := load(t, "", []string{user, "KAIIN_SMTP_PASSWORD_FILE=" + good})
	if errs != nil || cfg.SMTP.Password != secret {
		t.Fatalf("password %q (%v)", cfg.SMTP.Password, errs)
	}
	cfg, errs, _ = load(t, "smtp:\n  username: kaiin\n  password_file: "+good+"\n", nil)
	if errs != nil || cfg.SMTP.Password != secret {
		t.Fatalf("from file: password %q (%v)", cfg.SMTP.Password, errs)
	}

	missing := filepath.Join(dir, "nope")
	tests := []struct {
		name string
		env  []string
		key  string
		msg  string
	}{
		{"missing", []string{user, "KAIIN_SMTP_PASSWORD_FILE=" + missing}, "smtp.password_file", "no such file"},
		{"empty", []string{user, "KAIIN_SMTP_PASSWORD_FILE=" + write("empty", "\n")}, "smtp.password_file", "empty"},
		{"directory", []string{user, "KAIIN_SMTP_PASSWORD_FILE=" + dir}, "smtp.password_file", "cannot be read"},
		{"too large", []string{user, "KAIIN_SMTP_PASSWORD_FILE=" + write("big", secret+strings.Repeat("x", 70<<10))}, "smtp.password_file", "64 KiB"},
		{"both", []string{user, "KAIIN_SMTP_PASSWORD=" + secret, "KAIIN_SMTP_PASSWORD_FILE=" + good}, "smtp.password_file", "together with smtp.password (from KAIIN_SMTP_PASSWORD)"},
		{"no username", []string{"KAIIN_SMTP_PASSWORD_FILE=" + good}, "smtp.username", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs, _ := load(t, "", tt.env)
			if len(errs) != 1 || errs[0].Key != tt.key || !strings.Contains(errs[0].Msg, tt.msg) {
				t.Fatalf("got %v, want one error on %s with %q", errs, tt.key, tt.msg)
			}
			if tt.key == "smtp.password_file" && !strings.Contains(errs.Error(), strings.TrimPrefix(tt.env[len(tt.env)-1], "KAIIN_SMTP_PASSWORD_FILE=")) {
				t.Errorf("error does not name the file: %v", errs)
			}
			if strings.Contains(errs.Error(), secret) || strings.Contains(errs.Error(), "xxxxxxxx") {
				t.Errorf("error shows the file's contents: %v", errs)
			}
		})
	}
}

// TestSecretsNeverShown puts secrets in every setting that may hold one,
// alongside errors, and looks for them in every output.
func TestSecretsNeverShown(t *testing.T) {
	const pw = "Tr0ub4dor&3"
	inputs := [][]string{
		{"KAIIN_SMTP_PASSWORD=" + pw, "KAIIN_SMTP_HOST=smtp.example.com"},
		{"KAIIN_DATABASE_URL=mysql://kaiin:" + pw + "@db/kaiin"},
		{"KAIIN_DATABASE_URL=postgres://kaiin:" + pw + "@db:notaport/kaiin"},
		{"KAIIN_DATABASE_URL=postgres://kaiin:" + pw + "@db:5432/kaiin", "KAIIN_ADDR=bad"},
		{"KAIIN_DATABASE_URL=postgres://db/kaiin?sslmode=require&password=" + pw + "&x=1", "KAIIN_ADDR=bad"},
		{"KAIIN_DATABASE_URL=host=db password=" + pw},
		{"KAIIN_REDIS_URL=rediss://default:" + pw + "@r1:6379,http://:" + pw + "@r2:6379"},
		{"KAIIN_REDIS_URL=redis://:" + pw + "@r1:99999"},
		{"KAIIN_REDIS_URL=redis://:" + pw + "%zz@r1:6379"},
		{"KAIIN_SMTP_PASSWORD=" + pw, "KAIIN_SMTP_PASSWORD_FILE=/nonexistent"},
		{"KAIIN_KEYS_KEK=" + pw},
		{"KAIIN_KEYS_KEK=" + pw + testKEK},
	}
	for _, env := range inputs {
		_, errs, _ := load(t, "", env)
		if errs == nil {
			t.Errorf("env %v: want an error", env)
			continue
		}
		if strings.Contains(errs.Error(), pw) {
			t.Errorf("env %v: error shows the secret:\n%v", env, errs)
		}
		for _, e := range errs {
			if strings.Contains(fmt.Sprintf("%#v", e), pw) {
				t.Errorf("FieldError holds the secret: %#v", e)
			}
		}
	}
	_, errs, _ := load(t, "smtp:\n  password: "+pw+"\n  port: nope\n", []string{"KAIIN_REDIS_URL=redis://:" + pw + "@r:1"}, "--database-url=postgres://u:"+pw+"@h/db")
	if errs == nil || strings.Contains(errs.Error(), pw) {
		t.Errorf("file: %v", errs)
	}

	cfg, errs, _ := load(t, "", []string{
		"KAIIN_SMTP_HOST=smtp.example.com", "KAIIN_SMTP_FROM=a@example.com", "KAIIN_SMTP_USERNAME=u", "KAIIN_SMTP_PASSWORD=" + pw,
		"KAIIN_DATABASE_URL=postgres://u:" + pw + "@db/kaiin", "KAIIN_REDIS_URL=redis://:" + pw + "@r:6379",
		"KAIIN_KEYS_KEK=" + testKEK,
	})
	if errs != nil {
		t.Fatal(errs)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config loaded", "config", cfg, "smtp", cfg.SMTP, "keys", cfg.Keys)
	for name, out := range map[string]string{
		"String": cfg.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "SMTP %v": fmt.Sprintf("%v", cfg.SMTP),
		"Keys %v": fmt.Sprintf("%v", cfg.Keys), "Keys %+v": fmt.Sprintf("%+v", cfg.Keys), "slog": logs.String(), "Usage": Usage(),
	} {
		if strings.Contains(out, pw) || strings.Contains(out, testKEK) {
			t.Errorf("%s shows the secret:\n%s", name, out)
		}
	}
	if !strings.Contains(logs.String(), "postgres://xxxxx@db/kaiin") {
		t.Errorf("log lacks the redacted database URL:\n%s", logs.String())
	}
}

func TestValidateHandBuilt(t *testing.T) {
	c := Default()
	c.SMTP.TLS = "ssl"
	c.Password.HashMemoryKiB = 1024
	c.RateLimit.ResetIP = Rate{N: 0, Per: time.Hour}
	err := c.Validate()
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("Validate = %v, want 3 errors", err)
	}
	for _, e := range errs {
		if e.Source != "" {
			t.Errorf("hand-built config error has a source: %v", e)
		}
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]Rate{
		"60/1m": {60, time.Minute}, "10/15m": {10, 15 * time.Minute}, " 5 / 1h ": {5, time.Hour},
		"10/h": {10, time.Hour}, "1/500ms": {1, 500 * time.Millisecond}, "off": {}, "Off": {},
	}
	for in, want := range good {
		got, err := ParseRate(strings.TrimSpace(in))
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
		if back, err := ParseRate(got.String()); err != nil || back != got {
			t.Errorf("round trip of %q through %q: %v, %v", in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", "0", "0/1m", "-1/1m", "60", "60/", "/1m", "60/0s", "60/-1m", "sixty/1m", "60/1x"} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", in, r)
		}
	}
}

func TestUsage(t *testing.T) {
	u := Usage()
	for _, s := range settings {
		for _, want := range []string{s.key, s.env(), s.desc} {
			if !strings.Contains(u, want) {
				t.Errorf("Usage lacks %q", want)
			}
		}
		if s.flag != "" && !strings.Contains(u, "--"+s.flag) {
			t.Errorf("Usage lacks --%s", s.flag)
		}
	}
	for _, want := range []string{"127.0.0.1:8080", "60/1m", "720h", "19456", "KAIIN_CONFIG", "--config"} {
		if !strings.Contains(u, want) {
			t.Errorf("Usage lacks the default %q", want)
		}
	}
}

// TestTable checks the table itself: unique names, derived env names, and
// every Config field reachable through exactly one setting.
func TestTable(t *testing.T) {
	envs, flags := map[string]bool{}, map[string]bool{}
	var c Config
	fields := map[uintptr]string{}
	for _, s := range settings {
		if envs[s.env()] || (s.flag != "" && flags[s.flag]) {
			t.Errorf("%s: environment variable or flag used twice", s.key)
		}
		envs[s.env()], flags[s.flag] = true, true
		if s.desc == "" {
			t.Errorf("%s has no description", s.key)
		}
		p := reflect.ValueOf(s.field(&c)).Pointer()
		if other, dup := fields[p]; dup {
			t.Errorf("%s and %s set the same field", s.key, other)
		}
		fields[p] = s.key
	}
	if byKey["rate_limit.signin_ip"].env() != "KAIIN_RATE_LIMIT_SIGNIN_IP" || byKey["password.hash_memory_kib"].env() != "KAIIN_PASSWORD_HASH_MEMORY_KIB" {
		t.Error("environment names are not derived as documented")
	}
	// Every leaf field of Config, but ConfigFile (set by Load), needs a row.
	var walk func(v reflect.Value, name string)
	walk = func(v reflect.Value, name string) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if sf.Name == "ConfigFile" {
				continue
			}
			if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(Rate{}) {
				walk(f, name+sf.Name+".")
				continue
			}
			if _, ok := fields[f.Addr().Pointer()]; !ok {
				t.Errorf("Config.%s%s has no setting", name, sf.Name)
			}
		}
	}
	walk(reflect.ValueOf(&c).Elem(), "")
}

// testKEK is the base64 of 32 bytes (0x00…0x1f); testKEKURL and
// testKEKStd are 32 bytes of 0xfb 0xff in the URL and standard alphabets.
const (
	testKEK    = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	testKEKURL = "-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8="
	testKEKStd = "+//7//v/+//7//v/+//7//v/+//7//v/+//7//v/+/8="
)

func TestKEK(t *testing.T) {
	cfg, errs, _ := load(t, "keys:\n  kek_file: /run/secrets/kek\n", nil)
	if errs != nil || cfg.Keys.KEKFile != "/run/secrets/kek" || cfg.Keys.KEK != "" {
		t.Fatalf("kek_file: %+v (%v)", cfg.Keys, errs)
	}
	cfg, errs, _ = load(t, "", []string{"KAIIN_KEYS_KEK=" + testKEK})
	if errs != nil || cfg.Keys.KEK != testKEK {
		t.Fatalf("kek from env: %v", errs)
	}

	_, errs, _ = load(t, "keys:\n  kek_file: /run/secrets/kek\n", []string{"KAIIN_KEYS_KEK=" + testKEK})
	if len(errs) != 1 || errs[0].Key != "keys.kek_file" || !strings.Contains(errs[0].Msg, "together with keys.kek (from KAIIN_KEYS_KEK)") {
		t.Fatalf("both set: %v", errs)
	}
	if strings.Contains(errs.Error(), testKEK) {
		t.Errorf("error shows the KEK: %v", errs)
	}

	c := Default()
	c.Keys = Keys{KEK: testKEK, KEKFile: "/k"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "keys.kek_file") {
		t.Errorf("Validate with both = %v", err)
	}
}

func TestParseKEK(t *testing.T) {
	want := make([]byte, 32)
	for i := range want {
		want[i] = byte(i)
	}
	for _, in := range []string{testKEK, strings.TrimRight(testKEK, "="), "\t" + testKEK + "\r\n"} {
		got, err := ParseKEK(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ParseKEK(%q) = %x, %v", in, got, err)
		}
	}
	fbff := bytes.Repeat([]byte{0xfb, 0xff}, 16)
	for _, in := range []string{testKEKURL, testKEKStd, strings.TrimRight(testKEKURL, "=")} {
		if got, err := ParseKEK(in); err != nil || !bytes.Equal(got, fbff) {
			t.Errorf("ParseKEK(%q) = %x, %v", in, got, err)
		}
	}
	for in, msg := range map[string]string{
		"":                    "empty",
		"%%%":                 "not base64",
		"c2hvcnQ=":            "decodes to 5 bytes; want exactly 32",
		testKEK[:40] + "AAAA": "decodes to 33 bytes",
	} {
		_, err := ParseKEK(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseKEK(%q) = %v, want %q", in, err, msg)
		}
		if in != "" && err != nil && strings.Contains(err.Error(), in) {
			t.Errorf("ParseKEK(%q) error quotes its input: %v", in, err)
		}
	}
}
