package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kaiin-project/kaiin/internal/account"
	"github.com/kaiin-project/kaiin/internal/app"
	"github.com/kaiin-project/kaiin/internal/errcode"
	"github.com/kaiin-project/kaiin/internal/i18n"
)

func admin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch {
	case len(args) >= 2 && args[0] == "user" && args[1] == "create":
		return createUser(ctx, "admin user create", args[2:], false, stdin, stdout, stderr)
	case len(args) >= 1 && args[0] == "route":
		return routeCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "keys":
		return keysCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "client":
		return clientCmd(ctx, args[1:], stdout, stderr)
	case len(args) >= 1 && args[0] == "create-admin":
		return createUser(ctx, "admin create-admin", args[1:], true, stdin, stdout, stderr)
	}
	return usageError{"admin: expected \"user create\", \"create-admin\" or \"client …\"; see kaiin help"}
}

func createUser(ctx context.Context, name string, args []string, asAdmin bool, stdin io.Reader, stdout, stderr io.Writer) error {
	var email, output string
	var pwStdin, verified, isAdmin bool
	cfg, _, err := loadConfig(name, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the member's email address (required)")
		fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
		if !asAdmin {
			fs.BoolVar(&verified, "verified", false, "mark the email address as verified")
			fs.BoolVar(&isAdmin, "admin", false, "make the member an administrator")
		}
		fs.StringVar(&output, "output", "text", "output format: text or json")
	})
	if err != nil {
		return err
	}
	if asAdmin {
		verified, isAdmin = true, true
	}
	switch {
	case email == "":
		return usageError{name + ": --email is required"}
	case !pwStdin:
		return usageError{name + ": --password-stdin is required (passwords are never taken as arguments: they would show in the process list)"}
	case output != "text" && output != "json":
		return usageError{fmt.Sprintf("%s: --output %q is not allowed; use text or json", name, output)}
	}
	pw, err := readPassword(stdin)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	d, err := app.OpenData(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	hasher, err := app.NewHasher(cfg, nil)
	if err != nil {
		return err
	}
	policy, err := app.NewPolicy(cfg)
	if err != nil {
		return err
	}
	svc := &account.Service{Store: d.Store, State: d.State, Hasher: hasher, Policy: policy, Logger: log}
	u, err := svc.CreateUser(ctx, email, pw, verified, isAdmin)
	if err != nil {
		return cliError(err)
	}
	if output == "json" {
		return json.NewEncoder(stdout).Encode(map[string]any{"id": u.ID, "email": u.Email, "email_verified": u.EmailVerified, "admin": u.Admin})
	}
	fmt.Fprintf(stdout, "created member %s (%s)\n", u.ID, u.Email)
	return nil
}

// readPassword reads one line, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageError{"no password on standard input"}
	}
	return line, nil
}

// cliLang is the operator's language from the locale environment.
func cliLang() i18n.Lang {
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := os.Getenv(k); v != "" {
			if strings.HasPrefix(v, "ja") {
				return i18n.JA
			}
			return i18n.EN
		}
	}
	return i18n.EN
}

// cliError shows a coded error with its text in the operator's language.
func cliError(err error) error {
	if e, ok := errcode.As(err); ok {
		if e.Err != nil && e.Code == errcode.Internal {
			return fmt.Errorf("%s: %s (%v)", e.Code.ID, e.Text(string(cliLang())), e.Err)
		}
		return fmt.Errorf("%s: %s", e.Code.ID, e.Text(string(cliLang())))
	}
	return err
}

func errorsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kaiin errors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "", "language of the texts: en or ja (default: both)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *lang != "" && *lang != "en" && *lang != "ja" {
		return usageError{fmt.Sprintf("errors: --lang %q is not allowed; use en or ja", *lang)}
	}
	all := errcode.All()
	if *asJSON {
		type entry struct {
			Code   string `json:"code"`
			Status int    `json:"http_status"`
			EN     string `json:"en,omitempty"`
			JA     string `json:"ja,omitempty"`
		}
		var out []entry
		for _, c := range all {
			e := entry{Code: c.ID, Status: c.Status}
			if *lang != "ja" {
				e.EN = c.EN
			}
			if *lang != "en" {
				e.JA = c.JA
			}
			out = append(out, e)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, c := range all {
		fmt.Fprintf(stdout, "%s\t%d", c.ID, c.Status)
		if *lang != "ja" {
			fmt.Fprintf(stdout, "\t%s", c.EN)
		}
		if *lang != "en" {
			fmt.Fprintf(stdout, "\t%s", c.JA)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
