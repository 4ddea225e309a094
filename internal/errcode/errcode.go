// Package errcode is the catalogue of errors shown to people. Each has a
// stable code (KAI-AREA-NNN) that support, operators and ChatOps can look
// up, an HTTP status, and its text in Japanese and English.
//
// An *Error carries the public code apart from the internal cause: the
// cause goes to logs (it never holds secrets or personal data by
// construction of the callers), the code and its text go to the person.
package errcode

import (
	"errors"
	"fmt"
	"sort"
)

// Code is one entry of the catalogue.
type Code struct {
	ID     string // "KAI-LOGIN-001"; never changes once released
	Status int    // HTTP status used when the error ends a request
	EN, JA string // texts; may hold fmt verbs filled by Error.Args
}

// Text returns the text in lang ("ja" or anything else for English).
func (c *Code) Text(lang string, args ...any) string {
	s := c.EN
	if lang == "ja" {
		s = c.JA
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

var catalogue = map[string]*Code{}

func def(id string, status int, en, ja string) *Code {
	if _, dup := catalogue[id]; dup {
		panic("errcode: duplicate code " + id)
	}
	c := &Code{ID: id, Status: status, EN: en, JA: ja}
	catalogue[id] = c
	return c
}

// All returns the catalogue sorted by code.
func All() []*Code {
	out := make([]*Code, 0, len(catalogue))
	for _, c := range catalogue {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup returns the code with this ID.
func Lookup(id string) (*Code, bool) {
	c, ok := catalogue[id]
	return c, ok
}

// Error is an error to be shown to a person: a catalogue code, the form
// field it concerns (if any), arguments for the text, and the internal
// cause for the logs.
type Error struct {
	Code  *Code
	Field string
	Args  []any
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code.ID + ": " + e.Err.Error()
	}
	return e.Code.ID
}

func (e *Error) Unwrap() error { return e.Err }

// Text returns the person-facing text in lang.
func (e *Error) Text(lang string) string { return e.Code.Text(lang, e.Args...) }

// New returns an *Error for code c about form field (may be empty).
func New(c *Code, field string, args ...any) *Error {
	return &Error{Code: c, Field: field, Args: args}
}

// Wrap returns an *Error for code c with an internal cause.
func Wrap(c *Code, cause error) *Error { return &Error{Code: c, Err: cause} }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
