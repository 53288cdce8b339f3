# Shop: one non-recursive build for the common library, the seven programs and
# the test runner. `make` builds, `make test` runs every suite, `make asan`
# runs them again under AddressSanitizer and UndefinedBehaviorSanitizer.

BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SAN     ?=
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -fno-common
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SAN) -MMD -MP -Icommon
LDFLAGS := $(SAN) -pthread
LDLIBS  := -lcivetweb -lcurl -lsqlite3 -lcjson -ldl -lm
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

ifneq ($(SAN),)
  CFLAGS += -fno-omit-frame-pointer
endif

OBJ := $(BUILD)/obj
BIN := $(BUILD)/bin

# Program folder -> binary name.
PROGRAMS := services/item:item-service services/user:user-service \
            services/coupon:coupon-service services/order:order-service \
            services/payment:payment-service services/data-platform:data-platform \
            api-gateway:api-gateway

prog_dir  = $(word 1,$(subst :, ,$(1)))
prog_name = $(word 2,$(subst :, ,$(1)))

COMMON_SRCS := $(wildcard common/*.c)
COMMON_OBJS := $(COMMON_SRCS:%.c=$(OBJ)/%.o)
COMMON_LIB  := $(BUILD)/libshopcommon.a

# Everything of a program but main.c is linkable by the tests.
prog_lib_srcs = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
ALL_PROG_DIRS := $(foreach p,$(PROGRAMS),$(call prog_dir,$(p)))
PRESENT_PROGRAMS := $(foreach p,$(PROGRAMS),$(if $(wildcard $(call prog_dir,$(p))/main.c),$(p)))
PROG_LIB_OBJS := $(foreach d,$(ALL_PROG_DIRS),$(patsubst %.c,$(OBJ)/%.o,$(call prog_lib_srcs,$(d))))
BINARIES := $(foreach p,$(PRESENT_PROGRAMS),$(BIN)/$(call prog_name,$(p)))

# Test runner: every tests/unit/check_X.c and tests/integration/check_X.c
# exports `Suite *X_suite(void)`; the runner adds them all.
UNIT_SRCS := $(wildcard tests/unit/check_*.c)
IT_SRCS   := $(wildcard tests/integration/check_*.c)
TEST_SUPPORT_SRCS := $(filter-out tests/integration/check_%.c,$(wildcard tests/integration/*.c))
TEST_SRCS := tests/runner.c $(UNIT_SRCS) $(IT_SRCS) $(TEST_SUPPORT_SRCS)
TEST_OBJS := $(TEST_SRCS:%.c=$(OBJ)/%.o)
SUITE_NAMES := $(patsubst check_%.c,%,$(notdir $(UNIT_SRCS) $(IT_SRCS)))
TEST_BIN := $(BIN)/shop-tests

TOOLS :=

.PHONY: all test asan deps deps-check clean run start stop format format-check lint \
        up down base-image test-compose
.DEFAULT_GOAL := all

all: $(COMMON_LIB) $(BINARIES) $(TOOLS)

# --- dependencies ---------------------------------------------------------
# Installs the Debian packages when a header or library is missing, saying so.
deps-check:
	@deploy/deps.sh check >/dev/null 2>&1 || { \
	  echo "make: build dependencies missing; installing them (deploy/deps.sh install)"; \
	  deploy/deps.sh install; }

deps:
	deploy/deps.sh install

# --- compile --------------------------------------------------------------
$(OBJ)/%.o: %.c | deps-check
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# Test files get every suite's prototype (-Wmissing-prototypes) from the
# generated header, so a suite is declared by its file name alone.
$(OBJ)/tests/%.o: CFLAGS += -Itests/integration -I$(BUILD)/gen -include $(BUILD)/gen/suite_decls.h
$(TEST_OBJS): $(BUILD)/gen/suites.inc

$(COMMON_LIB): $(COMMON_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

define PROGRAM_RULE
$(BIN)/$(call prog_name,$(1)): $(OBJ)/$(call prog_dir,$(1))/main.o \
    $(patsubst %.c,$(OBJ)/%.o,$(call prog_lib_srcs,$(call prog_dir,$(1)))) $(COMMON_LIB)
	@mkdir -p $$(@D)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(LDLIBS)
endef
$(foreach p,$(PRESENT_PROGRAMS),$(eval $(call PROGRAM_RULE,$(p))))

# The suite list changes only when test files come or go.
$(BUILD)/gen/suites.inc: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(foreach s,$(SUITE_NAMES),'SUITE($(s))') > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
	@test -f $(@D)/suite_decls.h || printf '#include <check.h>\n#define SUITE(name) Suite *name##_suite(void);\n#include "suites.inc"\n#undef SUITE\n' > $(@D)/suite_decls.h
FORCE:

$(TEST_BIN): $(TEST_OBJS) $(PROG_LIB_OBJS) $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

# --- test -----------------------------------------------------------------
# SHOP_BIN_DIR tells the integration tests which binaries to start.
test: all $(TEST_BIN)
	SHOP_BIN_DIR=$(BIN) $(TEST_BIN)
	$(MAKE) --no-print-directory lint-openapi
	$(MAKE) --no-print-directory test-metrics

# Slower binaries: Check's timeouts are stretched, never the assertions.
asan:
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	CK_TIMEOUT_MULTIPLIER=3 \
	$(MAKE) BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" test

# --- run ------------------------------------------------------------------
run: all
	deploy/runner.sh run

start: all
	deploy/runner.sh start

stop:
	deploy/runner.sh stop

# --- containers (deploy/docker-compose.yml, one image shop:local) ------------
# make up: build, start and wait until every service is healthy (gateway on
# 8080); make down: remove the containers, keep the volumes. make base-image:
# debian:bookworm-slim from debootstrap, for machines without an image
# registry (nothing happens when it is there). make test-compose: the flows,
# a crash and a down/up against the stack (tests/compose/run.sh).
up:
	deploy/compose.sh up

down:
	deploy/compose.sh down

base-image:
	deploy/base-image.sh

test-compose:
	tests/compose/run.sh

# --- hygiene --------------------------------------------------------------
FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRCS)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRCS)
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Icommon $(FORMAT_SRCS)

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- load generator, auditor, chaos (tests/load, tests/chaos) -------------
# shop-load and shop-audit: standalone (libcurl, cJSON, pthreads); their
# modules (everything in tests/load but the two mains) are unit-tested by
# tests/unit/check_load_*.c, so the test runner links them too. `all` is
# named again because TOOLS was already expanded in its prerequisites.
LOAD_MAINS    := tests/load/shop_load.c tests/load/shop_audit.c
LOAD_LIB_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(filter-out $(LOAD_MAINS),$(wildcard tests/load/*.c)))
LOAD_TOOLS    := $(BIN)/shop-load $(BIN)/shop-audit
TOOLS         += $(LOAD_TOOLS)
all: $(LOAD_TOOLS)
$(LOAD_LIB_OBJS) $(LOAD_MAINS:%.c=$(OBJ)/%.o): | $(BUILD)/gen/suites.inc
$(BIN)/shop-load: $(OBJ)/tests/load/shop_load.o $(LOAD_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lcurl -lcjson -lm
$(BIN)/shop-audit: $(OBJ)/tests/load/shop_audit.o $(LOAD_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lcurl -lcjson -lm
$(TEST_BIN): $(LOAD_LIB_OBJS)
# make chaos: kill -9, SIGSTOP and data-platform faults under load, then the
# audit (CHAOS_SECONDS, default 60). make load: the same run without faults
# (LOAD_SECONDS, LOAD_MIX=success for the order+pay benchmark).
.PHONY: chaos load
chaos: all
	SHOP_BIN_DIR=$(BIN) tests/chaos/chaos.sh
load: all
	SHOP_BIN_DIR=$(BIN) tests/chaos/chaos.sh --calm
# --- end of load generator, auditor, chaos ---------------------------------

# --- UI: shop console, API reference, OpenAPI (api-gateway/ui, tests/ui) ---
# The gateway serves api-gateway/ui/* and docs/openapi.yaml from its own
# binary: embed_ui.sh writes them into one generated C file of byte arrays
# (od and sed only), remade when any of them changes; the gateway and the
# test runner (routes.o refers to it) link its object.
UI_EMBED := index.html=api-gateway/ui/index.html console.css=api-gateway/ui/console.css \
            console.js=api-gateway/ui/console.js docs.html=api-gateway/ui/docs.html \
            docs.css=api-gateway/ui/docs.css docs.js=api-gateway/ui/docs.js \
            vendor/redoc.standalone.js=api-gateway/ui/vendor/redoc.standalone.js \
            openapi.yaml=docs/openapi.yaml
UI_GEN_C := $(BUILD)/gen/ui_assets.c
UI_GEN_O := $(OBJ)/gen/ui_assets.o
$(UI_GEN_C): api-gateway/embed_ui.sh $(foreach f,$(UI_EMBED),$(word 2,$(subst =, ,$(f))))
	@mkdir -p $(@D)
	sh api-gateway/embed_ui.sh $@ $(UI_EMBED)
$(UI_GEN_O): $(UI_GEN_C) api-gateway/ui_assets.h | deps-check
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iapi-gateway -c $< -o $@
$(BIN)/api-gateway: $(UI_GEN_O)
$(TEST_BIN): $(UI_GEN_O)
# make lint-openapi: @redocly/cli (pinned in tests/ui) lints docs/openapi.yaml.
# make test-ui: a stack of its own, Debian's chromium driven by
# playwright-core through the console and /docs; screenshots in $(BUILD)/ui.
.PHONY: lint-openapi test-ui
lint-openapi:
	tests/ui/run.sh lint
test-ui: all
	SHOP_BIN_DIR=$(BIN) UI_SHOT_DIR=$(BUILD)/ui tests/ui/run.sh test
# --- end of UI --------------------------------------------------------------

# --- fuzzing (tests/fuzz) ---------------------------------------------------
# make fuzz: every libFuzzer harness tests/fuzz/fuzz_*.c for FUZZ_SECONDS
# (default 60) each, FUZZ_JOBS (default: the cores) at a time, built by
# clang with ASan, UBSan and fuzzer coverage in FUZZ_BUILD (build-fuzz);
# clang and its fuzzer runtime are installed first when missing. Seeds and
# regression inputs: tests/fuzz/corpus/<harness>/; new inputs and crashes go
# to FUZZ_BUILD. make fuzz-short: 10 s each (CI). make fuzz-regress: the
# committed corpus once. make fuzz-http: FUZZ_HTTP_REQUESTS (100000)
# malformed requests against a stack of `make asan` binaries
# (FUZZ_HTTP_BUILD, build-asan; tests/fuzz/http_fuzz.sh).
FUZZ_BUILD         ?= build-fuzz
FUZZ_SECONDS       ?= 60
FUZZ_HARNESS_SRCS  := $(filter-out tests/fuzz/fuzz_support.c,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_HARNESSES     := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_HARNESS_SRCS))
FUZZ_OBJS          := $(patsubst %.c,$(OBJ)/%.o,$(FUZZ_HARNESS_SRCS) tests/fuzz/fuzz_support.c)
FUZZ_SAN           := -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link
FUZZ_ASAN_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
.PHONY: fuzz fuzz-short fuzz-regress fuzz-build fuzz-harnesses fuzz-http fuzz-http-tool
fuzz-build:
	@tests/fuzz/ensure-clang.sh
	$(MAKE) CC=clang BUILD=$(FUZZ_BUILD) OPT=-O1 SAN="$(FUZZ_SAN)" fuzz-harnesses
fuzz-harnesses: $(FUZZ_HARNESSES:%=$(BIN)/fuzz_%)
$(FUZZ_OBJS): $(BUILD)/gen/suites.inc
# A harness links the services' pure *_logic objects; the router's links
# every route table, so all of each program but main.c.
FUZZ_LOGIC_OBJS    := $(filter %_logic.o,$(PROG_LIB_OBJS))
$(BIN)/fuzz_%: $(OBJ)/tests/fuzz/fuzz_%.o $(OBJ)/tests/fuzz/fuzz_support.o $(FUZZ_LOGIC_OBJS) \
    $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(COMMON_LIB) $(LDLIBS)
$(BIN)/fuzz_router: $(PROG_LIB_OBJS) $(UI_GEN_O)
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_HARNESSES)
fuzz-short: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) 10 $(FUZZ_HARNESSES)
fuzz-regress: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) 0 $(FUZZ_HARNESSES)
# The black-box fuzzer is a plain program; the stack it fires at is the
# sanitizer build of `make asan` (build-asan), made here when missing.
fuzz-http-tool: $(BIN)/http_fuzz
$(OBJ)/tests/fuzz/http_fuzz.o: $(BUILD)/gen/suites.inc
$(BIN)/http_fuzz: $(OBJ)/tests/fuzz/http_fuzz.o $(COMMON_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
FUZZ_HTTP_BUILD    ?= build-asan
fuzz-http:
	$(MAKE) BUILD=$(FUZZ_HTTP_BUILD) OPT=-O1 SAN="$(FUZZ_ASAN_SAN)" all fuzz-http-tool
	tests/fuzz/http_fuzz.sh $(FUZZ_HTTP_BUILD)/bin
# --- end of fuzzing ---------------------------------------------------------

# --- flood: idle and slowloris connections against the gateway (tests/flood) -
# flood: the tool (raw sockets, one poll thread). Its engine, flood_conn.c, is
# linked into the test runner too, for tests/integration/check_it_flood.c.
# make flood: a stack of its own; shop-load alone, then with 1,000 idle and
# 100 slowloris connections held against the gateway (FLOOD_ROUNDS of
# FLOOD_SECONDS each, default 3 x 10 s); fails below 80% of the throughput
# alone or on any load error (tests/flood/README.md).
FLOOD_LIB_OBJS := $(OBJ)/tests/flood/flood_conn.o
FLOOD_TOOL     := $(BIN)/flood
TOOLS          += $(FLOOD_TOOL)
all: $(FLOOD_TOOL)
$(FLOOD_LIB_OBJS) $(OBJ)/tests/flood/flood.o: $(BUILD)/gen/suites.inc
$(FLOOD_TOOL): $(OBJ)/tests/flood/flood.o $(FLOOD_LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^
$(TEST_BIN): $(FLOOD_LIB_OBJS)
.PHONY: flood
flood: all
	SHOP_BIN_DIR=$(BIN) tests/flood/flood.sh
# --- end of flood -------------------------------------------------------------

# --- bench and metrics tests (tests/bench) -----------------------------------
# make bench: a stack of its own, built as the Makefile builds (OPT, -O2 by
# default): disk commit rate, wrk on item-service / api-gateway / nginx,
# order+pay sagas at 8..128 clients, memory (RSS and PSS); one Markdown
# table, $(BUILD)/bench/results.json and sagas.png (tests/bench/README.md).
# make test-metrics (part of make test): every program's GET /metrics after
# known traffic, checked by promtool and against the requests sent.
BENCH_TOOL := $(BIN)/commit-rate
TOOLS      += $(BENCH_TOOL)
all: $(BENCH_TOOL)
$(OBJ)/tests/bench/commit_rate.o: $(BUILD)/gen/suites.inc
$(BENCH_TOOL): $(OBJ)/tests/bench/commit_rate.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lsqlite3
.PHONY: bench test-metrics
bench: all
	SHOP_BIN_DIR=$(BIN) BENCH_OUT=$(BUILD)/bench BENCH_BUILD="$(strip $(OPT) $(SAN))" tests/bench/bench.sh
test-metrics: all
	SHOP_BIN_DIR=$(BIN) tests/bench/metrics_test.sh
# --- end of bench and metrics tests ------------------------------------------

# --- swarm: the shop on Docker Swarm (deploy/docker-stack.yml, tests/swarm) --
# make swarm-up: a single-node swarm when the engine is in none (127.0.0.1),
# the node label shop.data=true, the token secrets, shop:local when missing,
# `docker stack deploy`, then a wait until every service is healthy
# (deploy/swarm.sh; stack SHOP_STACK, default shop). make swarm-down: removes
# what swarm-up made, leaves the swarm if swarm-up joined it; the volumes
# stay (`deploy/swarm.sh down -v` drops them). make test-swarm: the flows,
# shop-load during a rolling update of the gateway and a kill -9 of
# order-service, shop-audit after each (tests/swarm/run.sh; needs root).
.PHONY: swarm-up swarm-down test-swarm
swarm-up:
	deploy/swarm.sh up
swarm-down:
	deploy/swarm.sh down
test-swarm: $(BIN)/shop-load $(BIN)/shop-audit
	SHOP_BIN_DIR=$(BIN) tests/swarm/run.sh
# --- end of swarm -------------------------------------------------------------
