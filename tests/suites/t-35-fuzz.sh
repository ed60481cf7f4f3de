#!/bin/bash
# Fuzzing, bounded: every libFuzzer target (tests/fuzz/fuzz_*.c) replays its
# seed corpus, then fuzzes for FUZZ_CHECK_SECONDS (default 20) seconds, the
# targets side by side. Longer runs: make fuzz FUZZ_SECONDS=600.
. "$(dirname "$0")/../lib/lib.sh"

SECONDS_EACH=${FUZZ_CHECK_SECONDS:-20}
TARGETS="frame token config jwt"

mk() { env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory -C "$TOP" "$@"; }

if ! command -v clang >/dev/null; then
	fail "clang is not installed (tests/deps.sh installs clang and libclang-rt-14-dev)"
	finish
	exit
fi
if mk fuzz-build >"$WORK/build.log" 2>&1; then
	pass "built the fuzz targets ($TARGETS)"
else
	fail "make fuzz-build: $(tail -n 5 "$WORK/build.log")"
	finish
	exit
fi

# finding NAME LOG: what the target said, the sanitizer's report (its first
# frames), and the input that did it, kept outside the suite's directory.
finding() {
	local crash keep=""
	awk '/^(INFO|Running|Executed|\*\*\*|MS:|stat::|NOTE:|  *Combine)/ { next }
		/^#[0-9]+\t/ { next }
		/^ *#[0-9]+ 0x/ { if (++frames > 12) next }
		/^==[0-9]+==/ { frames = 0 }
		{ print }' "$2" | head -n 60
	for crash in "$WORK/out/$1"/crash-* "$WORK/out/$1"/leak-* \
		"$WORK/out/$1"/timeout-* "$WORK/out/$1"/oom-*; do
		[ -f "$crash" ] || continue
		[ -n "$keep" ] ||
			keep=$(mktemp -d "${TMPDIR:-/tmp}/prosody-token-auth-fuzz.XXXXXX")
		cp "$crash" "$keep/"
		echo "input kept as $keep/${crash##*/} ($(stat -c %s "$crash") bytes;" \
			"replay: tests/fuzz/fuzz_$1 FILE), first bytes:"
		od -An -c -v "$crash" | head -n 12
	done
}

for t in $TARGETS; do
	n=$(find "$TOP/tests/fuzz/corpus/$t" -type f | wc -l)
	if TMPDIR=$WORK mk "fuzz-replay-$t" >"$WORK/replay-$t.log" 2>&1; then
		pass "$t: replayed its $n seed inputs"
	else
		fail "$t: replaying the seed corpus: $(finding "$t" "$WORK/replay-$t.log")"
	fi
done

pids=()
for t in $TARGETS; do
	# (TMPDIR: the config target's files stay in the suite's directory.)
	TMPDIR=$WORK mk "fuzz-run-$t" FUZZ_SECONDS="$SECONDS_EACH" \
		FUZZ_OUT="$WORK/out" >"$WORK/run-$t.log" 2>&1 &
	pids+=($!)
done
i=0
for t in $TARGETS; do
	wait "${pids[$i]}"
	status=$?
	i=$((i + 1))
	runs=$(sed -nE 's/^Done ([0-9]+) runs in ([0-9]+) second.*/\1 executions in \2 s/p' \
		"$WORK/out/$t/log" 2>/dev/null)
	if [ "$status" -eq 0 ] && [ -n "$runs" ]; then
		pass "$t: fuzzed, $runs, no finding"
	else
		fail "$t: fuzzing found something (status $status):
$(finding "$t" "$WORK/out/$t/log")"
	fi
done
pids=()

finish
