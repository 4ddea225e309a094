package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert returns a self-signed certificate for 127.0.0.1 and localhost,
// and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fake smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// session is what the fake server saw on one connection.
type session struct {
	implicitTLS bool
	startTLS    bool
	authUser    string
	authPass    string
	from        string
	rcpt        []string
	data        []byte
}

// fakeSMTP is a small SMTP server speaking just enough of the protocol:
// EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
type fakeSMTP struct {
	t           *testing.T
	ln          net.Listener
	cert        tls.Certificate
	pool        *x509.CertPool
	offerTLS    bool // advertise STARTTLS
	implicitTLS bool // TLS from the first byte
	authReply   string
	rcptReply   string // e.g. "550 5.1.1 <addr>: no such user"
	silent      bool   // accept, then never greet

	mu       sync.Mutex
	sessions []session
	wg       sync.WaitGroup
}

func newFakeSMTP(t *testing.T, configure func(*fakeSMTP)) *fakeSMTP {
	t.Helper()
	cert, pool := testCert(t)
	f := &fakeSMTP{t: t, cert: cert, pool: pool, offerTLS: true, authReply: "235 2.7.0 Authentication successful"}
	if configure != nil {
		configure(f)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeSMTP) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// config returns a client config pointing at f and trusting its certificate.
func (f *fakeSMTP) config(mode string) SMTPConfig {
	return SMTPConfig{
		Host: "127.0.0.1", Port: f.port(), From: "Kaiin 会員 <no-reply@kaiin.example>",
		TLS: mode, Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: f.pool},
	}
}

func (f *fakeSMTP) accept() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			s := f.serve(conn)
			f.mu.Lock()
			f.sessions = append(f.sessions, s)
			f.mu.Unlock()
		}()
	}
}

// got stops the server, waits for every connection to end (the client
// closes its side when Send returns) and returns the sessions seen.
func (f *fakeSMTP) got() []session {
	f.ln.Close()
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]session(nil), f.sessions...)
}

func (f *fakeSMTP) serve(conn net.Conn) (s session) {
	if f.silent {
		_, _ = io.Copy(io.Discard, conn) // until the client gives up
		return s
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{f.cert}}
	if f.implicitTLS {
		tc := tls.Server(conn, tlsCfg)
		if err := tc.Handshake(); err != nil {
			return s
		}
		conn, s.implicitTLS = tc, true
	}
	tp := textproto.NewConn(conn)
	reply := func(format string, args ...any) { _ = tp.PrintfLine(format, args...) }
	reply("220 fake.example ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return s
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"fake.example"}
			if f.offerTLS && !s.startTLS && !s.implicitTLS {
				lines = append(lines, "STARTTLS")
			}
			lines = append(lines, "AUTH PLAIN LOGIN", "8BITMIME")
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				reply("250%s%s", sep, l)
			}
		case "HELO", "RSET", "NOOP":
			reply("250 OK")
		case "STARTTLS":
			if !f.offerTLS || s.startTLS {
				reply("502 5.5.1 not offered")
				continue
			}
			reply("220 2.0.0 go ahead")
			tc := tls.Server(conn, tlsCfg)
			if err := tc.Handshake(); err != nil {
				return s
			}
			conn, s.startTLS = tc, true
			tp = textproto.NewConn(conn)
		case "AUTH":
			mech, ir, _ := strings.Cut(arg, " ")
			raw, err := base64.StdEncoding.DecodeString(ir)
			parts := strings.Split(string(raw), "\x00")
			if !strings.EqualFold(mech, "PLAIN") || err != nil || len(parts) != 3 {
				reply("501 5.5.2 bad AUTH")
				continue
			}
			s.authUser, s.authPass = parts[1], parts[2]
			reply("%s", f.authReply)
		case "MAIL":
			s.from = strings.TrimSuffix(strings.TrimPrefix(arg, "FROM:<"), ">")
			if i := strings.Index(s.from, "> "); i >= 0 { // "BODY=8BITMIME" and such
				s.from = s.from[:i]
			}
			reply("250 2.1.0 OK")
		case "RCPT":
			to := strings.TrimSuffix(strings.TrimPrefix(arg, "TO:<"), ">")
			if f.rcptReply != "" {
				reply("%s", strings.ReplaceAll(f.rcptReply, "{rcpt}", to))
				continue
			}
			s.rcpt = append(s.rcpt, to)
			reply("250 2.1.5 OK")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return s
			}
			s.data = data
			reply("250 2.0.0 queued as 1")
		case "QUIT":
			reply("221 2.0.0 bye")
			return s
		default:
			reply("502 5.5.2 unknown command")
		}
	}
}

// decoded is a received message, decoded as a mail client would.
type decoded struct {
	header  mail.Header
	subject string
	body    string
}

func decode(t *testing.T, data []byte) decoded {
	t.Helper()
	for i, l := range strings.Split(string(data), "\n") {
		if len(l) > 998 {
			t.Errorf("line %d is %d bytes long; RFC 5322 allows 998", i+1, len(l))
		}
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("Subject does not decode: %v", err)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", cte)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body does not decode: %v", err)
	}
	return decoded{header: msg.Header, subject: subject, body: string(body)}
}

func TestSMTPStartTLSJapanese(t *testing.T) {
	srv := newFakeSMTP(t, nil)
	cfg := srv.config("starttls")
	cfg.Username, cfg.Password = "kaiin", "s3cret-パスワード"
	subject := "【会員】メールアドレスの確認のお願い — とても長い件名がきちんと折り返されて届くかどうかを確かめるための件名です"
	text := "山田 太郎 様\n\n以下のリンクを開いて確認してください。\nhttps://id.example.jp/verify?token=abc=def&x=1\n.この行は点で始まります\n" +
		strings.Repeat("長い行。", 60) + "\n"
	err := NewSMTP(cfg).Send(context.Background(), Message{To: "山田 太郎 <taro@example.jp>", Subject: subject, Text: text})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.got()
	if len(got) != 1 {
		t.Fatalf("server saw %d sessions, want 1", len(got))
	}
	s := got[0]
	if !s.startTLS {
		t.Error("STARTTLS did not happen")
	}
	if s.authUser != "kaiin" || s.authPass != "s3cret-パスワード" {
		t.Errorf("AUTH PLAIN got user %q pass %q", s.authUser, s.authPass)
	}
	if s.from != "no-reply@kaiin.example" || len(s.rcpt) != 1 || s.rcpt[0] != "taro@example.jp" {
		t.Errorf("envelope from %q rcpt %q", s.from, s.rcpt)
	}
	d := decode(t, s.data)
	if d.subject != subject {
		t.Errorf("Subject = %q, want %q", d.subject, subject)
	}
	// quotedprintable.Reader turns the wire's CRLF back into "\n".
	if d.body != text {
		t.Errorf("body = %q, want %q", d.body, text)
	}
	to, err := d.header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "山田 太郎" || to[0].Address != "taro@example.jp" {
		t.Errorf("To = %v (%v)", to, err)
	}
	from, err := d.header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "Kaiin 会員" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if _, err := d.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := d.header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@kaiin.example>") {
		t.Errorf("Message-ID = %q", id)
	}
	if v := d.header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if ct := d.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestSMTPStartTLSNotOffered(t *testing.T) {
	srv := newFakeSMTP(t, func(f *fakeSMTP) { f.offerTLS = false })
	cfg := srv.config("starttls")
	cfg.Username, cfg.Password = "kaiin", "hunter2"
	err := NewSMTP(cfg).Send(context.Background(), Message{To: "taro@example.jp", Subject: "s", Text: "t"})
	var se *SMTPError
	if !errors.As(err, &se) || se.Stage != "STARTTLS" || !se.Permanent() {
		t.Fatalf("err = %v, want a permanent STARTTLS SMTPError", err)
	}
	if !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("error does not say why: %v", err)
	}
	for _, s := range srv.got() {
		if s.authUser != "" || s.from != "" || s.data != nil {
			t.Errorf("client went on in clear text: %+v", s)
		}
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	srv := newFakeSMTP(t, func(f *fakeSMTP) { f.implicitTLS = true })
	cfg := srv.config("tls")
	cfg.Username, cfg.Password = "kaiin", "hunter2"
	if err := NewSMTP(cfg).Send(context.Background(), Message{To: "taro@example.jp", Subject: "件名", Text: "本文"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	s := srv.got()[0]
	if !s.implicitTLS || s.authUser != "kaiin" {
		t.Errorf("session = %+v", s)
	}
	if d := decode(t, s.data); d.subject != "件名" || d.body != "本文\n" {
		t.Errorf("subject %q body %q", d.subject, d.body)
	}
}

func TestSMTPPlainNoAuth(t *testing.T) {
	srv := newFakeSMTP(t, func(f *fakeSMTP) { f.offerTLS = false })
	if err := NewSMTP(srv.config("none")).Send(context.Background(), Message{To: "a@example.com", Subject: "hello", Text: "hi"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	s := srv.got()[0]
	if s.startTLS || s.authUser != "" {
		t.Errorf("session = %+v, want no TLS and no AUTH", s)
	}
	if d := decode(t, s.data); d.subject != "hello" {
		t.Errorf("subject %q", d.subject)
	}
}

func TestSMTPUntrustedCertificate(t *testing.T) {
	srv := newFakeSMTP(t, nil)
	cfg := srv.config("starttls")
	cfg.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()} // trusts nothing
	err := NewSMTP(cfg).Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send accepted an untrusted certificate")
	}
	for _, s := range srv.got() {
		if s.from != "" {
			t.Error("MAIL FROM sent after a failed handshake")
		}
	}
}

// TestSMTPErrorsHideSecrets checks that errors name neither the password
// nor the recipient, even when the server echoes the recipient.
func TestSMTPErrorsHideSecrets(t *testing.T) {
	const password, rcpt = "hunter2-very-secret", "private.person@example.jp"
	tests := []struct {
		name      string
		configure func(*fakeSMTP)
		stage     string
		permanent bool
	}{
		{"auth refused", func(f *fakeSMTP) { f.authReply = "535 5.7.8 Authentication credentials invalid" }, "AUTH", true},
		{"recipient refused", func(f *fakeSMTP) { f.rcptReply = "550 5.1.1 <{rcpt}>: Recipient address rejected" }, "RCPT TO", true},
		{"recipient deferred", func(f *fakeSMTP) { f.rcptReply = "451 4.3.0 <{rcpt}> try later" }, "RCPT TO", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeSMTP(t, tt.configure)
			cfg := srv.config("starttls")
			cfg.Username, cfg.Password = "kaiin", password
			err := NewSMTP(cfg).Send(context.Background(), Message{To: rcpt, Subject: "秘密の件名", Text: "secret body"})
			var se *SMTPError
			if !errors.As(err, &se) || se.Stage != tt.stage || se.Permanent() != tt.permanent {
				t.Fatalf("err = %#v, want stage %s permanent %v", err, tt.stage, tt.permanent)
			}
			for _, secret := range []string{password, rcpt, "private.person", "秘密", "secret body"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}

func TestSMTPTimeout(t *testing.T) {
	srv := newFakeSMTP(t, func(f *fakeSMTP) { f.silent = true })
	cfg := srv.config("starttls")
	cfg.Timeout = 200 * time.Millisecond
	start := time.Now()
	err := NewSMTP(cfg).Send(context.Background(), Message{To: "a@example.com", Subject: "s", Text: "t"})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %v with a 200ms timeout", d)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	cfg.Timeout = time.Minute
	if err := NewSMTP(cfg).Send(ctx, Message{To: "a@example.com", Subject: "s", Text: "t"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSendRejectsBadRecipient(t *testing.T) {
	for _, to := range []string{"", "not an address", "a@example.com\r\nBcc: x@example.com", "a@example.com, b@example.com"} {
		err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: 1, From: "a@example.com"}).Send(context.Background(), Message{To: to})
		if !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("To %q: err = %v, want ErrInvalidAddress", to, err)
		}
	}
}

func TestEncodeSubjectNoHeaderInjection(t *testing.T) {
	enc := encodeSubject("hello\r\nBcc: victim@example.com")
	if strings.Contains(enc, "\r\nBcc") || strings.Contains(enc, "\nBcc") {
		t.Fatalf("subject %q injects a header", enc)
	}
	dec, err := new(mime.WordDecoder).DecodeHeader(strings.ReplaceAll(enc, "\r\n ", " "))
	if err != nil || dec != "hello\r\nBcc: victim@example.com" {
		t.Fatalf("decoded %q, %v", dec, err)
	}
}
