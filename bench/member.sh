#!/usr/bin/env bash
# Runs the member-data benchmarks of BENCHMARKS.md §5 and exits non-zero
# when a target is missed:
#   1. the member API read (decryption included) against the same read
#      with encryption disabled (-tags kaiin_plainprofile), in interleaved
#      pairs (bench/memberapi): overhead at most 1.3;
#   2. the blind-index lookup by email at 1,000,000 members in a fresh
#      PostgreSQL database, seeded with COPY (bench/blindindex): p99 < 5 ms.
# Both need PostgreSQL (and 1. Redis) on 127.0.0.1 (scripts/test-services).
#
#   PAIRS=4 BENCHTIME=4s MEMBERS=1000000 bench/member.sh
set -uo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-4}
BENCHTIME=${BENCHTIME:-4s}
BACKENDS=${BACKENDS:-sqlite,postgres+redis}
MEMBERS=${MEMBERS:-1000000}
status=0

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version)"
echo "== load before: $(uptime)"
echo
echo "== 5.1 member API read, sealed vs plain (interleaved pairs)"
echo "go run ./bench/memberapi -pairs $PAIRS -benchtime $BENCHTIME -backends $BACKENDS"
go run ./bench/memberapi -pairs "$PAIRS" -benchtime "$BENCHTIME" -backends "$BACKENDS" || status=1
echo
echo "== 5.2 blind-index lookup at $MEMBERS members (PostgreSQL)"
echo "== load before: $(uptime)"
echo "go run ./bench/blindindex -n $MEMBERS"
go run ./bench/blindindex -n "$MEMBERS" || status=1
echo
echo "== load after: $(uptime)"
exit $status
