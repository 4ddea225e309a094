package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/kaiin-project/kaiin/internal/app"
)

// keysCmd runs "kaiin admin keys list|rotate".
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "rotate") {
		return usageError{"admin keys: expected list or rotate"}
	}
	sub := args[0]
	var alg, output string
	cfg, _, err := loadConfig("admin keys "+sub, args[1:], stderr, func(fs *flag.FlagSet) {
		if sub == "rotate" {
			fs.StringVar(&alg, "alg", "ES256", "the algorithm whose key to rotate: ES256 or RS256")
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
	m, err := app.NewKeyManager(ctx, cfg, d.Store, sealer, log)
	if err != nil {
		return err
	}
	if sub == "rotate" {
		if alg != "ES256" && alg != "RS256" {
			return usageError{fmt.Sprintf("--alg %q is not allowed; use ES256 or RS256", alg)}
		}
		if err := m.Rotate(ctx, alg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rotated the %s signing key: the published next key signs from now on\n", alg)
	}
	list, err := d.Store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	type row struct {
		ID           string    `json:"kid"`
		Alg          string    `json:"alg"`
		Created      time.Time `json:"created_at"`
		SignFrom     time.Time `json:"sign_from"`
		SignUntil    time.Time `json:"sign_until,omitzero"`
		PublishUntil time.Time `json:"publish_until,omitzero"`
	}
	var rows []row
	for _, k := range list {
		rows = append(rows, row{k.ID, k.Algorithm, k.CreatedAt, k.SignFrom, k.SignUntil, k.PublishUntil})
	}
	if output == "json" {
		return json.NewEncoder(stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tSIGNS FROM\tSIGNS UNTIL\tPUBLISHED UNTIL")
	show := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Alg, show(r.Created), show(r.SignFrom), show(r.SignUntil), show(r.PublishUntil))
	}
	return tw.Flush()
}
