# Kaiin. `make build` builds ./kaiin; `make test` runs the whole suite;
# `make bench` runs the benchmarks behind BENCHMARKS.md (bench/run.sh).
GO ?= go

.PHONY: build test bench

build:
	$(GO) build -o kaiin ./cmd/kaiin

test:
	scripts/test

bench:
	bench/run.sh
