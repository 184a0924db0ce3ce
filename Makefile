# racerepro: build variants, soak, fuzz, bench, test, deps, clean.
#
#   make [SAN=none|asan|tsan|ubsan]     build/<san>/racerepro
#   make soak SCENARIO=broken_pipe [VARIANT=both] [DURATION=60s] [SAN=none] [STRATEGY=portfolio] [JOBS=1]
#   make test                           unit + end-to-end tests, plain, ASan and TSan builds
#   make fuzz SCENARIO=x ENGINE=libfuzzer|libfuzzer-tsan|afl [VARIANT=buggy] [DURATION=60s] [JOBS=1]   (fuzz/README.md)
#   make bench [BENCH=quick]            reports/bench.{md,json,svg} (build/<san>/racerepro-bench)
#   make deps                           install what is missing (scripts/install-deps.sh)

SAN ?= none
SANITIZERS := none asan tsan ubsan
ifeq ($(filter $(SAN),$(SANITIZERS)),)
$(error SAN=$(SAN) is not a known build; use one of: $(SANITIZERS))
endif

CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

BUILDROOT ?= build
BUILD := $(BUILDROOT)/$(SAN)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
# snprintf into fixed buffers truncates on purpose (names, messages); gcc's
# guess that it might is not a finding. clang has no such warning.
ifneq ($(findstring gcc,$(CC)),)
WARN += -Wno-format-truncation
endif
BASE_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -pthread $(WARN) -Iharness/include -Iharness -Iscenarios
SAN_FLAGS_none :=
SAN_FLAGS_asan := -fsanitize=address -fno-sanitize-recover=all -DRR_BUILD_ASAN
SAN_FLAGS_tsan := -fsanitize=thread -DRR_BUILD_TSAN
SAN_FLAGS_ubsan := -fsanitize=undefined -fno-sanitize-recover=all -DRR_BUILD_UBSAN
CFLAGS_ALL := $(BASE_CFLAGS) $(SAN_FLAGS_$(SAN)) -DRR_BUILD_NAME=\"$(SAN)\" $(CFLAGS)
LDLIBS_ALL := -pthread -luring -lssl -lcrypto -ljansson -lm $(LDLIBS)

# The layers, each linking only the ones below it:
#   librrcore.a    one iteration in this process: engine, scheduler, trace, the
#                  scenario API (context, lifetime, completion port),
#                  strategies, seeds, reproducers. Scenarios, the fuzz targets
#                  and the runtime link it; it calls up only into the scenario
#                  registry (rr__scenario_find), which whoever links provides.
#   librrdriver.a  worker processes and what they leave: supervisor, evidence,
#                  oracle, forensics, reports, minimization.
#   racerepro      the command line (cli.c, ftok_audit.c, main.c), the
#                  registry and the scenarios, over both libraries.
#   racerepro-bench  bench/bench.c over the same: the benchmark is a program
#                  of its own, never linked into racerepro or a fuzz target.
CORE_SRC := $(addprefix harness/,engine.c sched.c affinity.c trace.c context.c lifetime.c cport.c \
	strategy.c schedule.c seed.c repro.c fileio.c sanitizer.c sweep.c)
DRIVER_SRC := $(addprefix harness/,supervisor.c evidence.c oracle.c forensics.c report.c \
	events.c report_html.c report_rebuild.c minimize.c exec.c greybox.c)
TOOL_SRC := $(addprefix harness/,cli.c cli_exec.c ftok_audit.c)
HARNESS_SRC := $(CORE_SRC) $(DRIVER_SRC) $(TOOL_SRC)
ifneq ($(sort $(HARNESS_SRC) harness/main.c harness/registry.c),$(sort $(wildcard harness/*.c)))
$(error harness/*.c and the layers in the Makefile disagree: put each file in one layer)
endif
SCENARIO_SRC := $(wildcard scenarios/*.c)
CORE_LIB := $(BUILD)/librrcore.a
DRIVER_LIB := $(BUILD)/librrdriver.a
SCENARIO_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(SCENARIO_SRC))
TOOL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(TOOL_SRC))
MAIN_OBJ := $(BUILD)/obj/harness/main.o
REGISTRY_OBJ := $(BUILD)/obj/harness/registry.o
TEST_REGISTRY_OBJ := $(BUILD)/obj/harness/registry-test.o
TEST_SCENARIO_OBJ := $(BUILD)/obj/tests/test_scenarios.o
BENCH_OBJ := $(BUILD)/obj/bench/bench.o $(BUILD)/obj/bench/search.o
BIN := $(BUILD)/racerepro
TEST_BIN := $(BUILD)/racerepro-test
BENCH_BIN := $(BUILD)/racerepro-bench
# ---- exec mode's runtime ----------------------------------------------------
# Preloaded into the user's program: the scheduler core compiled -fPIC and
# never with a sanitizer of its own (the program brings one if it wants).
# rr-cov.o holds the load/store hooks `racerepro cc` links into programs.
RT_SRC := harness/runtime/rt.c $(addprefix harness/,sched.c trace.c strategy.c schedule.c seed.c context.c \
	repro.c fileio.c affinity.c sweep.c)
RT_OBJ := $(patsubst %.c,$(BUILD)/rt/%.o,$(RT_SRC))
RT_LIB := $(BUILD)/libracerepro-rt.so
RT_COV := $(BUILD)/rr-cov.o
RT_CFLAGS := $(BASE_CFLAGS) -fPIC -ftls-model=initial-exec -DRR_RUNTIME -DRR_BUILD_NAME=\"$(SAN)\"
# make BARE=1 (scripts/bench.sh, into its own BUILDROOT): the scenario files
# get racerepro_bare.h through -DRR_BARE, the benchmark's baseline; the
# harness's own files are unchanged.
SCENARIO_CFLAGS := $(if $(BARE),-DRR_BARE)
DEPS_STAMP := $(BUILDROOT)/.deps-$(shell id -u)
TEST_DEPS_STAMP := $(BUILDROOT)/.test-deps-$(shell id -u)

.PHONY: all deps soak test fuzz bench clean lint check-tests
all: $(BIN) $(BENCH_BIN) $(RT_LIB) $(RT_COV)

# Installs what is missing once; scripts/install-deps.sh --check is cheap.
# Building needs the build group (and gdb for crash backtraces); the tests
# need the test group too (cmocka, xmllint, PyYAML, chromium) and fuzz.
$(DEPS_STAMP):
	@mkdir -p $(BUILDROOT)
	@scripts/install-deps.sh --check build tools 2>/dev/null || scripts/install-deps.sh build tools
	@touch $@
$(TEST_DEPS_STAMP):
	@mkdir -p $(BUILDROOT)
	@scripts/install-deps.sh --check build tools test fuzz 2>/dev/null || \
		scripts/install-deps.sh build tools test fuzz
	@touch $@
deps:
	scripts/install-deps.sh all

$(BUILD)/obj/%.o: %.c $(DEPS_STAMP) $(wildcard harness/*.h harness/include/*.h bench/*.h scenarios/*.def tests/*.def)
	@mkdir -p $(dir $@)
	@echo "  CC [$(SAN)] $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/scenarios/%.o: scenarios/%.c $(DEPS_STAMP) $(wildcard harness/include/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC [$(SAN)] $<$(if $(BARE), (bare))"
	@$(CC) $(CFLAGS_ALL) $(SCENARIO_CFLAGS) -c $< -o $@

$(CORE_LIB): $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRC))
$(DRIVER_LIB): $(patsubst %.c,$(BUILD)/obj/%.o,$(DRIVER_SRC))
$(CORE_LIB) $(DRIVER_LIB):
	@echo "  AR [$(SAN)] $@"
	@rm -f $@
	@ar rcs $@ $^

$(TEST_REGISTRY_OBJ): harness/registry.c $(DEPS_STAMP) $(wildcard scenarios/*.def tests/*.def) \
		$(wildcard harness/*.h harness/include/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC [$(SAN)] $< (with test scenarios)"
	@$(CC) $(CFLAGS_ALL) -Itests -DRR_WITH_TEST_SCENARIOS -c $< -o $@

$(BIN): $(MAIN_OBJ) $(TOOL_OBJ) $(REGISTRY_OBJ) $(SCENARIO_OBJ) $(DRIVER_LIB) $(CORE_LIB) | $(RT_LIB) $(RT_COV)
	@echo "  LD [$(SAN)] $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/rt/%.o: %.c $(DEPS_STAMP) $(wildcard harness/*.h harness/include/*.h)
	@mkdir -p $(dir $@)
	@echo "  CC [rt] $<"
	@$(CC) $(RT_CFLAGS) -c $< -o $@
$(RT_LIB): $(RT_OBJ) harness/runtime/rt.map
	@echo "  LD [rt] $@"
	@$(CC) -shared -Wl,-z,defs -Wl,--version-script=harness/runtime/rt.map -o $@.tmp $(RT_OBJ) -ldl -pthread -lm
	@mv -f $@.tmp $@ # programs running now keep the old file: never a half-written one
$(RT_COV): harness/runtime/cov.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC [rt] $<"
	@clang -std=gnu11 -O2 -fPIC -Wall -Wextra -Werror -c $< -o $@

# The same binary plus scenarios that exist only to test the driver (a worker
# that crashes, one that hangs, a plain data race): never in the product.
$(TEST_BIN): $(MAIN_OBJ) $(TOOL_OBJ) $(TEST_REGISTRY_OBJ) $(TEST_SCENARIO_OBJ) $(SCENARIO_OBJ) \
		$(DRIVER_LIB) $(CORE_LIB) | $(RT_LIB) $(RT_COV)
	@echo "  LD [$(SAN)] $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

$(BENCH_BIN): $(BENCH_OBJ) $(REGISTRY_OBJ) $(SCENARIO_OBJ) $(DRIVER_LIB) $(CORE_LIB)
	@echo "  LD [$(SAN)] $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)

# ---- tests ---------------------------------------------------------------
# tests/test_unit_*.c link the plain build's engine objects; the other test
# programs drive the racerepro binaries as a person would.
TEST_SRC := $(filter-out tests/testlib.c tests/test_scenarios.c,$(wildcard tests/test_*.c))
TEST_PROGS := $(patsubst tests/%.c,$(BUILDROOT)/tests/%,$(TEST_SRC))
UNIT_OBJ := $(patsubst %.c,$(BUILDROOT)/none/obj/%.o,$(TOOL_SRC) $(SCENARIO_SRC)) \
	$(BUILDROOT)/none/obj/harness/registry.o $(BUILDROOT)/none/librrdriver.a \
	$(BUILDROOT)/none/librrcore.a
TEST_CFLAGS := -std=gnu11 -O1 -g -pthread $(WARN) -Iharness/include -Iharness -Itests
TEST_LIBS := -lcmocka -ljansson -luring -lssl -lcrypto -lm -pthread

$(BUILDROOT)/tests/test_unit_%: tests/test_unit_%.c tests/testlib.c tests/testlib.h $(UNIT_OBJ) $(TEST_DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC [test] $<"
	@$(CC) $(TEST_CFLAGS) -o $@ $< tests/testlib.c $(UNIT_OBJ) $(TEST_LIBS)

$(BUILDROOT)/tests/test_%: tests/test_%.c tests/testlib.c tests/testlib.h $(TEST_DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC [test] $<"
	@$(CC) $(TEST_CFLAGS) -o $@ $< tests/testlib.c $(TEST_LIBS)

check-tests: $(TEST_PROGS)

# Builds plain, ASan and TSan (product and test binaries) and the fuzz
# targets, then runs every test program; ends with "N passed, N failed".
test: $(TEST_DEPS_STAMP)
	@$(MAKE) --no-print-directory SAN=none $(BUILDROOT)/none/racerepro $(BUILDROOT)/none/racerepro-test \
		$(BUILDROOT)/none/racerepro-bench
	@$(MAKE) --no-print-directory SAN=asan $(BUILDROOT)/asan/racerepro $(BUILDROOT)/asan/racerepro-test
	@$(MAKE) --no-print-directory SAN=tsan $(BUILDROOT)/tsan/racerepro $(BUILDROOT)/tsan/racerepro-test
	@$(MAKE) --no-print-directory fuzz-targets
	@$(MAKE) --no-print-directory SAN=none check-tests
	@RR_BUILDROOT=$(BUILDROOT) scripts/run-tests.sh $(TEST_PROGS)

# ---- soak, fuzz, bench ----------------------------------------------------
SCENARIO ?=
VARIANT ?= both
DURATION ?= 60s
STRATEGY ?= portfolio
JOBS ?= 1
soak: $(BIN)
	$(BIN) soak $(SCENARIO) --variant $(VARIANT) --duration $(DURATION) --strategy $(STRATEGY) --jobs $(JOBS)

ENGINE ?= libfuzzer
# scripts/fuzz.sh builds what it needs with the fuzz-* targets of fuzz/fuzz.mk.
fuzz:
	@BUILDROOT="$(BUILDROOT)" VARIANT="$(VARIANT)" scripts/fuzz.sh "$(SCENARIO)" "$(ENGINE)" "$(DURATION)" "$(JOBS)"
include fuzz/fuzz.mk

BENCH ?= full
bench: $(BIN) $(BENCH_BIN)
	@scripts/bench.sh $(BENCH)

# clang-tidy is clang: gcc's -Wno-format-truncation (in WARN when CC is gcc)
# would be an unknown-option error there.
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
		--std=c11 -Iharness/include -Iharness harness scenarios fuzz bench
	clang-tidy --quiet $(HARNESS_SRC) $(SCENARIO_SRC) bench/bench.c bench/search.c -- \
		$(filter-out -Wno-format-truncation,$(BASE_CFLAGS))

clean:
	rm -rf build
