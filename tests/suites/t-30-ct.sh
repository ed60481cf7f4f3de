#!/bin/bash
# Constant time, checked with valgrind memcheck: the secrets are marked
# undefined, verification runs on valid and invalid tokens, and any branch or
# memory index that depends on them is a report. Then the same test with a
# deliberately leaky comparison and a secret-indexed load must be flagged, so
# that a detector that sees nothing cannot pass.
. "$(dirname "$0")/../lib/lib.sh"

CT=$TOP/tests/ct

# memcheck NAME PROGRAM: runs it, XML log in $WORK/NAME.xml, its output in
# $WORK/NAME.out, its report lines in $WORK/NAME.reports; returns its status.
memcheck() {
	local status
	valgrind --tool=memcheck --xml=yes --xml-file="$WORK/$1.xml" \
		--track-origins=yes --num-callers=40 --error-limit=no \
		--leak-check=no --suppressions="$CT/openssl.supp" \
		"$2" >"$WORK/$1.out" 2>"$WORK/$1.err"
	status=$?
	$PY "$CT/memcheck_reports.py" "$WORK/$1.xml" "$2" >"$WORK/$1.reports"
	return $status
}

# summary NAME: "REPORTS SUPPRESSED" from the report lines.
summary() {
	awk -F'\t' '$1 == "SUMMARY" { print $2, $3 }' "$WORK/$1.reports"
}

if ! command -v valgrind >/dev/null; then
	fail "valgrind is not installed (tests/deps.sh installs it)"
	finish
	exit
fi
if env -u MAKEFLAGS -u MFLAGS make -s --no-print-directory -C "$TOP" ct \
	>"$WORK/make.log" 2>&1; then
	pass "built the memcheck test and its leaky variant"
else
	fail "make ct: $(tail -n 5 "$WORK/make.log")"
	finish
	exit
fi

# The product's code: every case gives the right verdict, and nothing
# depends on the secrets but the verdict itself.
memcheck verify "$CT/ct_verify"
status=$?
check "ct_verify exits 0 under memcheck" 0 "$status"
while IFS= read -r line; do
	case $line in
	"ok   "*) pass "verdict: ${line#ok   }" ;;
	"FAIL "*) fail "verdict: ${line#FAIL }" ;;
	esac
done <"$WORK/verify.out"
[ -s "$WORK/verify.err" ] && fail "ct_verify: $(head -c 300 "$WORK/verify.err")"
read -r reports suppressed <<<"$(summary verify)"
while IFS=$'\t' read -r tag place kind inner first stack; do
	[ "$tag" = REPORT ] || continue
	if [ "$place" = ours ]; then
		fail "secret-dependent $kind in our code at $inner; stack: $stack"
	else
		fail "secret-dependent $kind in $inner, reached from our $first (not suppressed: only OpenSSL's own reports may be, see tests/ct/openssl.supp); stack: $stack"
	fi
done <"$WORK/verify.reports"
if [ "${reports:--1}" -eq 0 ]; then
	pass "no branch or memory index depends on the secrets (memcheck: 0 reports, ${suppressed} suppressed in OpenSSL)"
elif [ "${reports:--1}" -lt 0 ]; then
	fail "memcheck's log could not be read: $(head -c 300 "$WORK/verify.err")"
fi

# The self-check: the leaky variant must be flagged where it leaks.
memcheck leaky "$CT/ct_leaky"
leaky_cmp=$(awk -F'\t' '$1 == "REPORT" && $2 == "ours" &&
	$3 == "UninitCondition" && $4 ~ /^ct_leaky_memcmp / &&
	$6 ~ /token_verify \(src\/token\.c:/ { print $4 " <- token_verify"; exit }' \
	"$WORK/leaky.reports")
if [ -n "$leaky_cmp" ]; then
	pass "self-check: the early-exit comparison in token_verify is flagged ($leaky_cmp)"
else
	fail "self-check: memcheck did not flag the early-exit comparison (the detector is broken; reports, suppressed: $(summary leaky))"
fi
leaky_jwt=$(awk -F'\t' '$1 == "REPORT" && $2 == "ours" &&
	$3 == "UninitCondition" && $4 ~ /^ct_leaky_memcmp / &&
	$6 ~ /signature_ok[.a-z0-9]* \(src\/jwt\.c:/ { print $4 " <- signature_ok"; exit }' \
	"$WORK/leaky.reports")
if [ -n "$leaky_jwt" ]; then
	pass "self-check: an early-exit comparison of an HS256 JWT signature is flagged ($leaky_jwt)"
else
	fail "self-check: memcheck did not flag the early-exit comparison in jwt.c (is the HS256 key tracked?)"
fi
leaky_idx=$(awk -F'\t' '$1 == "REPORT" && $2 == "ours" &&
	$3 == "UninitValue" && $4 ~ /^leaky_lookup / { print $4; exit }' \
	"$WORK/leaky.reports")
if [ -n "$leaky_idx" ]; then
	pass "self-check: the secret-indexed load is flagged ($leaky_idx)"
else
	fail "self-check: memcheck did not flag the secret-indexed load (the detector is broken)"
fi
if grep -q '^0 cases failed$' "$WORK/leaky.out" &&
	grep -q '^leaky: made a secret-indexed load$' "$WORK/leaky.out"; then
	pass "self-check: the leaky variant ran every case to the right verdict"
else
	fail "self-check: the leaky variant did not run through: $(grep -v '^ok' "$WORK/leaky.out" | head -c 300)"
fi

finish
