# Two commands do everything on a fresh Debian 12 machine:
#   make run    installs what is missing, builds, and serves the insurance example
#   make test   installs what is missing, builds, and runs every test (unit + integration)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build run chat test test-asan test-tsan fuzz bench install clean

deps:
	@bash .ci/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
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

fuzz: deps
	CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCHARLA_FUZZ=ON -DCHARLA_BENCH=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_webhook fuzz_outbound
	mkdir -p build-fuzz/corpus-webhook build-fuzz/corpus-outbound
	cp ../shared/whatsapp/payloads/*.json build-fuzz/corpus-webhook/ 2>/dev/null || cp tests/fuzz/*.json build-fuzz/corpus-webhook/ 2>/dev/null || true
	./build-fuzz/tests/fuzz/fuzz_webhook -max_total_time=$${FUZZ_SECONDS:-60} build-fuzz/corpus-webhook
	./build-fuzz/tests/fuzz/fuzz_outbound -max_total_time=$${FUZZ_SECONDS:-60} build-fuzz/corpus-outbound

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
