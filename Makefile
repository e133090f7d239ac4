# Two commands do everything on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, and serves the insurance example
#   make test   installs what is missing, builds, and runs every test (unit + integration)
BUILD ?= build
# Release: what users run and what CI tests, built once.
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# Developers and CI build with warnings as errors; a plain `cmake` build does not.
WERROR ?= ON
FUZZERS ?= webhook outbound config admin json_lua
FUZZ_SECONDS ?= 60

.PHONY: deps build run chat test test-asan test-tsan fuzz bench install clean

deps:
	@bash .ci/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCHARLA_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# A local admin token so /admin works out of the box; set your own in production.
run: build
	@echo "charla: serving the insurance example on http://127.0.0.1:$${CHARLA_HTTP_PORT:-8080} (admin token: $${CHARLA_ADMIN_TOKEN:-dev-admin-token})"
	CHARLA_ADMIN_TOKEN=$${CHARLA_ADMIN_TOKEN:-dev-admin-token} ./$(BUILD)/charla serve -c examples/insurance/charla.json

chat: build
	./$(BUILD)/charla chat -c examples/insurance/charla.json

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DCHARLA_ASAN=ON -DCHARLA_BENCH=OFF"

test-tsan:
	$(MAKE) build BUILD=build-tsan CMAKE_FLAGS="-DCHARLA_TSAN=ON -DCHARLA_BENCH=OFF"
	cd build-tsan && ctest --output-on-failure -L unit -j $(JOBS)

# Every libFuzzer target for FUZZ_SECONDS each (FUZZERS=config runs one). New inputs go
# to build-fuzz/corpus/<name>; the checked-in seeds in tests/fuzz/corpus/<name> are read only.
fuzz: deps
	CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCHARLA_FUZZ=ON -DCHARLA_BENCH=OFF -DCHARLA_WERROR=$(WERROR) >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target $(addprefix fuzz_,$(FUZZERS))
	@for f in $(FUZZERS); do \
	  mkdir -p build-fuzz/corpus/$$f; \
	  echo "fuzz_$$f: $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/tests/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 \
	    build-fuzz/corpus/$$f tests/fuzz/corpus/$$f || exit 1; \
	done

# Binary to /usr/local/bin, flows and docs to /usr/local/share, config example, env file
# and systemd unit to /etc (docs/operations.md). PREFIX and DESTDIR are honoured.
PREFIX ?= /usr/local
install: deps
	cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHARLA_TESTS=OFF -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build-release -j $(JOBS)
	cmake --install build-release

bench: deps
	bash bench/run.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz build-release
