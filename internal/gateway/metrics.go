package gateway

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// register registers c with reg, or returns the collector of the same
// name already there: the JWT and introspection verifiers share their
// cache counters (by label), and a test may build several gateways on one
// registry. A nil reg registers nothing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// cacheCounters returns the token-cache hit and miss counters of one kind
// of verifier ("jwt", "introspection").
func cacheCounters(reg prometheus.Registerer, kind string) (hits, misses prometheus.Counter) {
	h := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kaiin_gateway_token_cache_hits_total",
		Help: "Access tokens found verified in the gateway's cache, by verifier.",
	}, []string{"verifier"}))
	m := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kaiin_gateway_token_cache_misses_total",
		Help: "Access tokens not in the gateway's cache (verified in full), by verifier.",
	}, []string{"verifier"}))
	return h.WithLabelValues(kind), m.WithLabelValues(kind)
}

// gatewayMetrics are the per-route request metrics. Labels: route names
// (from configuration) and status codes, so cardinality is bounded.
type gatewayMetrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	throttled      prometheus.Counter
}

func newGatewayMetrics(reg prometheus.Registerer) *gatewayMetrics {
	return &gatewayMetrics{
		requests: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaiin_gateway_requests_total",
			Help: "Requests through the gateway by route and status code.",
		}, []string{"route", "code"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kaiin_gateway_request_duration_seconds",
			Help:    "Time from request to response headers and body, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"})),
		upstreamErrors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kaiin_gateway_upstream_errors_total",
			Help: "Failed attempts to reach an upstream (connection errors, timeouts, 502/503/504), by route.",
		}, []string{"route"})),
		throttled: register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kaiin_gateway_invalid_token_throttled_total",
			Help: "Requests refused without verifying their token because their address sent too many invalid tokens.",
		})),
	}
}
