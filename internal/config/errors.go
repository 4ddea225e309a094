package config

import (
	"strconv"
	"strings"
)

// FieldError is one problem with one setting.
type FieldError struct {
	// Key is the setting's YAML key ("smtp.port"), or the unknown name as
	// the operator wrote it ("smtp.hots", "KAIIN_SMTP_HOTS").
	Key string
	// Source is where the value came from, as the operator wrote it:
	// "KAIIN_SMTP_PORT", "--addr", "/etc/kaiin.yaml:12". Empty for a
	// default value or a problem across settings.
	Source string
	// Value is the offending value, redacted: a secret setting's value is
	// never here, and a URL's password is replaced by xxxxx. Empty when the
	// problem is not the value itself.
	Value string
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Key)
	if e.Source != "" {
		b.WriteString(" (from ")
		b.WriteString(e.Source)
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Value != "" {
		b.WriteString(strconv.Quote(e.Value))
		b.WriteString(" ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, in the order found:
// file, environment, flags, then checks in the order of Usage.
type Errors []FieldError

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single FieldError.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// orNil returns es as an error, or a true nil when it is empty.
func (es Errors) orNil() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
