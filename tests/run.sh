#!/bin/bash
# Runs every test suite and ends with one line: "N passed, M failed, K skipped".
#
#   tests/run.sh                the whole set (what 'make check' runs)
#   tests/run.sh --units-only   the Check unit suites alone
#   tests/run.sh --asan-only    the sanitizer builds alone
#
# Unit suites run plain, under valgrind memcheck and built with ASan+UBSan;
# the helper's shell suites run against the plain binary, under valgrind
# and against the sanitizer build. Suites are tests/suites/t-*.sh, in name order;
# each ends with its own "N passed, M failed, K skipped" line. A check that
# could not run here (no root, a tool missing) is skipped, with its reason,
# and never counted as passed; a suite that ran and skipped nothing at all is
# broken.
set -u
cd "$(dirname "$0")/.."
TOP=$PWD
export TOP

mode=${1:-all}
passed=0
failed=0
skipped=0
broken=()
skips=()

# Suites that exercise the helper binary deeply enough to be worth running
# under valgrind and the sanitizers too.
SANITIZED_SUITES="tests/suites/t-10-helper.sh tests/suites/t-15-pty.sh \
tests/suites/t-22-jwt.sh"

VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"

count_check() { # NAME OUTPUT STATUS
	local line n f e
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' <<<"$2" | tail -n 1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		broken+=("$1 (no summary, status $3)")
		return
	fi
	n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
	e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + n - f - e))
	failed=$((failed + f + e))
	if [ "$3" -ne 0 ] || [ "$f" -ne 0 ] || [ "$e" -ne 0 ]; then
		[ "$f" -ne 0 ] || [ "$e" -ne 0 ] || failed=$((failed + 1))
		broken+=("$1 (status $3)")
	fi
}

count_shell() { # NAME OUTPUT STATUS
	local line p f k=0
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' <<<"$2" | tail -n 1)
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		broken+=("$1 (no summary, status $3)")
		return
	fi
	p=${line%% passed*}
	f=${line#*passed, }
	f=${f%% failed*}
	case $line in
	*skipped) k=${line##*failed, }; k=${k%% skipped} ;;
	esac
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + k))
	[ "$k" -eq 0 ] || skips+=("$1: $k skipped")
	if [ "$3" -ne 0 ] || [ "$f" -ne 0 ] || [ $((p + f + k)) -eq 0 ]; then
		[ "$f" -ne 0 ] || failed=$((failed + 1))
		broken+=("$1 (status $3$([ $((p + f + k)) -eq 0 ] && echo ', nothing run'))")
	fi
}

run() { # KIND NAME COMMAND...
	local kind=$1 name=$2 out status
	shift 2
	echo "=== $name ($(date +%H:%M:%S))"
	out=$("$@" 2>&1)
	status=$?
	printf '%s\n' "$out"
	"count_$kind" "$name" "$out" "$status"
}

units() { # PREFIX LABEL [WRAPPER...]
	local prefix=$1 label=$2 t
	shift 2
	for t in tests/unit/"$prefix"_*; do
		[ -x "$t" ] || continue
		run check "$label ${t##*/}" env CK_FORK=no "$@" "$t"
	done
}

shell_suites() { # LABEL HELPER [SUITES...]
	local label=$1 helper=$2 s
	shift 2
	for s in "$@"; do
		run shell "$label ${s##*/}" env HELPER="$helper" \
			ASAN_OPTIONS="$SUITE_ASAN_OPTIONS" bash "$s"
	done
}

# The sanitizer build of the helper runs with its sandbox on, where
# LeakSanitizer cannot work at exit (it reads /proc and stops the process's
# threads with ptrace): leaks are looked for by the valgrind runs of the
# same suites, and by the sanitizer builds of the unit suites.
SUITE_ASAN_OPTIONS=detect_leaks=0

case $mode in
--units-only)
	units test unit
	;;
--asan-only)
	units asan asan
	# shellcheck disable=SC2086
	shell_suites asan "$TOP/prosody-token-auth-asan" $SANITIZED_SUITES
	;;
all)
	units test unit
	# shellcheck disable=SC2086
	units test valgrind $VALGRIND
	units asan asan
	shell_suites "" "$TOP/prosody-token-auth" tests/suites/t-*.sh
	# shellcheck disable=SC2086
	shell_suites valgrind "$TOP/tests/lib/valgrind-helper" $SANITIZED_SUITES
	# shellcheck disable=SC2086
	shell_suites asan "$TOP/prosody-token-auth-asan" $SANITIZED_SUITES
	;;
*)
	echo "usage: tests/run.sh [--units-only | --asan-only]" >&2
	exit 2
	;;
esac

echo
for k in "${skips[@]}"; do
	echo "SKIPPED: $k"
done
for b in "${broken[@]}"; do
	echo "FAILED: $b"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
