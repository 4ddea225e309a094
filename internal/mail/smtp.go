package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SMTPConfig configures an SMTP sender. It mirrors config.SMTP.
type SMTPConfig struct {
	Host string
	Port int
	// Username turns on AUTH PLAIN, which is only ever sent over TLS (or to
	// localhost, as net/smtp insists).
	Username string
	Password string
	// From is the sender, with or without a display name.
	From string
	// TLS is "starttls" (the server must offer STARTTLS, or Send fails),
	// "tls" (implicit TLS from the first byte, usually port 465) or "none".
	TLS string
	// Timeout bounds one whole Send: dial, TLS, the SMTP exchange. Zero
	// means 30 seconds.
	Timeout time.Duration
	// TLSConfig is cloned for the TLS handshake; nil means the system roots.
	// ServerName defaults to Host. Tests put their own root CA here.
	TLSConfig *tls.Config
}

// SMTP sends mail through one SMTP server, one connection per message.
// A connection per message is simple and ample for account mail; the Queue
// bounds how many are open at once.
type SMTP struct {
	cfg SMTPConfig
}

var _ Sender = (*SMTP)(nil)

// NewSMTP returns a sender for cfg. The From address is checked on Send
// (config.Load has already checked it).
func NewSMTP(cfg SMTPConfig) *SMTP {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.TLS == "" {
		cfg.TLS = "starttls"
	}
	return &SMTP{cfg: cfg}
}

// SMTPError is a failed SMTP exchange. It never holds the recipient: once
// RCPT TO has been sent, the server's reply text is dropped and only its
// codes kept.
type SMTPError struct {
	// Stage is the step that failed: "connect", "TLS", "greeting", "EHLO",
	// "STARTTLS", "AUTH", "MAIL FROM", "RCPT TO", "DATA".
	Stage string
	// Code is the SMTP reply code (550), or 0 when there was no reply.
	Code int
	// Status is the enhanced status code ("5.1.1") when the server gave one.
	Status string
	// Text is the server's reply text, or our own explanation; empty from
	// RCPT TO on, where servers echo the address.
	Text string
	// Err is the underlying network or TLS error, if any.
	Err error

	permanent bool
}

func (e *SMTPError) Error() string {
	var b strings.Builder
	b.WriteString("mail: smtp ")
	b.WriteString(e.Stage)
	b.WriteString(":")
	if e.Code != 0 {
		b.WriteString(" " + strconv.Itoa(e.Code))
	}
	if e.Status != "" {
		b.WriteString(" " + e.Status)
	}
	if e.Text != "" {
		b.WriteString(" " + e.Text)
	}
	if e.Err != nil {
		b.WriteString(" " + e.Err.Error())
	}
	return b.String()
}

func (e *SMTPError) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help: a 5xx reply, or a server
// that lacks what the configuration requires (STARTTLS, AUTH PLAIN).
func (e *SMTPError) Permanent() bool {
	return e.permanent || (e.Code >= 500 && e.Code < 600)
}

var enhancedStatus = regexp.MustCompile(`^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`)

// smtpErr wraps err from stage, keeping the server's text only when safe.
func smtpErr(stage string, err error) error {
	e := &SMTPError{Stage: stage}
	var tp *textproto.Error
	if errors.As(err, &tp) {
		e.Code = tp.Code
		first, rest, _ := strings.Cut(tp.Msg, " ")
		if enhancedStatus.MatchString(first) {
			e.Status = first
		} else {
			rest = tp.Msg
		}
		if stage != "RCPT TO" && stage != "DATA" {
			e.Text = strings.TrimSpace(rest)
		}
		return e
	}
	e.Err = err
	return e
}

// Send delivers m. It fails rather than send in clear text when TLS is
// "starttls" and the server does not offer STARTTLS.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := m.recipient()
	if err != nil {
		return err
	}
	from, err := mail.ParseAddress(s.cfg.From)
	if err != nil {
		return errors.New("mail: smtp sender address (smtp.from) is not a valid email address")
	}
	msg, err := buildMessage(from, to, m, time.Now())
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err = s.send(ctx, from.Address, to.Address, msg)
	if err == nil {
		return nil
	}
	// Say why the connection failed under the exchange. The connection's
	// deadline is ctx's, and may fire a moment before ctx notices.
	cause := ctx.Err()
	if cause == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cause = context.DeadlineExceeded
	}
	if cause != nil {
		return fmt.Errorf("%w (%w)", err, cause)
	}
	return err
}

func (s *SMTP) send(ctx context.Context, from, to string, msg []byte) error {
	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return smtpErr("connect", err)
	}
	defer conn.Close()
	// The deadline covers every read and write; closing the connection when
	// ctx ends covers a caller's cancellation.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	tlsCfg := s.tlsConfig()
	if s.cfg.TLS == "tls" {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return smtpErr("TLS", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return smtpErr("greeting", err)
	}
	defer c.Close()
	// Explicit, so that a failed EHLO is reported as such rather than as a
	// missing extension.
	if err := c.Hello("localhost"); err != nil {
		return smtpErr("EHLO", err)
	}

	if s.cfg.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return &SMTPError{Stage: "STARTTLS", permanent: true,
				Text: "the server does not offer STARTTLS, and smtp.tls is starttls: refusing to send in clear text (use tls for implicit TLS on port 465)"}
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return smtpErr("STARTTLS", err)
		}
	}
	if s.cfg.Username != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok || !hasWord(mechs, "PLAIN") {
			return &SMTPError{Stage: "AUTH", permanent: true,
				Text: "the server does not offer AUTH PLAIN, and smtp.username is set"}
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return smtpErr("AUTH", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	if err := c.Rcpt(to); err != nil {
		return smtpErr("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	// net/smtp's data writer does the dot-stuffing.
	if _, err := w.Write(msg); err != nil {
		return smtpErr("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("DATA", err)
	}
	// The server has taken the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

func (s *SMTP) tlsConfig() *tls.Config {
	var cfg *tls.Config
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.cfg.Host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

func hasWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if strings.EqualFold(w, word) {
			return true
		}
	}
	return false
}

// buildMessage renders m as an RFC 5322 message with CRLF line endings:
// UTF-8 headers as RFC 2047 encoded words, the body quoted-printable (safe
// through any 7-bit relay and readable in the raw for ASCII).
func buildMessage(from, to *mail.Address, m Message, now time.Time) ([]byte, error) {
	id, err := messageID(from.Address)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", to.String())
	header("Subject", encodeSubject(m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", id)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// encodeSubject Q-encodes a subject that is not plain printable ASCII
// (which also neutralises CR and LF), folding between encoded words so
// that no header line grows past RFC 5322's limits.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("UTF-8", s)
	if enc == s {
		return s
	}
	// Encoded words hold no spaces, so the spaces are word boundaries.
	return strings.ReplaceAll(enc, " =?", "\r\n =?")
}

func messageID(fromAddr string) (string, error) {
	var r [16]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	domain := "kaiin.invalid"
	if _, d, ok := strings.Cut(fromAddr, "@"); ok && d != "" {
		domain = d
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">", nil
}
