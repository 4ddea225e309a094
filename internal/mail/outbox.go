package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// Stored is a message kept by the dev outbox.
type Stored struct {
	// ID is random and unique within the outbox; the dev outbox page links
	// to a message by it.
	ID   string
	Time time.Time
	Message
}

// Outbox is the development-mode Sender: it keeps the last messages in
// memory so that a developer can read them (and follow their links) on the
// dev outbox page, with no SMTP server. It is safe for concurrent use.
type Outbox struct {
	logger *slog.Logger
	mu     sync.Mutex
	ring   []Stored // ring[next] is the oldest once full
	next   int
	full   bool
}

var _ Sender = (*Outbox)(nil)

// NewOutbox keeps the last max messages (100 when max <= 0) and logs to
// logger (slog.Default() when nil).
func NewOutbox(max int, logger *slog.Logger) *Outbox {
	if max <= 0 {
		max = 100
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Outbox{logger: logger, ring: make([]Stored, max)}
}

// Send stores m, dropping the oldest message when the outbox is full. It
// logs the new message's id only: the recipient, subject and body may hold
// personal data and one-time links.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if _, err := m.recipient(); err != nil {
		return err
	}
	var r [8]byte
	_, _ = rand.Read(r[:]) // never fails (crypto/rand panics instead)
	s := Stored{ID: hex.EncodeToString(r[:]), Time: time.Now(), Message: m}

	o.mu.Lock()
	o.ring[o.next] = s
	o.next = (o.next + 1) % len(o.ring)
	if o.next == 0 {
		o.full = true
	}
	o.mu.Unlock()

	o.logger.LogAttrs(ctx, slog.LevelInfo, "mail stored in dev outbox", slog.String("mail_id", s.ID))
	return nil
}

// List returns the stored messages, newest first.
func (o *Outbox) List() []Stored {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.next
	if o.full {
		n = len(o.ring)
	}
	out := make([]Stored, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, o.ring[(o.next-i+len(o.ring))%len(o.ring)])
	}
	return out
}

// Get returns the stored message with the given id, if it is still kept.
func (o *Outbox) Get(id string) (Stored, bool) {
	if id == "" {
		return Stored{}, false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.ring {
		if s.ID == id {
			return s, true
		}
	}
	return Stored{}, false
}
