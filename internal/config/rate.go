package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Rate is a rate limit: at most N events per Per. The zero Rate means the
// limit is off.
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether the limit is disabled.
func (r Rate) Off() bool { return r == Rate{} }

// String formats r as ParseRate reads it: "10/15m" or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.N) + "/" + formatDuration(r.Per)
}

// ParseRate reads "N/duration" ("60/1m", "5/1h"; "10/h" means "10/1h") or
// "off". N must be at least 1 and the duration positive.
func ParseRate(s string) (Rate, error) {
	if strings.EqualFold(s, "off") {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New(`want "N/duration" such as "60/1m", or "off"`)
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count < 1 {
		return Rate{}, errors.New(`want a whole number of at least 1 before "/" (use "off" to disable the limit)`)
	}
	per = strings.TrimSpace(per)
	if per != "" && (per[0] < '0' || per[0] > '9') && per[0] != '.' {
		per = "1" + per // "10/h" reads as "10/1h"
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, errors.New(`want a positive Go duration after "/" such as 1m, 15m or 1h`)
	}
	return Rate{N: count, Per: d}, nil
}

// formatDuration is time.Duration.String without the trailing zero units
// ("15m" rather than "15m0s"), matching how operators write durations.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
