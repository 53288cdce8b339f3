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

.PHONY: all test asan deps deps-check clean run start stop format format-check lint
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
