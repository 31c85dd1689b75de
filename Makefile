# metallb-node-route-agent
#   make            build build/metallb-nra and build/nra-monitor
#   make test       unit + integration tests, then the same under ASan+UBSan
#   make demo       run the agent in a throwaway network namespace (as root: through sudo when not root)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (clang 14, ASan+UBSan)
#   make fuzz-smoke replay every fuzz corpus and regression input once
# Missing build dependencies are installed from Debian (third_party/install-deps.sh).

BUILD    ?= build
SAN      ?=
CXX      ?= g++
PYTHON   ?= python3
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
NPROC    := $(shell nproc 2>/dev/null || echo 2)

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++20 -Wall -Wextra -Werror -Iinclude -MMD -MP -DNRA_VERSION='"$(VERSION)"'
LDLIBS   := -lmnl -lyaml -lssl -lcrypto -lsimdjson -lcares
ifeq ($(STATIC),1)
# Fully static binary for FROM scratch images and minimal nodes: libmnl, OpenSSL,
# libyaml and simdjson come from third_party/fetch-static.sh, pinned by version
# and SHA-256 in third_party/static.lock; the C library from the toolchain.
SLIB     := third_party/static/lib
CXXFLAGS += -Ithird_party/static/include -Ithird_party/static/simdjson
LDFLAGS  += -static
LDLIBS   := $(SLIB)/libmnl.a $(SLIB)/libyaml.a $(SLIB)/libssl.a $(SLIB)/libcrypto.a $(SLIB)/libcares.a -lpthread
endif
ifeq ($(SAN),1)
# GCC 12 reports false -Wmaybe-uninitialized under the sanitizers (std::regex,
# std::function); the normal build keeps the warning as an error.
CXXFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(FUZZ),1)
# libFuzzer build (make fuzz): CXX is clang++-14, everything instrumented for
# coverage and under ASan+UBSan; the targets link libFuzzer's main.
CXXFLAGS += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=fuzzer,address,undefined
endif

# One static library per layer, dependencies one way (tools/checks/layers.py):
#   base < doc < core < netlink, kube < sources < agent < tools
LAYERS    := base doc core netlink kube sources agent
layer_srcs = $(filter-out src/agent/main.cpp,$(sort $(wildcard src/$(1)/*.cpp)))
layer_lib  = $(BUILD)/lib/libnra_$(1).a
# Link order: highest layer first.
LIBS      := $(foreach l,agent sources kube netlink core doc base,$(call layer_lib,$(l)))
LIB_SRCS  := $(foreach l,$(LAYERS),$(call layer_srcs,$(l)))
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/*.cpp))
UNIT_OBJS := $(UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o)
NLT_SRCS  := $(sort $(wildcard tests/netlink/*.cpp))
NLT_OBJS  := $(NLT_SRCS:%.cpp=$(BUILD)/obj/%.o)
MON_SRCS  := $(sort $(wildcard tools/monitor/*.cpp))
MON_OBJS  := $(MON_SRCS:%.cpp=$(BUILD)/obj/%.o)
PROBE_OBJS := $(BUILD)/obj/tools/bench/probe.o
# One libFuzzer target per tests/fuzz/targets/NAME.cpp: binary build/fuzz/NAME,
# corpus tests/fuzz/corpus/NAME/, crash regressions tests/fuzz/regressions/NAME/,
# optional dictionary tests/fuzz/dict/NAME.dict.
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/targets/*.cpp))
FUZZ_OBJS  := $(FUZZ_SRCS:%.cpp=$(BUILD)/obj/%.o)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/targets/%.cpp=%)
FUZZ_CXX     ?= clang++-14
FUZZ_SECONDS ?= 180
FUZZ_MAX_LEN ?= 2048
FUZZ_TARGETS ?= $(FUZZ_NAMES)

AGENT   := $(BUILD)/metallb-nra
MONITOR := $(BUILD)/nra-monitor
UNIT    := $(BUILD)/unit-tests
NLTEST  := $(BUILD)/netlink-kernel-tests
PROBE   := $(BUILD)/nra-bench-probe

.PHONY: fuzz-build fuzz fuzz-smoke
.PHONY: all deps check check-layers check-format format compile_commands test unit netlink-test integration asan test-asan static test-static image-test deploy-test bench bench-smoke demo clean
all: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(AGENT) $(MONITOR) $(UNIT) $(NLTEST) $(PROBE)

deps:
	@./third_party/install-deps.sh

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# Catch2's generated main: slow to compile and noisy under GCC 12's
# -Wmaybe-uninitialized in <regex>; it is not our code.
$(BUILD)/obj/tests/unit/main.o $(BUILD)/obj/tests/netlink/main.o: CXXFLAGS += -O0 -g0 -Wno-maybe-uninitialized

define LAYER_LIB
$(call layer_lib,$(1)): $(patsubst %.cpp,$(BUILD)/obj/%.o,$(call layer_srcs,$(1)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call LAYER_LIB,$(l))))

$(AGENT): $(BUILD)/obj/src/agent/main.o $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(MONITOR): $(MON_OBJS) $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The benchmark's netlink instrument (tools/bench/probe.cpp).
$(PROBE): $(PROBE_OBJS) $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT): $(UNIT_OBJS) $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Kernel-level netlink tests: the binary unshares its own network namespace.
$(NLTEST): $(NLT_OBJS) $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit: all
	$(UNIT)

# The fast loop: no root, no kernel, no network (unit tests, the codec tests,
# the include layering). Builds only what it runs.
check: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(UNIT)
	$(UNIT)
	$(PYTHON) tools/checks/layers.py

check-layers:
	$(PYTHON) tools/checks/layers.py

check-format: deps
	./tools/checks/format.sh

format:
	./tools/checks/format.sh --fix

# compile_commands.json for clangd / clang-tidy, from the same flags.
compile_commands:
	@mkdir -p $(BUILD)
	$(file >$(BUILD)/cxxflags,$(CXXFLAGS))
	$(PYTHON) tools/checks/compile_commands.py --cxx "$(CXX)" --flags-file $(BUILD)/cxxflags > compile_commands.json

netlink-test: all
	$(NLTEST)

integration: all
	$(PYTHON) tests/fakeapi/selftest.py
	$(PYTHON) tests/integration/run.py --agent $(AGENT) --monitor $(MONITOR)

static: deps
	./third_party/fetch-static.sh
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build/static STATIC=1 build/static/metallb-nra build/static/nra-monitor

# The static binaries alone in an empty root (what the FROM scratch image holds).
test-static: static
	./tools/static-smoke.sh build/static

$(BUILD)/obj/simdjson.o: third_party/static/simdjson/simdjson.cpp
	@mkdir -p $(dir $@)
	$(CXX) -std=c++20 -O2 -w -Ithird_party/static/simdjson -c $< -o $@

ifeq ($(STATIC),1)
$(AGENT) $(MONITOR): $(BUILD)/obj/simdjson.o
endif

asan: deps
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build/asan SAN=1 build/asan/metallb-nra build/asan/nra-monitor build/asan/unit-tests build/asan/netlink-kernel-tests build/asan/nra-bench-probe

test-asan: asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 build/asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 build/asan/netlink-kernel-tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(PYTHON) tests/integration/run.py --agent build/asan/metallb-nra --monitor build/asan/nra-monitor --sanitized

# Fuzzing (docs/reliability/fuzz.md): our library and the targets compiled by
# clang 14 with -Werror into build/fuzz. `make fuzz` runs each target for
# FUZZ_SECONDS (inputs up to FUZZ_MAX_LEN bytes) and merges the inputs that
# add coverage into the tree's corpus; a crash stops it, the input is in
# build/fuzz/artifacts/NAME/.
# `make fuzz-smoke` replays every corpus and regression input once and fails
# on any crash, leak, UB or input taking longer than 10 s.
fuzz-build:
	@./third_party/install-deps.sh fuzz
	@$(MAKE) --no-print-directory -j$(NPROC) BUILD=build/fuzz FUZZ=1 CXX=$(FUZZ_CXX) $(FUZZ_NAMES:%=build/fuzz/%)

$(FUZZ_NAMES:%=$(BUILD)/%): $(BUILD)/%: $(BUILD)/obj/tests/fuzz/targets/%.o $(LIBS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(LDLIBS)

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		new=build/fuzz/new/$$t; rm -rf $$new; mkdir -p $$new build/fuzz/artifacts/$$t tests/fuzz/corpus/$$t; \
		dict=; [ ! -f tests/fuzz/dict/$$t.dict ] || dict=-dict=tests/fuzz/dict/$$t.dict; \
		reg=; [ ! -d tests/fuzz/regressions/$$t ] || reg=tests/fuzz/regressions/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -timeout=10 -print_final_stats=1 $$dict \
			-artifact_prefix=build/fuzz/artifacts/$$t/ $$new tests/fuzz/corpus/$$t $$reg; \
		build/fuzz/$$t -merge=1 -max_len=$(FUZZ_MAX_LEN) -timeout=10 -artifact_prefix=build/fuzz/artifacts/$$t/ tests/fuzz/corpus/$$t $$new 2>&1 | tail -1; \
	done

fuzz-smoke: fuzz-build
	@set -e; for t in $(FUZZ_NAMES); do \
		dirs=; for d in corpus regressions; do [ ! -d tests/fuzz/$$d/$$t ] || dirs="$$dirs tests/fuzz/$$d/$$t"; done; \
		mkdir -p build/fuzz/artifacts/$$t; \
		build/fuzz/$$t -runs=0 -timeout=10 -artifact_prefix=build/fuzz/artifacts/$$t/ $$dirs >build/fuzz/$$t.smoke.log 2>&1 \
			|| { cat build/fuzz/$$t.smoke.log; echo "fuzz-smoke: $$t FAILED (log above)"; exit 1; }; \
		echo "fuzz-smoke: $$t: $$(find $$dirs -type f | wc -l) inputs ok"; \
	done

# deploy/ checks: kustomize overlays, Dockerfile, systemd units (no build, no
# root; skipped with a message when kubectl or systemd-analyze is missing).
deploy-test:
	$(PYTHON) tests/deploy/test_deploy.py
	./third_party/fetch-helm.sh >/dev/null
	$(PYTHON) tests/deploy/test_helm.py

# The FROM scratch image (deploy/Containerfile.local) built from the static
# binary and run with podman as the DaemonSet runs it (docs/deploy.md).
image-test: static
	./third_party/install-image-deps.sh
	$(PYTHON) tests/image/test_image.py --binary build/static/metallb-nra

# Benchmarks against the real kernel (a few minutes): prints a table and writes
# bench/results.json. bench-smoke: the same code with small N, in `make test`.
bench: all static
	$(PYTHON) tools/bench/bench.py --agent $(AGENT) --static build/static/metallb-nra --out bench/results.json

bench-smoke: all
	$(PYTHON) tools/bench/bench.py --agent $(AGENT) --smoke --out $(BUILD)/bench-smoke.json

# Root is needed (network namespaces): a normal user's `make test` is handed
# whole to sudo, `make demo` builds as the user and runs the demo through sudo
# (tools/as-root.sh; as root, with or without sudo, both run as they are).
ifeq ($(shell id -u),0)
test: check-layers check-format unit netlink-test integration test-static image-test deploy-test bench-smoke fuzz-smoke test-asan
else
test:
	@./tools/as-root.sh $(MAKE) test
endif

demo: all
	./tools/as-root.sh ./tools/demo.sh $(AGENT)

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(MON_OBJS:.o=.d) $(NLT_OBJS:.o=.d) $(PROBE_OBJS:.o=.d) $(BUILD)/obj/src/agent/main.d
