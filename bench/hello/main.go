// Command hello is the yardstick for bench/startup: a bare net/http server
// that answers 200 on /readyz and /healthz and does nothing else. It takes
// the same --addr flag as `kaiin serve` (other flags are ignored).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

func main() {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	fs.String("data-dir", "", "ignored")
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	_ = fs.Parse(args)
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	http.HandleFunc("GET /readyz", ok)
	http.HandleFunc("GET /healthz", ok)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
