package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RegisterFlags defines --config and the flags of the settings that have
// one (--addr, --data-dir, --public-url, --database-url, --redis-url,
// --auto-migrate, --dev, --log-level) on fs. Load reads back only the flags
// the command line actually set, so a flag never overrides the file or the
// environment with its default.
func RegisterFlags(fs *flag.FlagSet) {
	fs.Var(&flagValue{}, "config", "YAML config `file` (env KAIIN_CONFIG); none means defaults and environment only")
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		v := &flagValue{}
		switch s.field(&Config{}).(type) {
		case *bool, **bool:
			v.isBool = true // so that a bare --dev means --dev=true
		}
		fs.Var(v, s.flag, s.desc+" (env "+s.env()+")")
	}
}

// flagValue keeps a flag's text as given; Load parses it like any other
// source, so flags, environment and file share one parser and one set of
// error messages.
type flagValue struct {
	v      string
	isBool bool
}

func (f *flagValue) String() string {
	if f == nil {
		return ""
	}
	return f.v
}
func (f *flagValue) Set(s string) error { f.v = s; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.isBool }

// Load builds the configuration from defaults, the YAML file named by
// --config or KAIIN_CONFIG (none means no file), the KAIIN_* variables in
// environ (as from os.Environ) and the flags set on fs, which RegisterFlags
// defined and the caller has parsed; fs may be nil. It reads
// smtp.password_file, derives public_url from addr when unset, and
// validates. The error, when not nil, is an Errors listing every problem.
func Load(fs *flag.FlagSet, environ []string) (Config, error) {
	l := loader{c: Default(), src: map[string]origin{}, failed: map[string]bool{}}
	env := envMap(environ)

	path, pathSrc := env["KAIIN_CONFIG"], "KAIIN_CONFIG"
	if f := setFlag(fs, "config"); f != nil {
		path, pathSrc = f.Value.String(), "--config"
	}
	if path != "" {
		l.c.ConfigFile = path
		l.file(path, pathSrc)
	}

	for _, name := range slices.Sorted(maps.Keys(env)) {
		if !strings.HasPrefix(name, "KAIIN_") || name == "KAIIN_CONFIG" || strings.HasPrefix(name, "KAIIN_TEST_") {
			continue
		}
		s := byEnv[name]
		if s == nil {
			l.errs = append(l.errs, FieldError{Key: name, Source: "environment",
				Msg: "is not a Kaiin setting" + suggest(name, slices.Collect(maps.Keys(byEnv))) + " (every KAIIN_ variable must be one; see kaiin serve --help)"})
			continue
		}
		l.apply(s, env[name], name)
	}

	if fs != nil {
		fs.Visit(func(f *flag.Flag) {
			if s := byFlag[f.Name]; s != nil {
				l.apply(s, f.Value.String(), "--"+f.Name)
			}
		})
	}

	l.passwordFile()
	if _, set := l.src["public_url"]; set {
		// Trimmed so that handlers can append paths: PublicURL + "/signin".
		// "https://" stays whole, to be reported as it was written.
		trimmed := strings.TrimRight(l.c.PublicURL, "/")
		if i := strings.Index(trimmed, "://"); i >= 0 && len(trimmed) > i+3 {
			l.c.PublicURL = trimmed
		}
	} else {
		l.c.PublicURL = defaultPublicURL(l.c.Addr)
		if l.failed["addr"] || checkAddr(&l.c) != "" {
			l.failed["public_url"] = true // derived from a bad addr: one error is enough
		}
	}

	l.errs = append(l.errs, validate(&l.c, l.src, l.failed)...)
	if len(l.errs) > 0 {
		return Config{}, l.errs
	}
	return l.c, nil
}

// Validate checks c as Load does, for a Config built in code. It does not
// read smtp.password_file.
func (c Config) Validate() error {
	return validate(&c, nil, nil).orNil()
}

type loader struct {
	c      Config
	src    map[string]origin // key → where its current value came from
	failed map[string]bool   // keys with a value that did not parse
	errs   Errors
}

// origin is where a setting's value came from and how it was written
// there (redacted), so that errors quote the operator's own text.
type origin struct {
	source string
	value  string
}

func (l *loader) apply(s *setting, raw, source string) {
	o := origin{source: source, value: s.redact(strings.TrimSpace(raw))}
	l.src[s.key] = o
	if msg := s.parse(&l.c, raw); msg != "" {
		l.failed[s.key] = true
		l.errs = append(l.errs, FieldError{Key: s.key, Source: source, Value: o.value, Msg: msg})
	}
}

// file applies the settings of the YAML file at path. A bad value in the
// file is reported even when the environment or a flag overrides it: the
// file must be right on its own, or it will bite the next operator.
func (l *loader) file(path, pathSrc string) {
	data, err := os.ReadFile(path)
	if err != nil {
		l.errs = append(l.errs, FieldError{Key: "config", Source: pathSrc, Value: path, Msg: "cannot be read: " + fileProblem(err)})
		return
	}
	entries, errs := parseYAML(data, path)
	l.errs = append(l.errs, errs...)
	for _, e := range entries {
		l.apply(e.s, e.raw, e.source)
	}
}

// passwordFile reads smtp.password_file into SMTP.Password.
func (l *loader) passwordFile() {
	const key = "smtp.password_file"
	p := l.c.SMTP.PasswordFile
	if p == "" || l.failed[key] {
		return
	}
	fail := func(msg string) {
		l.failed[key] = true
		l.errs = append(l.errs, FieldError{Key: key, Source: l.src[key].source, Value: p, Msg: msg})
	}
	if l.c.SMTP.Password != "" {
		fail("cannot be used together with smtp.password (from " + orDefault(l.src["smtp.password"].source) + "); set only one")
		return
	}
	f, err := os.Open(p)
	if err != nil {
		fail("cannot be read: " + fileProblem(err))
		return
	}
	defer f.Close()
	// Never quote what was read: it is the password, or whatever file was
	// named by mistake.
	const max = 64 << 10
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	switch {
	case err != nil:
		fail("cannot be read: " + fileProblem(err))
	case len(b) > max:
		fail("is larger than 64 KiB; want a file holding only the password")
	default:
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			fail("is empty; want a file holding the SMTP password")
			return
		}
		l.c.SMTP.Password = pw
	}
}

func orDefault(src string) string {
	if src == "" {
		return "default"
	}
	return src
}

// fileProblem describes a file error without the path (the caller shows
// it) and, above all, without any of the file's contents.
func fileProblem(err error) string {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.As(err, &pe):
		return pe.Err.Error()
	}
	return "read error"
}

// validate runs every setting's check, then the checks across settings.
// Keys in failed already have an error and are not checked again.
func validate(c *Config, src map[string]origin, failed map[string]bool) Errors {
	var errs Errors
	if failed == nil {
		failed = map[string]bool{}
	}
	add := func(key, value, msg string) {
		if o, ok := src[key]; ok && value != "" {
			value = o.value
		}
		errs = append(errs, FieldError{Key: key, Source: src[key].source, Value: value, Msg: msg})
	}
	ok := func(keys ...string) bool {
		for _, k := range keys {
			if failed[k] {
				return false
			}
		}
		return true
	}
	for _, s := range settings {
		if s.check == nil || failed[s.key] {
			continue
		}
		if msg := s.check(c); msg != "" {
			failed[s.key] = true // spares the checks across settings a known-bad value
			v := s.display(c)
			if o, ok := src[s.key]; ok {
				v = o.value // as the operator wrote it
			}
			errs = append(errs, FieldError{Key: s.key, Source: src[s.key].source, Value: v, Msg: msg})
		}
	}
	if c.SMTP.Host != "" && c.SMTP.From == "" && ok("smtp.from") {
		add("smtp.from", "", "is required when smtp.host is set")
	}
	if c.SMTP.Password != "" && c.SMTP.Username == "" && ok("smtp.username") {
		add("smtp.username", "", "is required when smtp.password or smtp.password_file is set")
	}
	if c.Keys.KEK != "" && c.Keys.KEKFile != "" && ok("keys.kek", "keys.kek_file") {
		add("keys.kek_file", c.Keys.KEKFile, "cannot be used together with keys.kek (from "+orDefault(src["keys.kek"].source)+"); set only one")
	}
	if c.SMTP.Username != "" && c.SMTP.TLS == "none" && c.SMTP.Host != "" && !isLocalhost(c.SMTP.Host) {
		add("smtp.tls", "none", "would send the SMTP password unencrypted to a remote host; use starttls or tls (none is for a relay on localhost)")
	}
	if s := c.Session; s.IdleTimeout > s.AbsoluteTimeout && ok("session.idle_timeout", "session.absolute_timeout") {
		add("session.idle_timeout", formatDuration(s.IdleTimeout),
			"is longer than session.absolute_timeout ("+formatDuration(s.AbsoluteTimeout)+"); want at most that")
	}
	if p := c.Password; p.MinLength > p.MaxLength && ok("password.min_length", "password.max_length") {
		add("password.min_length", fmt.Sprint(p.MinLength), fmt.Sprintf("is more than password.max_length (%d)", p.MaxLength))
	}
	if p := c.Password; p.HashMemoryKiB*p.HashIterations < minHashCost && ok("password.hash_memory_kib", "password.hash_iterations") {
		add("password.hash_memory_kib", fmt.Sprint(p.HashMemoryKiB), fmt.Sprintf(
			"with password.hash_iterations %d is below OWASP's minimum argon2id cost: want hash_memory_kib × hash_iterations ≥ %d, as in OWASP's equal-cost table (KiB/iterations) 47104/1, 19456/2, 12288/3, 9216/4, 7168/5",
			p.HashIterations, minHashCost))
	}
	return errs
}

// isLocalhost mirrors net/smtp's rule for sending a password without TLS.
func isLocalhost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// yamlEntry is one setting's value read from the file.
type yamlEntry struct {
	s      *setting
	raw    string
	source string // "path:line"
}

// parseYAML flattens the file's mappings into dotted keys and reports
// unknown keys, keys set twice and values of the wrong shape. Values stay
// text, to be parsed like environment values: one parser, one set of
// messages.
func parseYAML(data []byte, path string) ([]yamlEntry, Errors) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{{Key: "config", Source: path, Msg: "is not valid YAML: " + err.Error()}}
	}
	if len(root.Content) == 0 {
		return nil, nil // empty, or comments only
	}
	top := root.Content[0]
	if isNull(top) {
		return nil, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, Errors{{Key: "config", Source: fmt.Sprintf("%s:%d", path, top.Line),
			Msg: "must be a mapping of settings, such as \"addr: 127.0.0.1:8080\""}}
	}
	var (
		entries []yamlEntry
		errs    Errors
	)
	var walk func(m *yaml.Node, prefix string)
	walk = func(m *yaml.Node, prefix string) {
		seen := map[string]int{}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			key := prefix + k.Value
			source := fmt.Sprintf("%s:%d", path, k.Line)
			bad := func(msg string) { errs = append(errs, FieldError{Key: key, Source: source, Msg: msg}) }
			if line, dup := seen[k.Value]; dup {
				bad(fmt.Sprintf("is set twice (also at line %d)", line))
				continue
			}
			seen[k.Value] = k.Line
			if prefix == "" && groups[k.Value] {
				switch {
				case isNull(v):
				case v.Kind == yaml.MappingNode:
					walk(v, key+".")
				default:
					bad("must be a mapping of " + key + ".* settings, such as \"" + key + ":\" followed by indented keys")
				}
				continue
			}
			s := byKey[key]
			if s == nil {
				bad("is not a Kaiin setting" + suggest(key, slices.Collect(maps.Keys(byKey))) + " (see kaiin serve --help)")
				continue
			}
			switch {
			case isNull(v):
				// "key:" with no value keeps the default.
			case v.Kind == yaml.ScalarNode:
				entries = append(entries, yamlEntry{s, v.Value, source})
			case v.Kind == yaml.SequenceNode && s.list:
				items := make([]string, 0, len(v.Content))
				for _, item := range v.Content {
					if item.Kind != yaml.ScalarNode {
						bad("must be a list of single values")
						items = nil
						break
					}
					items = append(items, item.Value)
				}
				if items != nil {
					entries = append(entries, yamlEntry{s, strings.Join(items, ","), source})
				}
			default:
				bad("must be a single value, not a list or a mapping")
			}
		}
	}
	walk(top, "")
	return entries, errs
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// envMap turns os.Environ-style pairs into a map; a later pair wins.
func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// setFlag returns the flag named name if the command line set it.
func setFlag(fs *flag.FlagSet, name string) *flag.Flag {
	var found *flag.Flag
	if fs != nil {
		fs.Visit(func(f *flag.Flag) {
			if f.Name == name {
				found = f
			}
		})
	}
	return found
}

// suggest returns "; did you mean X?" for the candidate nearest to name,
// when one is near enough to be a likely typo.
func suggest(name string, candidates []string) string {
	best, bestD := "", len(name)
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(2, len(name)/5) {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
