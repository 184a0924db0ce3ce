# fuzz.mk: the fuzz targets, included by the Makefile.
#
#   make fuzz-targets         every target below (make test builds them too)
#   make fuzz-libfuzzer       $(BUILDROOT)/fuzz/libfuzzer/<scenario>       clang, ASan
#   make fuzz-libfuzzer-tsan  $(BUILDROOT)/fuzz/libfuzzer-tsan/<scenario>  clang, TSan (data-race oracles)
#   make fuzz-afl             $(BUILDROOT)/fuzz/afl/<scenario>             afl-clang-fast, ASan, persistent
#   make fuzz-parsers         $(BUILDROOT)/fuzz/parsers/parsers            clang, ASan + UBSan
#
# One source, fuzz/libfuzzer.c, is compiled once per scenario with
# -DRR_FUZZ_SCENARIO=<name> and linked with the scenarios, their registry and
# the core library (the Makefile's librrcore.a, built per flavour): no worker
# processes, reports or benchmark. With -fsanitize=fuzzer for libFuzzer, with AFL++'s
# libFuzzer driver (libAFLDriver.a, persistent mode) for AFL++. The variant is
# buggy unless RR_FUZZ_VARIANT=<variant> is set when the target runs.
# Each flavour has its own object folder: the sanitizer and the coverage
# instrumentation differ.

FUZZ_ROOT := $(BUILDROOT)/fuzz
FUZZ_SCENARIOS := $(shell sed -n 's/^RR_SCENARIO(\([a-z0-9_]*\))/\1/p' scenarios/scenarios.def)
# Test-only targets (see FUZZ_TEST_TARGET below).
FUZZ_TEST_SCENARIOS := test_reorder
# Scenarios whose oracle is (also) a data race get a TSan-flavoured target.
FUZZ_TSAN_SCENARIOS := broken_pipe
FUZZ_CLANG ?= clang
FUZZ_AFL_CC ?= afl-clang-fast
AFL_DRIVER ?= $(firstword $(wildcard /usr/lib/afl/libAFLDriver.a /usr/local/lib/afl/libAFLDriver.a))

FUZZ_ENGINE_SRC := harness/registry.c $(SCENARIO_SRC)
FUZZ_HEADERS := $(wildcard harness/*.h harness/include/*.h scenarios/*.def fuzz/*.h) fuzz/fuzz.mk
# The fuzz stamp: clang and afl++ are installed once, like the build deps.
FUZZ_DEPS_STAMP := $(BUILDROOT)/.fuzz-deps-$(shell id -u)
# BASE_CFLAGS minus what only gcc knows (the warnings are gcc's choice of CC).
FUZZ_CFLAGS := $(filter-out -O2 -Wno-format-truncation,$(BASE_CFLAGS)) -O1 -fno-sanitize-recover=all

FUZZ_CC_libfuzzer := $(FUZZ_CLANG)
FUZZ_FLAGS_libfuzzer := -fsanitize=fuzzer-no-link,address -DRR_BUILD_ASAN -DRR_BUILD_NAME=\"asan\"
FUZZ_LINK_libfuzzer := -fsanitize=fuzzer,address
FUZZ_CC_libfuzzer-tsan := $(FUZZ_CLANG)
# No code coverage here: clang 14's TSan instruments the coverage pass's
# counters, and every scenario thread bumping them would be a reported race.
# The target's feedback is then the interleaving pairs alone (atomic
# counters, fuzz/libfuzzer.c), which is what a data-race target wants anyway.
FUZZ_FLAGS_libfuzzer-tsan := -fsanitize=thread -DRR_BUILD_TSAN -DRR_BUILD_NAME=\"tsan\"
FUZZ_LINK_libfuzzer-tsan := -fsanitize=fuzzer,thread
# Coverage for the code under test only (issue 11's protocol): the scenarios
# are instrumented, the harness (scheduler, strategies, engine, the target's
# own file) is not. Instrumented, each schedule took its own path through the
# scheduler, nearly every execution was "new coverage", and AFL++ spent 12 of
# every 13 executions calibrating those entries (fuzz/README.md).
FUZZ_COVERED_SRC := $(SCENARIO_SRC) tests/test_scenarios.c
FUZZ_AFL_ALLOWLIST := $(FUZZ_ROOT)/afl/allowlist.txt
# AFL_USE_ASAN=1 makes afl-clang-fast add ASan as AFL++ documents it;
# AFL_LLVM_ALLOWLIST: entries are the ends of source paths.
FUZZ_CC_afl := AFL_USE_ASAN=1 AFL_QUIET=1 AFL_LLVM_ALLOWLIST=$(abspath $(FUZZ_AFL_ALLOWLIST)) \
	$(FUZZ_AFL_CC)
FUZZ_FLAGS_afl := -DRR_BUILD_ASAN -DRR_BUILD_NAME=\"asan\" -DRR_FUZZ_AFL
FUZZ_LINK_afl := $(AFL_DRIVER) -lstdc++
FUZZ_CC_parsers := $(FUZZ_CLANG)
FUZZ_FLAGS_parsers := -fsanitize=fuzzer-no-link,address,undefined -DRR_BUILD_ASAN -DRR_BUILD_NAME=\"asan\"
FUZZ_LINK_parsers := -fsanitize=fuzzer,address,undefined

.PHONY: fuzz-targets fuzz-test-targets fuzz-libfuzzer fuzz-libfuzzer-tsan fuzz-afl fuzz-parsers

$(FUZZ_DEPS_STAMP):
	@mkdir -p $(BUILDROOT)
	@scripts/install-deps.sh --check fuzz 2>/dev/null || scripts/install-deps.sh fuzz
	@touch $@

# $(1): flavour. Objects, then one target per scenario.
define FUZZ_FLAVOUR
$(FUZZ_ROOT)/$(1)/obj/%.o: %.c $(FUZZ_DEPS_STAMP) $(DEPS_STAMP) $(FUZZ_HEADERS)
	@mkdir -p $$(dir $$@)
	@echo "  CC [fuzz/$(1)] $$<"
	@$$(FUZZ_CC_$(1)) $(FUZZ_CFLAGS) $$(FUZZ_FLAGS_$(1)) -c $$< -o $$@

$(FUZZ_ROOT)/$(1)/obj/fuzz/target-%.o: fuzz/libfuzzer.c $(FUZZ_DEPS_STAMP) $(FUZZ_HEADERS)
	@mkdir -p $$(dir $$@)
	@echo "  CC [fuzz/$(1)] fuzz/libfuzzer.c ($$*)"
	@$$(FUZZ_CC_$(1)) $(FUZZ_CFLAGS) $$(FUZZ_FLAGS_$(1)) -DRR_FUZZ_SCENARIO=$$* -c $$< -o $$@

$(FUZZ_ROOT)/$(1)/librrcore.a: $(patsubst %.c,$(FUZZ_ROOT)/$(1)/obj/%.o,$(CORE_SRC))
	@echo "  AR [fuzz/$(1)] $$@"
	@rm -f $$@
	@ar rcs $$@ $$^

$(FUZZ_ROOT)/$(1)/%: $(FUZZ_ROOT)/$(1)/obj/fuzz/target-%.o \
		$(patsubst %.c,$(FUZZ_ROOT)/$(1)/obj/%.o,$(FUZZ_ENGINE_SRC)) $(FUZZ_ROOT)/$(1)/librrcore.a
	@echo "  LD [fuzz/$(1)] $$@"
	@$$(FUZZ_CC_$(1)) $(FUZZ_CFLAGS) $$(FUZZ_FLAGS_$(1)) -o $$@ $$^ $$(FUZZ_LINK_$(1)) $(LDLIBS_ALL)
endef
$(eval $(call FUZZ_FLAVOUR,libfuzzer))
# The harness's objects (and the target's) without -fsanitize=fuzzer-no-link.
$(filter-out $(patsubst %.c,$(FUZZ_ROOT)/libfuzzer/obj/%.o,$(FUZZ_COVERED_SRC)),\
	$(patsubst %.c,$(FUZZ_ROOT)/libfuzzer/obj/%.o,$(CORE_SRC) $(FUZZ_ENGINE_SRC)) \
	$(FUZZ_ROOT)/libfuzzer/obj/harness/registry-test.o \
	$(patsubst %,$(FUZZ_ROOT)/libfuzzer/obj/fuzz/target-%.o,$(FUZZ_SCENARIOS) $(FUZZ_TEST_SCENARIOS))): \
	FUZZ_FLAGS_libfuzzer := -fsanitize=address -DRR_BUILD_ASAN -DRR_BUILD_NAME=\"asan\"
$(eval $(call FUZZ_FLAVOUR,libfuzzer-tsan))
# clang's TSan calls __tsan_default_options (harness/sanitizer.c) before it
# has set itself up, so that function must not be instrumented: the file holds
# nothing else, and is compiled without TSan (a fuzz target that starts at all
# proves it).
$(FUZZ_ROOT)/libfuzzer-tsan/obj/harness/sanitizer.o: FUZZ_FLAGS_libfuzzer-tsan := \
	-DRR_BUILD_TSAN -DRR_BUILD_NAME=\"tsan\"
$(eval $(call FUZZ_FLAVOUR,afl))
$(FUZZ_AFL_ALLOWLIST): fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	@printf '%s\n' $(FUZZ_COVERED_SRC) >$@
$(patsubst %.c,$(FUZZ_ROOT)/afl/obj/%.o,$(CORE_SRC) $(FUZZ_ENGINE_SRC) $(FUZZ_COVERED_SRC)) \
	$(FUZZ_ROOT)/afl/obj/harness/registry-test.o \
	$(patsubst %,$(FUZZ_ROOT)/afl/obj/fuzz/target-%.o,$(FUZZ_SCENARIOS) $(FUZZ_TEST_SCENARIOS)): \
	$(FUZZ_AFL_ALLOWLIST)
# Plain clang: see fuzz/afl_map.c.
$(FUZZ_ROOT)/afl/obj/fuzz/afl_map.o: fuzz/afl_map.c $(FUZZ_DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC [fuzz/afl] $< (not instrumented)"
	@$(FUZZ_CLANG) $(FUZZ_CFLAGS) -c $< -o $@
$(addprefix $(FUZZ_ROOT)/afl/,$(FUZZ_SCENARIOS)): $(FUZZ_ROOT)/afl/obj/fuzz/afl_map.o
# The AFL++ custom mutator (AFL_CUSTOM_MUTATOR_LIBRARY): the schedule
# mutations of harness/schedule.c, loaded into afl-fuzz itself, so plain and
# uninstrumented.
FUZZ_AFL_MUTATOR := $(FUZZ_ROOT)/afl/libschedule-mutator.so
FUZZ_AFL_MUTATOR_SRC := fuzz/afl_mutator.c harness/schedule.c harness/seed.c
$(FUZZ_AFL_MUTATOR): $(FUZZ_AFL_MUTATOR_SRC) $(FUZZ_DEPS_STAMP) $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	@echo "  LD [fuzz/afl] $@ (custom mutator)"
	@$(FUZZ_CLANG) $(FUZZ_CFLAGS) -fPIC -shared -o $@ $(FUZZ_AFL_MUTATOR_SRC)

# The parser target compiles the modules it fuzzes with UBSan too; the rest
# of what they call (the scenario registry, for a reproducer's mapping to a
# run) comes from the libfuzzer flavour, which the scenario targets build
# anyway. Its own objects come first, so the archive's copies stay out.
FUZZ_PARSER_SRC := harness/seed.c harness/strategy.c harness/repro.c harness/fileio.c
$(FUZZ_ROOT)/parsers/obj/%.o: %.c $(FUZZ_DEPS_STAMP) $(DEPS_STAMP) $(FUZZ_HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC [fuzz/parsers] $<"
	@$(FUZZ_CC_parsers) $(FUZZ_CFLAGS) $(FUZZ_FLAGS_parsers) -c $< -o $@
$(FUZZ_ROOT)/parsers/parsers: $(patsubst %.c,$(FUZZ_ROOT)/parsers/obj/%.o,fuzz/parsers.c $(FUZZ_PARSER_SRC)) \
		$(patsubst %.c,$(FUZZ_ROOT)/libfuzzer/obj/%.o,$(FUZZ_ENGINE_SRC)) $(FUZZ_ROOT)/libfuzzer/librrcore.a
	@echo "  LD [fuzz/parsers] $@"
	@$(FUZZ_CC_parsers) $(FUZZ_CFLAGS) $(FUZZ_FLAGS_parsers) -o $@ $^ $(FUZZ_LINK_parsers) $(LDLIBS_ALL)

# Test-only targets for the search benchmark (bench/search.c): the hard cell
# test_reorder lives in tests/test_scenarios.c, so its target links the test
# scenarios and the registry that lists them. Never part of the product's
# target list (fuzz-libfuzzer); make bench and make test build them.
define FUZZ_TEST_TARGET
$(FUZZ_ROOT)/$(1)/obj/harness/registry-test.o: harness/registry.c $(FUZZ_DEPS_STAMP) $(FUZZ_HEADERS) $(wildcard tests/*.def)
	@mkdir -p $$(dir $$@)
	@echo "  CC [fuzz/$(1)] $$< (with test scenarios)"
	@$$(FUZZ_CC_$(1)) $(FUZZ_CFLAGS) $$(FUZZ_FLAGS_$(1)) -Itests -DRR_WITH_TEST_SCENARIOS -c $$< -o $$@
$(addprefix $(FUZZ_ROOT)/$(1)/,$(FUZZ_TEST_SCENARIOS)): $(FUZZ_ROOT)/$(1)/%: $(FUZZ_ROOT)/$(1)/obj/fuzz/target-%.o \
		$(FUZZ_ROOT)/$(1)/obj/harness/registry-test.o $(FUZZ_ROOT)/$(1)/obj/tests/test_scenarios.o \
		$(patsubst %.c,$(FUZZ_ROOT)/$(1)/obj/%.o,$(SCENARIO_SRC)) $(FUZZ_ROOT)/$(1)/librrcore.a
	@echo "  LD [fuzz/$(1)] $$@ (test only)"
	@$$(FUZZ_CC_$(1)) $(FUZZ_CFLAGS) $$(FUZZ_FLAGS_$(1)) -o $$@ $$^ $$(FUZZ_LINK_$(1)) $(LDLIBS_ALL)
endef
$(eval $(call FUZZ_TEST_TARGET,libfuzzer))
$(eval $(call FUZZ_TEST_TARGET,afl))
$(addprefix $(FUZZ_ROOT)/afl/,$(FUZZ_TEST_SCENARIOS)): $(FUZZ_ROOT)/afl/obj/fuzz/afl_map.o
fuzz-test-targets: $(addprefix $(FUZZ_ROOT)/libfuzzer/,$(FUZZ_TEST_SCENARIOS)) \
	$(addprefix $(FUZZ_ROOT)/afl/,$(FUZZ_TEST_SCENARIOS))

fuzz-libfuzzer: $(addprefix $(FUZZ_ROOT)/libfuzzer/,$(FUZZ_SCENARIOS))
fuzz-libfuzzer-tsan: $(addprefix $(FUZZ_ROOT)/libfuzzer-tsan/,$(FUZZ_TSAN_SCENARIOS))
fuzz-afl: $(addprefix $(FUZZ_ROOT)/afl/,$(FUZZ_SCENARIOS)) $(FUZZ_AFL_MUTATOR)
fuzz-parsers: $(FUZZ_ROOT)/parsers/parsers
fuzz-targets: fuzz-libfuzzer fuzz-libfuzzer-tsan fuzz-afl fuzz-parsers fuzz-test-targets

# Objects reached only through pattern rules would count as intermediate and
# be deleted after every link; keep them.
.SECONDARY: $(foreach f,libfuzzer libfuzzer-tsan afl,\
	$(patsubst %.c,$(FUZZ_ROOT)/$(f)/obj/%.o,$(FUZZ_ENGINE_SRC) $(CORE_SRC)) \
	$(patsubst %,$(FUZZ_ROOT)/$(f)/obj/fuzz/target-%.o,$(FUZZ_SCENARIOS) $(FUZZ_TEST_SCENARIOS)) \
	$(FUZZ_ROOT)/$(f)/obj/harness/registry-test.o $(FUZZ_ROOT)/$(f)/obj/tests/test_scenarios.o) \
	$(patsubst %.c,$(FUZZ_ROOT)/parsers/obj/%.o,fuzz/parsers.c $(FUZZ_PARSER_SRC))
