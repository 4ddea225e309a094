package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/kaiin-project/kaiin/internal/app"
	"github.com/kaiin-project/kaiin/internal/config"
)

// loadConfig parses a subcommand's flags (with the configuration flags
// added) and loads the configuration.
func loadConfig(name string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("kaiin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: kaiin %s [flags]\n\nFlags:\n", name)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\n%s", config.Usage())
	}
	if err := fs.Parse(args); err != nil {
		return config.Config{}, fs, err
	}
	if fs.NArg() > 0 {
		return config.Config{}, fs, usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	cfg, err := config.Load(fs, environ())
	return cfg, fs, err
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.Level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("serve", args, stderr, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	app.TuneGC()
	// The protocol library logs through the default logger.
	slog.SetDefault(log)
	start := time.Now()
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(cctx)
		return fmt.Errorf("listen on %s (addr): %w", cfg.Addr, err)
	}
	backend := "sqlite"
	if cfg.DatabaseURL != "" {
		backend = "postgres"
	}
	hot := "database"
	if cfg.RedisURL != "" {
		hot = "redis"
	}
	log.Info("kaiin started", "version", version, "addr", ln.Addr().String(), "public_url", cfg.PublicURL,
		"database", backend, "hot_state", hot, "dev_mode", cfg.DevMode(), "startup_ms", time.Since(start).Milliseconds())
	fmt.Fprintf(stdout, "Kaiin is running at %s\n", cfg.PublicURL)
	if cfg.DevMode() {
		fmt.Fprintf(stdout, "Development mode: mail is not sent; read it at %s/dev/outbox\n", cfg.PublicURL)
	}
	if _, admins, err := a.Data.Store.CountUsers(ctx); err == nil && admins == 0 {
		fmt.Fprintf(stdout, "No administrator yet. Create one with:\n  kaiin admin create-admin --email you@example.com --password-stdin%s\n", dataFlags(cfg))
	}

	err = a.Serve(ctx, ln)
	log.Info("shutting down")
	cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if cerr := a.Close(cctx); cerr != nil {
		log.Error("shutdown incomplete", "err", cerr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

// dataFlags repeats the flags that locate the data, for printed commands.
func dataFlags(cfg config.Config) string {
	if cfg.ConfigFile != "" {
		return " --config " + cfg.ConfigFile
	}
	if cfg.DatabaseURL == "" && cfg.DataDir != config.Default().DataDir {
		return " --data-dir " + cfg.DataDir
	}
	return ""
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	n, err := app.Migrate(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migrations\n", n)
	return nil
}
