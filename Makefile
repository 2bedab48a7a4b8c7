# Thin wrapper over CMake: `make demo` and `make test` set everything up first.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps configure build demo test bench clean

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

bench: build
	@bench/run.sh

clean:
	rm -rf $(BUILD)
