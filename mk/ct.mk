# Constant-time evidence.
#
#   make ct          build the memcheck test and its leaky self-check
#   make ct-check    run them (tests/suites/t-30-ct.sh; part of 'make check')
#   make ct-report   measure refusal times and print Welch's t per pair of
#                    refusal classes (a report, not a gate: machines are
#                    noisy); CT_SAMPLES=N measurements per target
#
# The binaries are built with the product's own flags (ALL_CFLAGS), since
# whether the code is constant time depends on what the compiler made of it.

CT_DIR	 = tests/ct
CT_BINS	 = $(CT_DIR)/ct_verify $(CT_DIR)/ct_leaky
CT_DEPS	 = $(LIB_SRCS) $(HDRS) tests/unit/unit.h Makefile mk/ct.mk
# CT_TRACK: auth.c tells memcheck where it makes a secret-derived value
# public (the yes or no of an answer, then the reason it logs).
CT_FLAGS = $(ALL_CPPFLAGS) -DCT_TRACK -Isrc -Itests/unit $(ALL_CFLAGS) \
	   $(ALL_LDFLAGS)
CT_SAMPLES ?= 2000000

$(CT_DIR)/ct_verify: $(CT_DIR)/ct_verify.c $(CT_DEPS)
	$(CC) $(CT_FLAGS) -o $@ $< $(LIB_SRCS) $(LIBS)

# The self-check: the same test, with token.c's constant-time comparison
# swapped for an early-exit one and a secret-indexed load added.
$(CT_DIR)/ct_leaky: $(CT_DIR)/ct_verify.c $(CT_DEPS)
	$(CC) $(CT_FLAGS) -DCT_LEAKY -DCRYPTO_memcmp=ct_leaky_memcmp -o $@ \
	    $< $(LIB_SRCS) $(LIBS)

$(CT_DIR)/ct_report: $(CT_DIR)/ct_report.c $(CT_DEPS)
	$(CC) $(CT_FLAGS) -o $@ $< $(LIB_SRCS) $(LIBS) -lm

ct: $(CT_BINS)

ct-check: $(CT_BINS)
	@bash tests/suites/t-30-ct.sh

ct-report: $(CT_DIR)/ct_report
	$(CT_DIR)/ct_report $(CT_SAMPLES)

ct-clean:
	rm -f $(CT_BINS) $(CT_DIR)/ct_report

CHECK_DEPS += $(CT_BINS)
clean: ct-clean

.PHONY: ct ct-check ct-report ct-clean
