# Fuzzing with libFuzzer (clang, with AddressSanitizer and UBSan).
#
#   make fuzz-build              build the targets
#   make fuzz                    fuzz each target FUZZ_SECONDS (default 300)
#                                seconds; FUZZ_TARGETS="frame token" to pick
#   make fuzz-replay             run each target once over its seed corpus
#   make fuzz-check              what 'make check' runs (tests/suites/t-35-fuzz.sh):
#                                replay, then FUZZ_CHECK_SECONDS each
#
# Targets are tests/fuzz/fuzz_<name>.c; seed corpora tests/fuzz/corpus/<name>/
# (kept small). 'make fuzz' keeps what it learns, and any crash, under
# FUZZ_OUT/<name>/ (default tests/fuzz/out), never in the seed corpora.

FUZZ_CC	     ?= clang
FUZZ_TARGETS ?= frame token config jwt
FUZZ_SECONDS ?= 300
FUZZ_OUT     ?= tests/fuzz/out
FUZZ_BINS    = $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%)
FUZZ_SAN     = address,undefined
FUZZ_CFLAGS  = $(ALL_CPPFLAGS) -U_FORTIFY_SOURCE -Isrc -Itests/unit -std=c11 \
	       $(WARN) $(shell pkg-config --cflags $(PKGS)) -g -O1 \
	       -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_DIR     = build/fuzz
FUZZ_LIB     = $(FUZZ_DIR)/libpta.a
FUZZ_DEPS    = $(FUZZ_LIB) $(HDRS) tests/unit/unit.h Makefile mk/fuzz.mk

# How long an input may be, per target: the framing needs room for
# oversized requests (FRAME_MAX_REQUEST is 4096).
FUZZ_MAX_LEN_frame  = 12000
FUZZ_MAX_LEN_token  = 256
FUZZ_MAX_LEN_config = 4096
FUZZ_MAX_LEN_jwt    = 5000
FUZZ_RUN_FLAGS = -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

# The modules with coverage for the fuzzer (which links only the targets).
$(FUZZ_DIR)/%.o: src/%.c $(HDRS) Makefile mk/fuzz.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c \
	    -o $@ $<

$(FUZZ_LIB): $(LIB_SRCS:src/%.c=$(FUZZ_DIR)/%.o)
	rm -f $@
	$(AR) rcs $@ $^

tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $< \
	    $(FUZZ_LIB) $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz-replay: $(FUZZ_TARGETS:%=fuzz-replay-%)
fuzz: $(FUZZ_TARGETS:%=fuzz-run-%)

# Runs every seed input once; fails on any finding.
fuzz-replay-%: tests/fuzz/fuzz_%
	tests/fuzz/fuzz_$* $(FUZZ_RUN_FLAGS) -max_len=$(FUZZ_MAX_LEN_$*) \
	    tests/fuzz/corpus/$*/*

# Fuzzes one target for FUZZ_SECONDS, starting from the seed corpus; the
# log is FUZZ_OUT/<name>/log, ending with the number of executions.
fuzz-run-%: tests/fuzz/fuzz_%
	@mkdir -p $(FUZZ_OUT)/$*/corpus
	@echo "fuzz $*: $(FUZZ_SECONDS) s; corpus, log and any crash in $(FUZZ_OUT)/$*/"
	@tests/fuzz/fuzz_$* $(FUZZ_RUN_FLAGS) -max_len=$(FUZZ_MAX_LEN_$*) \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_OUT)/$*/ \
	    $(FUZZ_OUT)/$*/corpus tests/fuzz/corpus/$* >$(FUZZ_OUT)/$*/log 2>&1; \
	status=$$?; \
	grep -E '^(Done [0-9]+ runs|stat::number_of_executed_units)' $(FUZZ_OUT)/$*/log; \
	if [ $$status -ne 0 ]; then \
	    grep -v '^INFO' $(FUZZ_OUT)/$*/log | tail -n 40; \
	    echo "fuzz $*: FINDING (exit $$status), see $(FUZZ_OUT)/$*/"; \
	    exit 1; \
	fi

fuzz-check: $(FUZZ_BINS)
	@bash tests/suites/t-35-fuzz.sh

fuzz-clean:
	rm -f $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%)

CHECK_DEPS += $(FUZZ_BINS)
clean: fuzz-clean

# (fuzz-run-% and fuzz-replay-% are not declared phony: make would not
# look for their pattern rules.)
.PHONY: fuzz fuzz-build fuzz-replay fuzz-check fuzz-clean
