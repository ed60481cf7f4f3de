#!/bin/bash
# The build: clean with clang as with gcc, and hardened (PIE, full RELRO,
# non-executable stack, stack protector, fortified calls).
. "$(dirname "$0")/lib.sh"

out=$WORK/clang
mkdir -p "$out"
if make -s -C "$TOP" CC=clang PROG="$out/prosody-token-auth" "$out/prosody-token-auth" >"$WORK/clang.log" 2>&1; then
	pass "builds with clang, -Wall -Wextra -Werror"
	check "the clang build runs" "prosody-token-auth $PTA_VERSION" "$("$out/prosody-token-auth" --version)"
else
	fail "clang build: $(tail -n 5 "$WORK/clang.log")"
fi

bin=$TOP/prosody-token-auth
hdr=$(readelf -h "$bin")
dyn=$(readelf -d "$bin")
seg=$(readelf -lW "$bin")
syms=$(readelf -sW --dyn-syms "$bin")
grep -q 'Type:.*DYN' <<<"$hdr" && pass "PIE" || fail "not PIE"
grep -q 'GNU_RELRO' <<<"$seg" && pass "RELRO" || fail "no RELRO"
grep -Eq 'BIND_NOW|FLAGS.*NOW' <<<"$dyn" && pass "full RELRO (bind now)" || fail "no BIND_NOW"
grep 'GNU_STACK' <<<"$seg" | grep -q 'RWE' && fail "executable stack" || pass "non-executable stack"
grep -q '__stack_chk_fail' <<<"$syms" && pass "stack protector" || fail "no stack protector"
grep -q '_chk@' <<<"$syms" && pass "fortified libc calls" || fail "no _FORTIFY_SOURCE"

# The caller's flags reach the compiler (Debian's hardening flags do so).
if make -s -C "$TOP" PROG="$WORK/flags/pta" CFLAGS="-O1 -DPTA_MARKER_FLAG" "$WORK/flags/pta" -n |
	grep -q -- '-DPTA_MARKER_FLAG'; then
	pass "CFLAGS honoured"
else
	fail "CFLAGS not passed to the compiler"
fi
for v in CPPFLAGS LDFLAGS; do
	make -s -C "$TOP" PROG="$WORK/flags/pta" "$v=-DPTA_MARKER_$v" "$WORK/flags/pta" -n |
		grep -q -- "-DPTA_MARKER_$v" && pass "$v honoured" || fail "$v not passed on"
done

finish
