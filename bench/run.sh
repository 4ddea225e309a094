#!/usr/bin/env bash
# Runs every benchmark behind BENCHMARKS.md and exits non-zero when a target
# is missed: the sign-in/argon2id ratio (Go benchmarks), the sign-in flood
# (twice: shipped rate limits, then signin limits off), and start-up/idle
# memory, then the OpenID provider's hot paths against the limit server
# (bench/oidc.sh). Everything listens on 127.0.0.1 and is bounded in time.
#
#   BENCHTIME=5s COUNT=3 bench/run.sh        (make bench)
#
# The sign-in ratio is judged on BenchmarkSignInHTTP*Interleaved, which
# alternates short batches of bare hashing and of sign-ins so that load
# from other work on this shared machine hits both sides alike; the
# separate BenchmarkArgon2idBare / BenchmarkSignInHTTP* results of the same
# run are divided too, for information (bench/ratio).
#
# BenchmarkSignInHTTPPostgresRedis* need PostgreSQL and Redis
# (scripts/test-services); BENCH='Argon2idBare|SignInHTTP(Interleaved)?$'
# skips them; OIDC_BACKENDS=sqlite does the same for bench/oidc.sh.
set -uo pipefail
cd "$(dirname "$0")/.."

BENCH=${BENCH:-'Argon2idBare|SignInHTTP'}
BENCHTIME=${BENCHTIME:-5s}
COUNT=${COUNT:-3}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version)"
echo "== load before: $(uptime)"
go build -o "$tmp/kaiin" ./cmd/kaiin &&
	go build -o "$tmp/hello" ./bench/hello &&
	go build -o "$tmp/flood" ./bench/flood &&
	go build -o "$tmp/startup" ./bench/startup &&
	go build -o "$tmp/ratio" ./bench/ratio || exit 1

echo
echo "== 1. password sign-in end to end vs bare argon2id"
echo "go test -run XXX -bench '$BENCH' -benchtime $BENCHTIME -count $COUNT ./internal/app/"
go test -run XXX -bench "$BENCH" -benchtime "$BENCHTIME" -count "$COUNT" ./internal/app/ | tee "$tmp/bench.txt"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
"$tmp/ratio" -min 0.85 <"$tmp/bench.txt" || status=1

echo
echo "== 2a. flood of 2,000 concurrent sign-ins, shipped rate limits (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$tmp/flood" -kaiin "$tmp/kaiin" -rate-limits default || status=1
echo
echo "== 2b. flood of 2,000 concurrent sign-ins, signin_ip and signin_account off (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$tmp/flood" -kaiin "$tmp/kaiin" -rate-limits off || status=1

echo
echo "== 3. start-up time and idle RSS on an empty data dir (load: $(cut -d' ' -f1-3 /proc/loadavg))"
"$tmp/startup" -kaiin "$tmp/kaiin" -hello "$tmp/hello" -n 5 || status=1

echo
echo "== 4. OpenID provider hot paths vs the limit server (load: $(cut -d' ' -f1-3 /proc/loadavg))"
bench/oidc.sh || status=1

echo
echo "== load after: $(uptime)"
[ "$status" = 0 ] && echo "bench: every target met" || echo "bench: a target was missed (see above)"
exit "$status"
