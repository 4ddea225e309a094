// Package mail sends Kaiin's mail: plain-text UTF-8 messages (verification
// links, password resets) delivered by SMTP, or kept in an in-memory dev
// outbox, through an asynchronous queue.
//
// The queue exists so that a request handler never waits on an SMTP server,
// and so that a response takes the same time whether or not a mail was sent:
// otherwise the time of a "forgot password" answer would tell an attacker
// which addresses have accounts.
//
// Mail holds personal data and one-time links. Nothing in this package logs
// or returns in an error a recipient, a subject or a body: logs name a
// message by its queue sequence number or outbox id, and SMTP errors keep
// only the server's reply code once the recipient has been sent (servers
// often echo the address in their reply text). Errors never hold the SMTP
// password.
package mail

import (
	"context"
	"errors"
	"net/mail"
)

// Message is one plain-text mail. Text is UTF-8 and may use "\n" or
// "\r\n" line endings; Japanese (or any language) works in Subject and Text.
type Message struct {
	// To is one address, with or without a display name:
	// "taro@example.jp" or "山田 太郎 <taro@example.jp>".
	To      string
	Subject string
	Text    string
}

// Sender delivers a message. Implementations honour ctx, and their errors
// must not contain the recipient, subject or body.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidAddress is returned for a Message whose To is not one valid
// address. The error does not quote the address.
var ErrInvalidAddress = errors.New("mail: recipient is not a valid email address")

// recipient parses m.To.
func (m Message) recipient() (*mail.Address, error) {
	a, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, ErrInvalidAddress
	}
	return a, nil
}
