package password

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for kaiin_password_hash_rejected_total.
const (
	reasonQueueFull = "queue_full"
	reasonTimeout   = "timeout"
	reasonCanceled  = "canceled"
)

type metrics struct {
	queueWait prometheus.Histogram
	duration  prometheus.Histogram
	inFlight  prometheus.Gauge
	rejected  *prometheus.CounterVec
}

// newMetrics registers the hasher metrics with r. Metrics already
// registered there (by another Hasher) are shared, so the numbers cover the
// whole process.
func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kaiin_password_hash_queue_wait_seconds",
			Help:    "Time a password hash waited for a free slot before it started.",
			Buckets: []float64{.0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kaiin_password_hash_duration_seconds",
			Help:    "Time one argon2id computation took.",
			Buckets: []float64{.005, .01, .02, .03, .05, .075, .1, .15, .25, .5, 1, 2},
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kaiin_password_hash_in_flight",
			Help: "Password hashes being computed now.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaiin_password_hash_rejected_total",
			Help: "Password hashes refused with ErrBusy, by reason (queue_full, timeout, canceled).",
		}, []string{"reason"}),
	}
	var err error
	if m.queueWait, err = register(r, m.queueWait); err != nil {
		return nil, err
	}
	if m.duration, err = register(r, m.duration); err != nil {
		return nil, err
	}
	if m.inFlight, err = register(r, m.inFlight); err != nil {
		return nil, err
	}
	if m.rejected, err = register(r, m.rejected); err != nil {
		return nil, err
	}
	for _, reason := range []string{reasonQueueFull, reasonTimeout, reasonCanceled} {
		m.rejected.WithLabelValues(reason) // export zeros
	}
	return m, nil
}

func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
