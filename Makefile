# Thin wrapper over CMake: `make demo` and `make test` set everything up first.
BUILD ?= build
JOBS ?= $(shell nproc)
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
SOAK_SECONDS ?= 600

.PHONY: deps configure build demo test sanitize sanitize-address sanitize-thread soak bench clean

deps:
	@sh tools/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@$(BUILD)/ferry demo

test: build
	@cd $(BUILD) && ctest --output-on-failure -j 1

# The suites under sanitizers (tools/sanitize.sh), in their own build directories.
sanitize: sanitize-address sanitize-thread

# Every suite under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize-address: deps
	@FERRY_SANITIZE_BUILD=$(ASAN_BUILD) tools/sanitize.sh address

# Under ThreadSanitizer: the multi-threaded embedding test (one io_context run by 4 threads) and
# ferry serve's end-to-end cases (its loop and the pool threads it hands work to).
sanitize-thread: deps
	@FERRY_SANITIZE_BUILD=$(TSAN_BUILD) FERRY_BUILD_TARGETS="test_reliability ferry test_cli" \
		tools/sanitize.sh thread -R '^(reliability_threads|serve_threads)$$'

# A 10-minute soak (SOAK_SECONDS=60 for a short one): 1,000 transfers through a faulty origin,
# memory and descriptors watched (tools/soak, docs/benchmarks.md).
soak: configure
	@cmake --build $(BUILD) -j $(JOBS) --target ferry-soak
	@$(BUILD)/ferry-soak --duration $(SOAK_SECONDS) --json $(BUILD)/soak.json

bench: build
	@bench/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
