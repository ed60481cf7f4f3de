# Benchmarks: 'make bench' measures the helper against its floors (the
# verification alone, in process; a transport that answers yes to every
# frame), against a plain Python helper of the same contract and against
# 1.1.0 and 2.0.0 built from the checkout's history, side by
# side in one run, and prints the ratios with PASS/MISS per target.
# See bench/run.sh. Results and scratch files go to bench/out/.
#
#   make bench                        five to eight minutes on 2 cores
#   make bench BENCH_ARGS=--quick     about two minutes, one try per figure

BENCH_OUT  = bench/out
BENCH_BINS = $(BENCH_OUT)/verify_floor $(BENCH_OUT)/jwt_floor $(BENCH_OUT)/yes_helper \
	     $(BENCH_OUT)/loadgen $(BENCH_OUT)/redis_ping

$(BENCH_OUT)/verify_floor $(BENCH_OUT)/jwt_floor $(BENCH_OUT)/loadgen: $(BENCH_OUT)/%: bench/%.c \
    $(LIB) $(HDRS) Makefile mk/bench.mk
	@mkdir -p $(BENCH_OUT)
	$(CC) $(ALL_CPPFLAGS) -Isrc $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    $(LIB) $(LIBS)

# The bare Redis round trip links hiredis alone.
$(BENCH_OUT)/redis_ping: bench/redis_ping.c Makefile mk/bench.mk
	@mkdir -p $(BENCH_OUT)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    $(shell pkg-config --libs hiredis)

# The transport floor links nothing of the helper's.
$(BENCH_OUT)/yes_helper: bench/yes_helper.c Makefile mk/bench.mk
	@mkdir -p $(BENCH_OUT)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

bench: $(PROG) $(BENCH_BINS)
	@bench/run.sh $(BENCH_ARGS)

# The benchmark programs must keep compiling: 'make check' builds them.
CHECK_DEPS += $(BENCH_BINS)

.PHONY: bench
