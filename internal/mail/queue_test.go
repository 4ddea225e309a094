package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer captures JSON logs safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// personal is a message whose every field must stay out of logs.
var personal = Message{
	To:      "山田 花子 <hanako.private@example.jp>",
	Subject: "パスワード再設定のご案内",
	Text:    "次のリンクから再設定してください: https://id.example.jp/reset?token=SECRET-TOKEN-123",
}

func assertNoPersonalData(t *testing.T, logs string) {
	t.Helper()
	for _, s := range []string{"hanako.private", "山田", "パスワード再設定", "SECRET-TOKEN-123", "reset?token"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q:\n%s", s, logs)
		}
	}
}

func TestOutboxRing(t *testing.T) {
	logger, logs := newLogger()
	o := NewOutbox(3, logger)
	if got := o.List(); len(got) != 0 {
		t.Fatalf("new outbox lists %d messages", len(got))
	}
	var ids []string
	for i := 1; i <= 5; i++ {
		if err := o.Send(context.Background(), Message{To: "a@example.com", Subject: fmt.Sprint(i), Text: "本文"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.List()[0].ID)
	}
	list := o.List()
	var subjects []string
	for _, s := range list {
		subjects = append(subjects, s.Subject)
	}
	if strings.Join(subjects, ",") != "5,4,3" {
		t.Errorf("List subjects = %v, want newest first 5,4,3", subjects)
	}
	if !list[0].Time.After(list[2].Time) && !list[0].Time.Equal(list[2].Time) {
		t.Errorf("times not newest first: %v", list)
	}
	for i, id := range ids {
		s, ok := o.Get(id)
		kept := i >= 2
		if ok != kept {
			t.Errorf("Get(message %d) ok = %v, want %v", i+1, ok, kept)
		}
		if ok && s.Subject != fmt.Sprint(i+1) {
			t.Errorf("Get(message %d) = %q", i+1, s.Subject)
		}
	}
	if _, ok := o.Get(""); ok {
		t.Error(`Get("") found a message`)
	}
	if n := strings.Count(logs.String(), "mail stored in dev outbox"); n != 5 {
		t.Errorf("logged %d stores, want 5", n)
	}
	if !strings.Contains(logs.String(), ids[4]) {
		t.Errorf("log does not name the message id %s", ids[4])
	}
}

func TestOutboxLogsNothingPersonal(t *testing.T) {
	logger, logs := newLogger()
	o := NewOutbox(10, logger)
	if err := o.Send(context.Background(), personal); err != nil {
		t.Fatal(err)
	}
	if got := o.List()[0].Message; got != personal {
		t.Errorf("stored %+v", got)
	}
	assertNoPersonalData(t, logs.String())
	if !strings.Contains(logs.String(), `"level":"INFO"`) {
		t.Errorf("want one INFO line, got %s", logs)
	}
}

func TestOutboxConcurrent(t *testing.T) {
	o := NewOutbox(50, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_ = o.Send(context.Background(), Message{To: "a@example.com", Subject: fmt.Sprint(i)})
			o.List()
		})
	}
	wg.Wait()
	if n := len(o.List()); n != 50 {
		t.Errorf("List has %d, want 50", n)
	}
}

// fakeSender fails the first failures sends, then records the rest.
type fakeSender struct {
	mu       sync.Mutex
	failures int
	err      error
	attempts int
	sent     []Message
	gate     chan struct{} // when set, each Send waits for it or ctx
	started  chan struct{} // when set, signalled as each Send starts
}

func (f *fakeSender) Send(ctx context.Context, m Message) error {
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.attempts <= f.failures {
		return f.err
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *fakeSender) result() (attempts int, sent []Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, append([]Message(nil), f.sent...)
}

func closeQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestQueueDelivers(t *testing.T) {
	logger, logs := newLogger()
	f := &fakeSender{}
	q := NewQueue(f, QueueOptions{Workers: 3, Logger: logger})
	for i := range 20 {
		if err := q.Enqueue(Message{To: "a@example.com", Subject: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	closeQueue(t, q)
	if _, sent := f.result(); len(sent) != 20 {
		t.Errorf("sent %d, want 20", len(sent))
	}
	if err := q.Enqueue(Message{To: "a@example.com"}); !errors.Is(err, ErrQueueClosed) {
		t.Errorf("Enqueue after Close: %v, want ErrQueueClosed", err)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if strings.Contains(logs.String(), `"level":"WARN"`) || strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("unexpected warnings:\n%s", logs)
	}
}

func TestQueueRetries(t *testing.T) {
	logger, logs := newLogger()
	f := &fakeSender{failures: 2, err: errors.New("connection refused")}
	q := NewQueue(f, QueueOptions{Retries: 3, Backoff: time.Millisecond, Logger: logger})
	if err := q.Enqueue(personal); err != nil {
		t.Fatal(err)
	}
	closeQueue(t, q)
	attempts, sent := f.result()
	if attempts != 3 || len(sent) != 1 || sent[0] != personal {
		t.Errorf("attempts %d sent %v; want 3 attempts and the message", attempts, sent)
	}
	if n := strings.Count(logs.String(), "will retry"); n != 2 {
		t.Errorf("%d retry warnings, want 2:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), `"mail_seq":1`) {
		t.Errorf("logs do not name the message by sequence number:\n%s", logs)
	}
	assertNoPersonalData(t, logs.String())
}

func TestQueueDropsAfterRetries(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		retries      int
		wantAttempts int
		wantLevel    string
	}{
		{"transient", errors.New("connection reset"), 2, 3, "ERROR"},
		{"no retries", errors.New("connection reset"), -1, 1, "ERROR"},
		{"permanent", &SMTPError{Stage: "AUTH", Code: 535}, 3, 1, "ERROR"},
		{"recipient refused", &SMTPError{Stage: "RCPT TO", Code: 550, Status: "5.1.1"}, 3, 1, "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := newLogger()
			f := &fakeSender{failures: 100, err: tt.err}
			q := NewQueue(f, QueueOptions{Retries: tt.retries, Backoff: time.Millisecond, Logger: logger})
			if err := q.Enqueue(personal); err != nil {
				t.Fatal(err)
			}
			closeQueue(t, q)
			if attempts, _ := f.result(); attempts != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", attempts, tt.wantAttempts)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, `"level":"`+tt.wantLevel+`"`) {
				t.Errorf("final log line %s, want level %s", last, tt.wantLevel)
			}
			if tt.wantLevel == "WARN" && strings.Contains(logs.String(), `"level":"ERROR"`) {
				t.Errorf("a refused recipient is not an ERROR:\n%s", logs)
			}
			assertNoPersonalData(t, logs.String())
		})
	}
}

func TestQueueFull(t *testing.T) {
	f := &fakeSender{gate: make(chan struct{}), started: make(chan struct{}, 10)}
	q := NewQueue(f, QueueOptions{Size: 2, Workers: 1, Logger: slog.New(slog.DiscardHandler)})
	msg := Message{To: "a@example.com"}
	if err := q.Enqueue(msg); err != nil {
		t.Fatal(err)
	}
	<-f.started // the worker holds the first message; the queue is empty
	for i := range 2 {
		if err := q.Enqueue(msg); err != nil {
			t.Fatalf("Enqueue %d: %v", i+2, err)
		}
	}
	start := time.Now()
	if err := q.Enqueue(msg); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue on a full queue: %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Enqueue on a full queue took %v; it must not block", d)
	}
	close(f.gate)
	closeQueue(t, q)
	if _, sent := f.result(); len(sent) != 3 {
		t.Errorf("sent %d, want 3", len(sent))
	}
}

func TestQueueRejectsBadAddress(t *testing.T) {
	q := NewQueue(&fakeSender{}, QueueOptions{})
	defer closeQueue(t, q)
	if err := q.Enqueue(Message{To: "nobody"}); !errors.Is(err, ErrInvalidAddress) {
		t.Errorf("err = %v, want ErrInvalidAddress", err)
	}
}

// TestQueueCloseDrains checks that Close waits for queued mail, including
// mail that needs a retry.
func TestQueueCloseDrains(t *testing.T) {
	f := &fakeSender{failures: 1, err: errors.New("try again")}
	q := NewQueue(f, QueueOptions{Workers: 2, Backoff: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	for range 10 {
		if err := q.Enqueue(Message{To: "a@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	closeQueue(t, q)
	if _, sent := f.result(); len(sent) != 10 {
		t.Errorf("sent %d of 10 before Close returned", len(sent))
	}
}

// TestQueueCloseGivesUp checks that Close returns when its context ends,
// cancelling a stuck send and logging what was dropped.
func TestQueueCloseGivesUp(t *testing.T) {
	logger, logs := newLogger()
	f := &fakeSender{gate: make(chan struct{}), started: make(chan struct{}, 10)} // never opened
	q := NewQueue(f, QueueOptions{Workers: 1, Logger: logger})
	for range 3 {
		if err := q.Enqueue(personal); err != nil {
			t.Fatal(err)
		}
	}
	<-f.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), `"dropped":3`) {
		t.Errorf("want an ERROR naming 3 dropped messages:\n%s", logs)
	}
	assertNoPersonalData(t, logs.String())
}
