# Shared by the shell suites: counters, a throw-away config, bounded waits and
# clean-up of every process a suite starts. Source it; do not run it.
#
# A suite calls pass/fail (or check), or skip with the reason when a check
# cannot run here; starts processes with spawn (so that cleanup can stop them
# by PID); and ends with finish, whose last line is
# "N passed, M failed, K skipped". A skipped check is never counted as passed.

set -u

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HELPER=${HELPER:-$TOP/prosody-token-auth}
PTA_VERSION=$(sed -n 's/^VERSION = //p' "$TOP/Makefile")
PY=/usr/bin/python3
TOKENGEN="$PY $TOP/tests/harness/tokengen.py"

passed=0
failed=0
skipped=0
pids=()

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pta-test.XXXXXX")
# The valgrind helper's logs (tests/lib/valgrind-helper) are the suite's
# files, removed with it; finish shows those that report an error.
export VALGRIND_LOG_DIR=${VALGRIND_LOG_DIR:-$WORK}

pass() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; }
# skip WHAT WHY: WHAT could not be checked here, because WHY.
skip() { skipped=$((skipped + 1)); printf 'skip %s: %s\n' "$1" "$2"; }

# check NAME EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

spawn() { "$@" & pids+=($!); }

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: poll COMMAND every 50 ms until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# Throw-away secrets, as pyotp.random_base32() would make them.
OTP_SEED=XVGR73KMZH2M4XMY
TOKEN_SECRET=JYXEX4IQOEYFYQ2S3MC5P4ZT4SDHYEA7

# make_config FILE [EXTRA LINES...]: a valid config with its own replay store.
make_config() {
	local file=$1
	shift
	{
		echo "otp_seed     = $OTP_SEED"
		echo "token_secret = $TOKEN_SECRET"
		echo "replay_store = $WORK/replay"
		# The suites log one JID in thousands of times a minute; the
		# default limit (30 live tokens per JID) has tests of its own.
		echo "replay_per_user = 100000"
		local line
		for line in "$@"; do
			echo "$line"
		done
	} >"$file"
	chmod 600 "$file"
}

# token JID [tokengen options]: a fresh token from the web app's own code.
token() {
	local jid=$1
	shift
	$TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" "$jid" "$@"
}

# mid_step [SECONDS]: returns once the end of the current 30-second TOTP
# step is at least SECONDS (default 5) away (30 s at most), so that a token
# minted now, even at an edge of the window, is checked in the same step by
# a helper that takes that long to start (under valgrind, seconds).
mid_step() {
	while [ $((30 - $(date +%s) % 30)) -lt "${1:-5}" ]; do sleep 0.5; done
}

# py_checks [ARGS...]: runs a Python check script (stdin; tests/lib/suite.py
# is its library) with the helper, the work directory and the test secrets
# in its environment; its "ok ..." and "FAIL ..." lines count, and so does
# its exit status.
py_checks() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok   "*) pass "${line#ok   }" ;;
		"FAIL "*) fail "${line#FAIL }" ;;
		"python exit "*)
			[ "${line#python exit }" = 0 ] || fail "the Python checks ended with status ${line#python exit }" ;;
		*) echo "     $line" ;;
		esac
	done < <(HELPER=$HELPER TOP=$TOP WORK=$WORK OTP_SEED=$OTP_SEED \
		TOKEN_SECRET=$TOKEN_SECRET PYTHONPATH="$TOP/tests/lib:$TOP/tests/harness" \
		timeout 300 "$PY" - "$@" 2>&1
		echo "python exit $?")
}

# The valgrind logs of this suite with more in them than valgrind's notes
# on system calls it does not know: an error or a leak, each line shown.
show_valgrind_errors() {
	local log
	for log in "$VALGRIND_LOG_DIR"/prosody-token-auth-valgrind.*.log; do
		[ -f "$log" ] && grep -q '^==' "$log" || continue
		sed "s|^|#   ${log##*/}: |" "$log"
	done
}

finish() {
	show_valgrind_errors
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" -eq 0 ]
}
