// Command kaiin is Kaiin's one binary: the server, migrations, and the
// operator commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Kaiin — membership and authentication platform

Usage:
  kaiin serve [flags]                      run the server (embedded SQLite by default)
  kaiin gateway [flags]                    run the API gateway (gateway.routes_file)
  kaiin migrate [flags]                    apply database migrations
  kaiin admin user create --email E --password-stdin [--verified] [--admin] [flags]
                                           create a member without a mailbox
  kaiin admin create-admin --email E --password-stdin [flags]
                                           create a verified administrator
  kaiin admin client create --name N --redirect-uri U [--public] [--grant-type T …] [--scope S …] [--output json]
  kaiin admin client list|show ID|update ID [flags]|delete ID|rotate-secret ID
                                           manage OpenID Connect clients
  kaiin admin route put NAME --path-prefix P --upstream U [flags] | list | delete NAME
                                           manage the gateway's routes
  kaiin admin keys list|rotate [--alg ES256|RS256]
                                           show or rotate the token signing keys
  kaiin errors [--lang en|ja]              print the catalogue of error codes
  kaiin version                            print the version

Run "kaiin serve --help" for the flags and every configuration key.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command and returns the exit code: 0 success, 1
// failure, 2 misuse.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "gateway":
		err = gatewayCmd(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(ctx, args[1:], stdout, stderr)
	case "admin":
		err = admin(ctx, args[1:], stdin, stdout, stderr)
	case "errors":
		err = errorsCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "kaiin", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "kaiin: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "kaiin:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "kaiin:", err)
		return 1
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
