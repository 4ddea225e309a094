package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kaiin-project/kaiin/internal/app"
	"github.com/kaiin-project/kaiin/internal/gateway"
	"github.com/kaiin-project/kaiin/internal/store"
)

// routeCmd runs "kaiin admin route put|list|delete": the gateway's routes
// in the durable store, which every gateway node reloads within
// gateway.poll_interval.
func routeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "put" && args[0] != "list" && args[0] != "delete") {
		return usageError{"admin route: expected put, list or delete"}
	}
	sub, args := args[0], args[1:]
	name := ""
	if sub != "list" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError{fmt.Sprintf("admin route %s: the route name comes first", sub)}
		}
		name, args = args[0], args[1:]
	}
	var host, prefix, rate, timeout string
	var upstreams, scopes, clients stringList
	var anonymous, strip bool
	var retries int
	cfg, _, err := loadConfig("admin route "+sub, args, stderr, func(fs *flag.FlagSet) {
		if sub != "put" {
			return
		}
		fs.StringVar(&host, "host", "", "match this Host only (default: any)")
		fs.StringVar(&prefix, "path-prefix", "", "match paths under this prefix (required)")
		fs.Var(&upstreams, "upstream", "an upstream base URL (repeatable; required)")
		fs.BoolVar(&anonymous, "anonymous", false, "no token needed")
		fs.Var(&scopes, "scope", "a scope the token must have (repeatable)")
		fs.Var(&clients, "client", "a client allowed (repeatable; default any)")
		fs.StringVar(&rate, "rate-limit", "", "requests per client, N/duration (600/1m)")
		fs.StringVar(&timeout, "timeout", "", "upstream timeout (10s)")
		fs.IntVar(&retries, "retries", 0, "retries of idempotent requests on another upstream (0 or 1)")
		fs.BoolVar(&strip, "strip-prefix", false, "remove the prefix before proxying")
	})
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	d, err := app.OpenData(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	switch sub {
	case "put":
		spec, err := json.Marshal(map[string]any{"name": name, "host": host, "path_prefix": prefix, "upstreams": []string(upstreams),
			"anonymous": anonymous, "required_scopes": []string(scopes), "allowed_clients": []string(clients),
			"rate_limit": rate, "timeout": timeout, "retries": retries, "strip_prefix": strip})
		if err != nil {
			return err
		}
		// Check it alone, then with the others (a duplicate prefix, say).
		if _, err := gateway.ParseStoredRoutes([]store.StoredRoute{{Name: name, Spec: spec}}); err != nil {
			return err
		}
		rs, _, err := d.Store.ListRoutes(ctx)
		if err != nil {
			return err
		}
		rs = append(slicesDeleteRoute(rs, name), store.StoredRoute{Name: name, Spec: spec})
		if _, err := gateway.ParseStoredRoutes(rs); err != nil {
			return err
		}
		if err := d.Store.PutRoute(ctx, store.StoredRoute{Name: name, Spec: spec, UpdatedAt: time.Now()}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "route %s saved; gateways apply it within gateway.poll_interval\n", name)
	case "delete":
		if err := d.Store.DeleteRoute(ctx, name); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no route named %q", name)
			}
			return err
		}
		fmt.Fprintf(stdout, "route %s deleted\n", name)
	case "list":
		rs, v, err := d.Store.ListRoutes(ctx)
		if err != nil {
			return err
		}
		routes, err := gateway.ParseStoredRoutes(rs)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "NAME\tHOST\tPATH PREFIX\tUPSTREAMS\tSCOPES\t(version %d)\n", v)
		for _, r := range routes {
			h := r.Host
			if h == "" {
				h = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, h, r.PathPrefix, strings.Join(r.Upstreams, " "), strings.Join(r.RequiredScopes, " "))
		}
		return tw.Flush()
	}
	return nil
}

func slicesDeleteRoute(rs []store.StoredRoute, name string) []store.StoredRoute {
	out := rs[:0:0]
	for _, r := range rs {
		if r.Name != name {
			out = append(out, r)
		}
	}
	return out
}
