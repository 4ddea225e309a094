//go:build ignore

// Command gen builds the password blocklist from word-list files. It is run
// by scripts/gen-blocklist.sh; see internal/password/blocklist/README.md.
//
// Each argument is a file: *.json files hold one JSON array of strings, any
// other file holds one entry per line. Every entry is normalised exactly as
// the password package does at lookup time (NFKC, then strings.ToLower),
// entries shorter than -min code points or holding control characters are
// dropped, and the rest are deduplicated, sorted bytewise and written to
// stdout one per line. Per-source counts go to stderr.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func main() {
	minLen := flag.Int("min", 8, "drop entries shorter than this many code points")
	flag.Parse()
	seen := make(map[string]struct{}, 1<<18)
	for _, path := range flag.Args() {
		entries, err := read(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		added := 0
		for _, e := range entries {
			k := strings.ToLower(norm.NFKC.String(strings.TrimSpace(e)))
			if utf8.RuneCountInString(k) < *minLen || !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
				continue
			}
			if _, ok := seen[k]; !ok {
				seen[k] = struct{}{}
				added++
			}
		}
		fmt.Fprintf(os.Stderr, "%-40s %7d read %7d new\n", filepath.Base(path), len(entries), added)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	w := bufio.NewWriter(os.Stdout)
	for _, k := range out {
		w.WriteString(k)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%-40s %7d\n", "total", len(out))
}

func read(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".json") {
		var list []string
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return list, nil
	}
	var list []string
	for line := range bytes.Lines(data) {
		list = append(list, string(bytes.TrimRight(line, "\r\n")))
	}
	return list, nil
}
