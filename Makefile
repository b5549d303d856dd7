# The README's two commands: `make run` and `make test`. Both install what
# they need first (scripts/install-deps.sh is fast when all is present).

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RUN_FLAGS ?= --dev

FUZZ_S ?= 60

.PHONY: all deps build run test test-build bench bench-deps fuzz fuzz-build clean format

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS) --target ledgerline

run: build
	./build/ledgerline serve $(RUN_FLAGS)

# The test build runs every unit and integration test under AddressSanitizer
# and UndefinedBehaviorSanitizer; CTest prints the summary line.
test-build: deps
	@cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DLL_SANITIZE=ON >/dev/null
	@cmake --build build-test -j $(JOBS)

# The Release binary is built too: optimised builds warn where debug ones
# don't, and `make run` must not be the first to find out.
test: build test-build
	cd build-test && ctest --output-on-failure -j $(JOBS) --timeout 600

# bench-deps adds nginx and its Nchan module for bench/vs_nchan.py; `make run`
# and `make test` never need them.
bench-deps:
	@./scripts/install-deps.sh bench

bench: bench-deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build-bench -j $(JOBS) --target ledgerline ll_vm_bench ll_verify_bench ll_pow_bench \
	       ll_stream_load ll_nats_dump
	/usr/bin/python3 bench/run.py build-bench/ledgerline
	/usr/bin/python3 bench/ingest.py build-bench/ledgerline
	/usr/bin/python3 bench/fanout.py build-bench/ledgerline 1000
	/usr/bin/python3 bench/vs_nchan.py build-bench/ledgerline 1000 0,5,10 --transport sse,ws
	/usr/bin/python3 bench/relay.py build-bench/ledgerline 1000 10
	/usr/bin/python3 bench/idle.py build-bench/ledgerline
	/usr/bin/python3 bench/tls.py build-bench/ledgerline 1000
	/usr/bin/python3 bench/hold.py build-bench/ledgerline
	/usr/bin/python3 bench/worst_contract.py build-bench/ledgerline
	/usr/bin/python3 bench/hostile.py build-bench/ledgerline
	/usr/bin/python3 bench/hostile_net.py build-bench/ledgerline

# Every libFuzzer target of fuzz/ for FUZZ_S seconds, one after another
# (clang, ASan+UBSan); prints each one's exec/s and coverage. New inputs
# and crashes stay in build-fuzz/ (fuzz/README.md says how to keep them).
fuzz: fuzz-build
	./fuzz/run.sh $(FUZZ_S) build-fuzz

fuzz-build:
	@./scripts/install-deps.sh fuzz
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	       -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DLL_SANITIZE=ON -DLL_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target \
	       fuzz_http fuzz_ws fuzz_streams fuzz_tx fuzz_config fuzz_vm

clean:
	rm -rf build build-test build-bench build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
