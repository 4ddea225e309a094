package config

import "strings"

// Usage documents every setting: YAML key, environment variable, flag,
// default and description. cmd/kaiin prints it under `kaiin serve --help`.
// It shows defaults only, never a configured value, so it holds no secret.
func Usage() string {
	def := Default()
	type row struct{ key, env, flag, def, desc string }
	rows := []row{{"KEY", "ENVIRONMENT", "FLAG", "DEFAULT", ""}}
	for _, s := range settings {
		r := row{key: s.key, env: s.env(), flag: "-", def: s.def, desc: s.desc}
		if s.flag != "" {
			r.flag = "--" + s.flag
		}
		if r.def == "" {
			r.def = s.display(&def)
		}
		if r.def == "" {
			r.def = `""`
		}
		rows = append(rows, r)
	}
	var wKey, wEnv, wFlag int
	for _, r := range rows {
		wKey, wEnv, wFlag = max(wKey, len(r.key)), max(wEnv, len(r.env)), max(wFlag, len(r.flag))
	}
	pad := func(s string, w int) string { return s + strings.Repeat(" ", w-len(s)+2) }

	var b strings.Builder
	b.WriteString(`Configuration. Precedence: flags > KAIIN_* environment > YAML file > defaults.
The YAML file is named by --config or KAIIN_CONFIG; nested keys are mappings
(smtp.host is "smtp:" then "  host: …"). Durations are Go durations (30s, 15m,
12h); rates are "N/duration" (60/1m) or "off". Unknown keys and unknown KAIIN_*
variables are errors.

`)
	for _, r := range rows {
		b.WriteString("  " + pad(r.key, wKey) + pad(r.env, wEnv) + pad(r.flag, wFlag) + r.def + "\n")
		if r.desc != "" {
			b.WriteString("      " + r.desc + "\n")
		}
	}
	return b.String()
}
