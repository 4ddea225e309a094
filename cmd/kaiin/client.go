package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kaiin-project/kaiin/internal/app"
	"github.com/kaiin-project/kaiin/internal/oidc"
	"github.com/kaiin-project/kaiin/internal/store"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// specFlags are the flags that describe a client.
type specFlags struct {
	name, authMethod, signingAlg, jwksFile  string
	redirects, postLogout, grants, scopes   stringList
	public, native, skipConsent, requireMFA bool
}

func (f *specFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "the service's name, shown to members")
	fs.Var(&f.redirects, "redirect-uri", "a redirect URI, matched exactly (repeatable)")
	fs.Var(&f.postLogout, "post-logout-redirect-uri", "a URI to return to after sign-out (repeatable)")
	fs.Var(&f.grants, "grant-type", "authorization_code, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:device_code (repeatable; default: authorization_code and refresh_token)")
	fs.Var(&f.scopes, "scope", "a scope the client may receive (repeatable; default: openid profile email [offline_access])")
	fs.BoolVar(&f.public, "public", false, "a public client (app or SPA): no secret, PKCE required")
	fs.BoolVar(&f.native, "native", false, "a native app: loopback redirects with any port, private URI schemes")
	fs.BoolVar(&f.skipConsent, "skip-consent", false, "a first-party service: members are not asked for consent")
	fs.BoolVar(&f.requireMFA, "require-mfa", false, "members signing in to this service need a second factor")
	fs.StringVar(&f.authMethod, "auth-method", "", "client_secret_basic (default), client_secret_post, private_key_jwt or none")
	fs.StringVar(&f.signingAlg, "signing-alg", "", "ID token signature: ES256 (default) or RS256")
	fs.StringVar(&f.jwksFile, "jwks-file", "", "the client's public keys (JWK Set JSON) for private_key_jwt")
}

// apply copies the flags that were set onto spec.
func (f *specFlags) apply(fs *flag.FlagSet, s *oidc.ClientSpec) error {
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "name":
			s.Name = f.name
		case "redirect-uri":
			s.RedirectURIs = f.redirects
		case "post-logout-redirect-uri":
			s.PostLogoutRedirectURIs = f.postLogout
		case "grant-type":
			s.GrantTypes = f.grants
		case "scope":
			s.Scopes = f.scopes
		case "public":
			s.Public = f.public
		case "native":
			s.ApplicationType = map[bool]string{true: "native", false: "web"}[f.native]
		case "skip-consent":
			s.SkipConsent = f.skipConsent
		case "require-mfa":
			s.RequireMFA = f.requireMFA
		case "auth-method":
			s.AuthMethod = f.authMethod
		case "signing-alg":
			s.SigningAlg = f.signingAlg
		case "jwks-file":
			var b []byte
			if b, err = os.ReadFile(f.jwksFile); err == nil {
				s.JWKS = b
			}
		}
	})
	return err
}

func clientCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"admin client: expected create, list, show, update, delete or rotate-secret"}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "create", "list", "show", "update", "delete", "rotate-secret":
	default:
		return usageError{fmt.Sprintf("admin client: unknown command %q; expected create, list, show, update, delete or rotate-secret", sub)}
	}
	// The client ID comes first: "kaiin admin client update ID --name N".
	id := ""
	if sub != "create" && sub != "list" {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return usageError{fmt.Sprintf("admin client %s: the client ID comes first", sub)}
		}
		id, args = args[0], args[1:]
	}
	var sf specFlags
	var output string
	cfg, fs, err := loadConfig("admin client "+sub, args, stderr, func(fs *flag.FlagSet) {
		if sub == "create" || sub == "update" {
			sf.register(fs)
		}
		fs.StringVar(&output, "output", "text", "output format: text or json")
	})
	if err != nil {
		return err
	}
	if output != "text" && output != "json" {
		return usageError{fmt.Sprintf("--output %q is not allowed; use text or json", output)}
	}
	log := newLogger(cfg, stderr)
	d, err := app.OpenData(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	sealer, err := app.NewSealer(cfg)
	if err != nil {
		return err
	}
	key, err := app.ClientSecretKey(ctx, d.Store, sealer)
	if err != nil {
		return err
	}
	clients := &oidc.Clients{Store: d.Store, SecretKey: key}
	show := func(c store.Client, secret string) error {
		if output == "json" {
			out := map[string]any{"client_id": c.ID, "client": oidc.Spec(c), "created_at": c.CreatedAt, "updated_at": c.UpdatedAt}
			if secret != "" {
				out["client_secret"] = secret
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		fmt.Fprintf(stdout, "client_id:     %s\nname:          %s\nauth method:   %s\ngrant types:   %s\nscopes:        %s\nredirect URIs: %s\n",
			c.ID, c.Name, c.AuthMethod, strings.Join(c.GrantTypes, " "), strings.Join(c.Scopes, " "), strings.Join(c.RedirectURIs, " "))
		if secret != "" {
			fmt.Fprintf(stdout, "client_secret: %s\n(shown once: store it now)\n", secret)
		}
		return nil
	}
	switch sub {
	case "create":
		var s oidc.ClientSpec
		if err := sf.apply(fs, &s); err != nil {
			return err
		}
		c, secret, err := clients.Create(ctx, s)
		if err != nil {
			return err
		}
		return show(c, secret)
	case "list":
		list, err := d.Store.ListClients(ctx)
		if err != nil {
			return err
		}
		if output == "json" {
			out := []map[string]any{}
			for _, c := range list {
				out = append(out, map[string]any{"client_id": c.ID, "client": oidc.Spec(c)})
			}
			return json.NewEncoder(stdout).Encode(out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tAUTH METHOD\tGRANT TYPES")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Name, c.AuthMethod, strings.Join(c.GrantTypes, " "))
		}
		return tw.Flush()
	case "show":
		c, err := d.Store.GetClient(ctx, id)
		if err != nil {
			return notFoundErr(err, id)
		}
		return show(c, "")
	case "update":
		var ferr error
		c, err := clients.Update(ctx, id, func(s *oidc.ClientSpec) { ferr = sf.apply(fs, s) })
		if ferr != nil {
			return ferr
		}
		if err != nil {
			return notFoundErr(err, id)
		}
		return show(c, "")
	case "delete":
		if err := clients.Delete(ctx, id); err != nil {
			return notFoundErr(err, id)
		}
		fmt.Fprintf(stdout, "deleted client %s\n", id)
		return nil
	case "rotate-secret":
		secret, err := clients.RotateSecret(ctx, id)
		if err != nil {
			return notFoundErr(err, id)
		}
		c, err := d.Store.GetClient(ctx, id)
		if err != nil {
			return err
		}
		return show(c, secret)
	}
	return nil
}

func notFoundErr(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no client with ID %q", id)
	}
	return err
}
