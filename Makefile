# The two set-up commands of the README: `make demo` and `make test`.
# Both install what is missing first (scripts/bootstrap.sh).
PRESET ?= release
JOBS ?= $(shell nproc)

.PHONY: all bootstrap build build-dev test demo bench clean

all: build

bootstrap:
	@bash scripts/bootstrap.sh

# The two binaries only (the tests build with `make test`, benchmarks with `make bench`).
build: bootstrap
	@cmake --preset $(PRESET) >/dev/null
	@cmake --build --preset $(PRESET) -j $(JOBS) --target desirelines strava-sim
	@mkdir -p build/bin
	@ln -sf ../$(PRESET)/bin/desirelines build/bin/desirelines
	@ln -sf ../$(PRESET)/bin/strava-sim build/bin/strava-sim

build-dev: bootstrap
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j $(JOBS)

# The whole test suite, on the debug build with AddressSanitizer and UBSan.
test: bootstrap
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j $(JOBS)
	@bash scripts/run-tests.sh

demo: build
	@bash scripts/demo.sh

bench: build
	@cmake --build --preset $(PRESET) -j $(JOBS) --target store_ingest_bench strava_parse_bench webhook_intake_bench http_server_bench
	@echo "benchmarks built in build/$(PRESET)/bin; run bash bench/backfill_bench.sh (see docs/PERFORMANCE.md)"

clean:
	rm -rf build
