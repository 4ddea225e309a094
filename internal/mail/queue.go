package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by Enqueue, at once: it never blocks.
var (
	ErrQueueFull   = errors.New("mail: queue is full")
	ErrQueueClosed = errors.New("mail: queue is closed")
)

// QueueOptions configures a Queue. Zero values take the defaults shown.
type QueueOptions struct {
	// Size is how many messages may wait; Enqueue fails beyond it. 1000.
	Size int
	// Workers is how many messages are sent at once. 2.
	Workers int
	// Retries is how many times a failed send is tried again: 3; a
	// negative value means never. Permanent failures (an SMTP 5xx reply)
	// are not retried.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to 5 minutes. 2s.
	Backoff time.Duration
	// Logger receives the send failures; slog.Default() when nil.
	Logger *slog.Logger
}

const maxBackoff = 5 * time.Minute

// Queue sends messages in the background through a Sender, so that a
// request handler never waits on mail delivery. Messages are named in logs
// by a sequence number ("mail_seq"), never by their content.
type Queue struct {
	s    Sender
	opts QueueOptions

	mu     sync.RWMutex // guards closed, and ch against a send after close
	closed bool
	ch     chan job

	ctx     context.Context // ends when Close gives up waiting
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	seq     atomic.Uint64
	dropped atomic.Int64 // messages abandoned because Close gave up
}

type job struct {
	seq uint64
	m   Message
}

// NewQueue starts the workers. Call Close to stop them.
func NewQueue(s Sender, o QueueOptions) *Queue {
	if o.Size <= 0 {
		o.Size = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Retries == 0 {
		o.Retries = 3
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	q := &Queue{s: s, opts: o, ch: make(chan job, o.Size)}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	for range o.Workers {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// Enqueue queues m for sending and returns at once: ErrQueueFull when the
// queue is full, ErrQueueClosed after Close, ErrInvalidAddress for a bad
// recipient. Callers that answer the public (reset, registration) should
// answer the same whatever it returns, and log a failure themselves.
func (q *Queue) Enqueue(m Message) error {
	if _, err := m.recipient(); err != nil {
		return err
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrQueueClosed
	}
	select {
	case q.ch <- job{seq: q.seq.Add(1), m: m}:
		return nil
	default:
		return ErrQueueFull
	}
}

// Close stops accepting messages and waits until the queued ones are sent
// (or have failed) or ctx ends. When ctx ends first, sends in progress and
// retry waits are cancelled, the rest is dropped and logged at ERROR, and
// Close returns ctx's error once the workers have stopped.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()

	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		q.cancel()
		return nil
	case <-ctx.Done():
	}
	q.cancel()
	<-done // workers stop promptly: their sends and waits use q.ctx
	if n := q.dropped.Load(); n > 0 {
		q.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "mail queue closed before sending every message",
			slog.Int64("dropped", n))
	}
	return ctx.Err()
}

func (q *Queue) work() {
	defer q.wg.Done()
	for j := range q.ch {
		if q.ctx.Err() != nil {
			q.dropped.Add(1)
			continue
		}
		q.deliver(j)
	}
}

// deliver sends j, retrying with backoff. Logs carry the sequence number,
// attempt and error only.
func (q *Queue) deliver(j job) {
	log := q.opts.Logger
	seq := slog.Uint64("mail_seq", j.seq)
	wait := q.opts.Backoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := q.s.Send(q.ctx, j.m)
		if err == nil {
			log.LogAttrs(q.ctx, slog.LevelInfo, "mail sent", seq, slog.Int("attempt", attempt),
				slog.Duration("duration", time.Since(start)))
			return
		}
		if q.ctx.Err() != nil {
			q.dropped.Add(1)
			return
		}
		var se *SMTPError
		if errors.As(err, &se) && se.Permanent() && se.Stage == "RCPT TO" {
			// The address was refused: a member's typo, not an outage.
			// Nobody must act now, so not ERROR.
			log.LogAttrs(q.ctx, slog.LevelWarn, "mail refused for its recipient; dropped", seq, slog.Any("err", err))
			return
		}
		permanent := (errors.As(err, &se) && se.Permanent()) || errors.Is(err, ErrInvalidAddress)
		if permanent || attempt > q.opts.Retries {
			log.LogAttrs(q.ctx, slog.LevelError, "mail dropped", seq, slog.Int("attempts", attempt),
				slog.Bool("permanent", permanent), slog.Any("err", err))
			return
		}
		log.LogAttrs(q.ctx, slog.LevelWarn, "mail send failed; will retry", seq, slog.Int("attempt", attempt),
			slog.Duration("retry_in", wait), slog.Any("err", err))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
			q.dropped.Add(1)
			return
		}
		wait = min(2*wait, maxBackoff)
	}
}
