// Package apptest starts whole Kaiin nodes for end-to-end tests: on
// embedded SQLite, or on a fresh PostgreSQL database with Redis as the hot
// state, listening on a loopback port.
package apptest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/kaiin-project/kaiin/internal/app"
	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/mail"
)

// Backend selects the storage of a test node.
type Backend string

const (
	SQLite        Backend = "sqlite"
	PostgresRedis Backend = "postgres+redis"
)

// Backends lists every backend, for tests that run on each.
var Backends = []Backend{SQLite, PostgresRedis}

// Node is a running Kaiin node.
type Node struct {
	URL string
	App *app.App
}

// PostgresURL is the server the tests use (KAIIN_TEST_POSTGRES_URL).
func PostgresURL() string {
	if u := os.Getenv("KAIIN_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the server the tests use (KAIIN_TEST_REDIS_URL).
func RedisURL() string {
	if u := os.Getenv("KAIIN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// NewPostgresDatabase creates an empty database for one test and drops it
// afterwards; it returns its URL. A missing server fails the test.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		t.Fatalf("PostgreSQL is not reachable at KAIIN_TEST_POSTGRES_URL (%v); run scripts/test-services", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "kaiin_app_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, _ := url.Parse(PostgresURL())
	u.Path = "/" + name
	return u.String()
}

// Config returns a test configuration for backend: a temporary data
// directory, development mode (mail in the outbox), and generous rate
// limits unless the test sets its own.
func Config(t testing.TB, backend Backend) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	dev := true
	cfg.Dev = &dev
	cfg.ShutdownTimeout = 5 * time.Second
	// RSA keys take a while to make; tests that need RS256 ask for it.
	cfg.Keys.Algorithms = []string{"ES256"}
	if backend == PostgresRedis {
		cfg.DatabaseURL = NewPostgresDatabase(t)
		cfg.DatabaseMaxConns = 10
		cfg.RedisURL = RedisURL()
		// Nodes on a shared database share a configured KEK.
		var kek [32]byte
		_, _ = rand.Read(kek[:])
		cfg.Keys.KEK = base64.StdEncoding.EncodeToString(kek[:])
	}
	return cfg
}

// Start runs a node with cfg (from Config, possibly changed) on a free
// loopback port and stops it when the test ends. Logs go to the test log
// only with -v; set log to capture them.
func Start(t testing.TB, cfg config.Config, log io.Writer) *Node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = ln.Addr().String()
	// A PublicURL on localhost (any port) stays on localhost: WebAuthn
	// (passkeys) needs a domain name, never an IP address.
	if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() == "localhost" {
		cfg.PublicURL = "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	} else {
		cfg.PublicURL = "http://" + cfg.Addr
	}
	if log == nil {
		log = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("start kaiin: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		if err := a.Close(cctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &Node{URL: cfg.PublicURL, App: a}
}

var linkRE = regexp.MustCompile(`https?://\S+`)

// WaitMail waits (up to 10 s) for a mail to to arrive in the outbox after
// the n-th one already there, and returns it.
func (n *Node) WaitMail(t testing.TB, to string, after int) mail.Stored {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var mine []mail.Stored
		for _, m := range n.App.Outbox.List() {
			if m.To == to {
				mine = append(mine, m)
			}
		}
		if len(mine) > after {
			return mine[0] // newest first
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail #%d to %s within 10s", after+1, to)
	return mail.Stored{}
}

// CountMail returns how many mails to has received.
func (n *Node) CountMail(to string) int {
	c := 0
	for _, m := range n.App.Outbox.List() {
		if m.To == to {
			c++
		}
	}
	return c
}

// Link returns the first link in a mail that starts with prefix.
func Link(t testing.TB, m mail.Stored, prefix string) string {
	t.Helper()
	for _, l := range linkRE.FindAllString(m.Text, -1) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no link starting with %s in mail %q", prefix, m.Subject)
	return ""
}

// WaitLink waits (up to 10 s) for a mail to to holding a link that starts
// with prefix, and returns the link from the newest such mail. Unlike
// WaitMail it does not depend on the order other mail arrives in.
func (n *Node) WaitLink(t testing.TB, to, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range n.App.Outbox.List() { // newest first
			if m.To != to {
				continue
			}
			for _, l := range linkRE.FindAllString(m.Text, -1) {
				if strings.HasPrefix(l, prefix) {
					return l
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail to %s with a link to %s within 10s", to, prefix)
	return ""
}

// WaitSubject waits (up to 10 s) for a mail to to with this subject.
func (n *Node) WaitSubject(t testing.TB, to, subject string) mail.Stored {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range n.App.Outbox.List() {
			if m.To == to && m.Subject == subject {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no mail to %s with subject %q within 10s", to, subject)
	return mail.Stored{}
}
