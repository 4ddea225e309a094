// Package app wires Kaiin together from its configuration: it opens the
// durable store and the hot state, migrates them, and builds the services
// and the HTTP server. cmd/kaiin and the end-to-end tests use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kaiin-project/kaiin/internal/account"
	"github.com/kaiin-project/kaiin/internal/adminapi"
	"github.com/kaiin-project/kaiin/internal/config"
	"github.com/kaiin-project/kaiin/internal/keys"
	"github.com/kaiin-project/kaiin/internal/mail"
	"github.com/kaiin-project/kaiin/internal/member"
	"github.com/kaiin-project/kaiin/internal/memberapi"
	"github.com/kaiin-project/kaiin/internal/mfa"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/passkey"
	"github.com/kaiin-project/kaiin/internal/password"
	"github.com/kaiin-project/kaiin/internal/ratelimit"
	"github.com/kaiin-project/kaiin/internal/server"
	"github.com/kaiin-project/kaiin/internal/session"
	"github.com/kaiin-project/kaiin/internal/sqldb"
	"github.com/kaiin-project/kaiin/internal/state"
	"github.com/kaiin-project/kaiin/internal/state/redisstate"
	"github.com/kaiin-project/kaiin/internal/state/sqlstate"
	"github.com/kaiin-project/kaiin/internal/store"
	"github.com/kaiin-project/kaiin/internal/store/sqlstore"
	"github.com/kaiin-project/kaiin/internal/web"
)

// Data is the opened storage: the SQL database behind the durable store,
// the durable store, and the hot state (SQL tables or Redis).
type Data struct {
	DB    *sqldb.DB
	Store store.Store
	State state.State
	// sqlState is set when the hot state lives in the database; its
	// expired rows need collecting.
	sqlState *sqlstate.State
}

// Close releases the storage.
func (d *Data) Close() error {
	var errs []error
	if d.State != nil {
		errs = append(errs, d.State.Close())
	}
	if d.Store != nil {
		errs = append(errs, d.Store.Close())
	}
	if d.DB != nil {
		errs = append(errs, d.DB.Close())
	}
	return errors.Join(errs...)
}

// openDB opens the configured SQL database.
func openDB(ctx context.Context, cfg config.Config) (*sqldb.DB, error) {
	if cfg.DatabaseURL != "" {
		return sqldb.OpenPostgres(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	}
	return sqldb.OpenSQLite(ctx, cfg.SQLitePath())
}

// Migrate applies every pending migration of the durable store and, when
// the hot state lives in the database, of its tables.
func Migrate(ctx context.Context, cfg config.Config) (applied int, err error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return migrate(ctx, cfg, db)
}

func migrate(ctx context.Context, cfg config.Config, db *sqldb.DB) (int, error) {
	n, err := sqlstore.Migrate(ctx, db)
	if err != nil {
		return n, fmt.Errorf("migrate durable store: %w", err)
	}
	if cfg.RedisURL == "" {
		m, err := sqlstate.Migrate(ctx, db)
		n += m
		if err != nil {
			return n, fmt.Errorf("migrate hot state: %w", err)
		}
	}
	return n, nil
}

func pending(ctx context.Context, cfg config.Config, db *sqldb.DB) (int, error) {
	n, err := sqlstore.Pending(ctx, db)
	if err != nil || cfg.RedisURL != "" {
		return n, err
	}
	m, err := sqlstate.Pending(ctx, db)
	return n + m, err
}

// OpenData opens the storage. With cfg.AutoMigrate it migrates first;
// without, it refuses to go on while migrations are pending.
func OpenData(ctx context.Context, cfg config.Config, log *slog.Logger) (*Data, error) {
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	d := &Data{DB: db}
	if cfg.AutoMigrate {
		n, err := migrate(ctx, cfg, db)
		if err != nil {
			d.Close()
			return nil, err
		}
		if n > 0 {
			log.Info("database migrated", "applied", n)
		}
	} else if n, err := pending(ctx, cfg, db); err != nil {
		d.Close()
		return nil, fmt.Errorf("check migrations: %w", err)
	} else if n > 0 {
		d.Close()
		return nil, fmt.Errorf("%d database migrations are pending and auto_migrate is off: run `kaiin migrate` first", n)
	}
	d.Store = sqlstore.New(db)
	if cfg.RedisURL != "" {
		opts, err := redisstate.ParseURL(cfg.RedisURL)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		rs, err := redisstate.New(opts)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("connect to redis: %w", err)
		}
		d.State = rs
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := rs.Ping(pctx); err != nil {
			d.Close()
			return nil, fmt.Errorf("connect to redis: %w", err)
		}
	} else {
		d.sqlState = sqlstate.New(db)
		d.State = d.sqlState
	}
	return d, nil
}

// NewHasher builds the password hasher from the configuration.
func NewHasher(cfg config.Config, reg prometheus.Registerer) (*password.Hasher, error) {
	p := cfg.Password
	return password.NewHasher(password.Options{
		Params: password.Params{Memory: uint32(p.HashMemoryKiB), Iterations: uint32(p.HashIterations),
			Parallelism: uint8(p.HashParallelism)},
		MaxConcurrent: p.MaxConcurrentHashes,
		MaxQueue:      p.HashQueue,
		QueueTimeout:  p.HashQueueTimeout,
		Registerer:    reg,
	})
}

// NewPolicy builds the password policy with the bundled blocklist.
func NewPolicy(cfg config.Config) (password.Policy, error) {
	bl, err := password.LoadBlocklist()
	if err != nil {
		return password.Policy{}, fmt.Errorf("load password blocklist: %w", err)
	}
	return password.Policy{MinLength: cfg.Password.MinLength, MaxLength: cfg.Password.MaxLength, Blocklist: bl}, nil
}

// App is a running Kaiin node.
type App struct {
	Config   config.Config
	Logger   *slog.Logger
	Data     *Data
	Hasher   *password.Hasher
	Accounts *account.Service
	Sessions *session.Manager
	Outbox   *mail.Outbox // nil unless in development mode
	Mail     *mail.Queue
	Registry *prometheus.Registry
	Server   *server.Server
	Keys     *keys.Manager
	OIDC     *oidc.Provider
	Clients  *oidc.Clients
	MFA      *mfa.Service
	Members  *member.Service

	stop context.CancelFunc
	done chan struct{}
}

// New opens the storage and builds a node. Close releases it.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	d, err := OpenData(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a, err := build(ctx, cfg, log, d)
	if err != nil {
		d.Close()
		return nil, err
	}
	return a, nil
}

func build(ctx context.Context, cfg config.Config, log *slog.Logger, d *Data) (*App, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(d.DB.DB, string(d.DB.Dialect)))

	hasher, err := NewHasher(cfg, reg)
	if err != nil {
		return nil, fmt.Errorf("password hasher: %w", err)
	}
	policy, err := NewPolicy(cfg)
	if err != nil {
		return nil, err
	}
	sealer, err := NewSealer(cfg)
	if err != nil {
		return nil, err
	}
	limitKey, err := ServerSecret(ctx, d.Store, sealer, secretRateLimit)
	if err != nil {
		return nil, err
	}

	a := &App{Config: cfg, Logger: log, Data: d, Hasher: hasher, Registry: reg, done: make(chan struct{})}
	var sender mail.Sender
	if cfg.SMTP.Host != "" {
		sender = mail.NewSMTP(mail.SMTPConfig{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username,
			Password: cfg.SMTP.Password, From: cfg.SMTP.From, TLS: cfg.SMTP.TLS, Timeout: 30 * time.Second})
	}
	if sender == nil {
		if !cfg.DevMode() {
			return nil, errors.New("no mail sender: set smtp.host, or dev_mode for the dev outbox")
		}
		a.Outbox = mail.NewOutbox(200, log)
		sender = a.Outbox
	}
	if cfg.DevMode() && cfg.DatabaseURL != "" {
		log.Warn("development mode on a shared database: the dev outbox page shows every member's mail")
	}
	a.Mail = mail.NewQueue(sender, mail.QueueOptions{Size: 10000, Workers: 4, Retries: 5, Backoff: 2 * time.Second, Logger: log})

	a.Sessions = &session.Manager{State: d.State, Idle: cfg.Session.IdleTimeout, Absolute: cfg.Session.AbsoluteTimeout, Secure: cfg.HTTPS()}
	rl := cfg.RateLimit
	a.Accounts = &account.Service{
		Store: d.Store, State: d.State, Hasher: hasher, Policy: policy,
		Limiter: ratelimit.New(d.State, limitKey),
		Limits: account.Limits{SignInIP: rate(rl.SigninIP), SignInAccount: rate(rl.SigninAccount),
			RegisterIP: rate(rl.RegisterIP), RegisterAccount: rate(rl.RegisterAccount), ResetIP: rate(rl.ResetIP), ResetAccount: rate(rl.ResetAccount)},
		Mailer: a.Mail, PublicURL: cfg.PublicURL, Logger: log,
	}
	pages := &web.Handler{Accounts: a.Accounts, Sessions: a.Sessions, Store: d.Store, Logger: log,
		MinLength: cfg.Password.MinLength, MaxLength: cfg.Password.MaxLength, RetryAfter: hasher.RetryAfter}
	if a.Outbox != nil {
		pages.Outbox = a.Outbox
	}

	indexKey, err := ServerSecret(ctx, d.Store, sealer, secretBlindIndex)
	if err != nil {
		return nil, err
	}
	index, err := member.NewBlindIndex(indexKey)
	if err != nil {
		return nil, err
	}
	a.Members = &member.Service{Store: d.Store, Vault: &member.Vault{Sealer: sealer, Cache: member.NewDEKCache(0, 0)}, Index: index}
	pages.Members = a.Members

	// The OpenID provider: signing keys sealed under the KEK, client
	// secrets hashed under a server key.
	a.Keys, err = NewKeyManager(ctx, cfg, d.Store, sealer, log)
	if err != nil {
		return nil, err
	}
	clientKey, err := ClientSecretKey(ctx, d.Store, sealer)
	if err != nil {
		return nil, err
	}
	a.OIDC, err = oidc.New(oidc.Options{Issuer: cfg.PublicURL, Store: d.Store, State: d.State,
		Keys: oidc.ManagedKeys{Manager: a.Keys}, SecretKey: clientKey, Logger: log, Profiles: a.Members,
		Lifetimes: oidc.Lifetimes{AuthRequest: cfg.OIDC.AuthRequestLifetime, Code: cfg.OIDC.CodeLifetime,
			AccessToken: cfg.OIDC.AccessTokenLifetime, IDToken: cfg.OIDC.IDTokenLifetime, RefreshToken: cfg.OIDC.RefreshTokenLifetime},
		SessionUser: pages.SessionUser, EndSession: pages.EndSession, ErrorPage: pages.ErrorPage, RequireMFA: cfg.MFA.Required})
	if err != nil {
		return nil, err
	}
	a.Clients = &oidc.Clients{Store: d.Store, SecretKey: clientKey, Changed: a.OIDC.ForgetClient}
	a.Sessions.OnEnd = a.OIDC.SessionEnded
	pages.OIDC = a.OIDC
	recoveryKey, err := ServerSecret(ctx, d.Store, sealer, secretRecovery)
	if err != nil {
		return nil, err
	}
	a.MFA = &mfa.Service{Store: d.Store, State: d.State, Sealer: sealer, RecoveryKey: recoveryKey,
		Limiter: ratelimit.New(d.State, limitKey)}
	if err := a.MFA.Validate(); err != nil {
		return nil, err
	}
	pages.MFA = a.MFA
	passkeys, err := passkey.New(passkey.Options{PublicURL: cfg.PublicURL, Store: d.Store, State: d.State, Limiter: ratelimit.New(d.State, limitKey), Logger: log,
		SessionUser: pages.SessionUser, CheckPassword: a.Accounts.CheckPassword, Notify: a.Accounts.NotifyMFAChange, SignedIn: pages.SignedIn, ErrorPage: pages.ErrorPage,
		PendingSecondFactor: pages.PendingSecondFactor, TakeSecondFactor: pages.TakeSecondFactor, RemoveFactor: a.MFA.RemoveFactor,
		ClientIP: func(r *http.Request) string { return pages.ClientIP(r) }})
	if err != nil && !errors.Is(err, passkey.ErrDisabled) {
		return nil, err
	}
	members := &memberapi.Handler{Verifier: a.OIDC, Members: a.Members, Store: d.Store, Logger: log}
	admin := &adminapi.Handler{Verifier: a.OIDC, Clients: a.Clients, Store: d.Store, Logger: log, RequestID: server.RequestID}

	a.Server, err = server.New(server.Options{
		HTTPS: cfg.HTTPS(), TrustedProxies: cfg.TrustedProxies, Logger: log, Registry: reg,
		Ready:             map[string]func(context.Context) error{"database": d.Store.Ping, "hot_state": d.State.Ping},
		Mount:             []func(*http.ServeMux){a.OIDC.Mount, admin.Mount, passkeys.Mount, members.Mount},
		CrossOriginBypass: slices.Concat(oidc.BypassCrossOrigin, adminapi.BypassCrossOrigin, memberapi.BypassCrossOrigin),
	}, pages)
	if err != nil {
		return nil, err
	}

	bg, stop := context.WithCancel(context.Background())
	a.stop = stop
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.Keys.Run(bg, time.Minute) }()
	if d.sqlState != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.sqlState.RunGC(bg, time.Minute) }()
	}
	go func() { wg.Wait(); close(a.done) }()
	return a, nil
}

// NewKeyManager loads the key-encryption key and makes sure signing keys
// exist (the first start creates them).
func NewKeyManager(ctx context.Context, cfg config.Config, s store.Store, sealer *keys.Sealer, log *slog.Logger) (*keys.Manager, error) {
	m := &keys.Manager{Store: s, Sealer: sealer, Logger: log, Algorithms: cfg.Keys.Algorithms}
	if err := m.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return m, nil
}

func rate(r config.Rate) ratelimit.Rate { return ratelimit.Rate{N: r.N, Per: r.Per} }

// Serve serves HTTP on ln until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	return a.Server.Serve(ctx, ln, a.Config.ShutdownTimeout)
}

// Close stops background work, delivers queued mail (until ctx ends), and
// releases the storage.
func (a *App) Close(ctx context.Context) error {
	a.stop()
	<-a.done
	err := a.Mail.Close(ctx)
	return errors.Join(err, a.Data.Close())
}
