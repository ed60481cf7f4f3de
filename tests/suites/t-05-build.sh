#!/bin/bash
# The build: clean with clang as with gcc, and hardened (PIE, full RELRO,
# non-executable stack, stack protector, fortified calls).
. "$(dirname "$0")/../lib/lib.sh"

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

# make install: everything a system without the Debian package needs, in
# directories of one's choosing, the paths inside the files following them.
root=$WORK/root
if make -s -C "$TOP" install DESTDIR="$root" PREFIX=/opt/pta SYSCONFDIR=/opt/pta/etc \
	>"$WORK/install.log" 2>&1; then
	absent=""
	for path in /opt/pta/bin/prosody-token-auth /opt/pta/bin/prosody-token-auth-stress \
		/opt/pta/share/man/man1/prosody-token-auth.1 /opt/pta/share/man/man1/prosody-token-auth-stress.1 \
		/opt/pta/lib/prosody/modules/mod_auth_token_socket.lua \
		/opt/pta/lib/prosody/modules/mod_sasl_token.lua \
		/opt/pta/etc/prosody/conf.avail/prosody-token-auth.cfg.lua \
		/opt/pta/lib/systemd/system/prosody-token-auth.socket \
		/opt/pta/lib/systemd/system/prosody-token-auth@.service \
		/opt/pta/share/prosody-token-auth/tests/stress.sh \
		/opt/pta/bin/prosody-token-auth-storm /opt/pta/share/man/man1/prosody-token-auth-storm.1 \
		/opt/pta/share/prosody-token-auth/tests/xmpp_storm.py \
		/opt/pta/share/prosody-token-auth/tests/tokenconf.py \
		/opt/pta/share/doc/prosody-token-auth/examples/mint_token.py \
		/opt/pta/share/doc/prosody-token-auth/examples/ejabberd-connect.yml \
		/opt/pta/share/doc/prosody-token-auth/test-vectors.md \
		/opt/pta/share/doc/prosody-token-auth/doc/operating.md; do
		[ -f "$root$path" ] || absent="$absent $path"
	done
	check "make install: the helper, man pages, Prosody modules and fragment, units, stress harness, examples" "" "$absent"
	check "... the service runs the helper where it was installed" \
		"ExecStart=/opt/pta/bin/prosody-token-auth" \
		"$(grep '^ExecStart=' "$root/opt/pta/lib/systemd/system/prosody-token-auth@.service")"
	grep -q "/opt/pta/share/prosody-token-auth/tests/stress.sh" "$root/opt/pta/bin/prosody-token-auth-stress" &&
		pass "... and so does the stress harness's command" ||
		fail "stress command: $(cat "$root/opt/pta/bin/prosody-token-auth-stress")"
	grep -q "/opt/pta/share/prosody-token-auth/tests/xmpp_storm.py" "$root/opt/pta/bin/prosody-token-auth-storm" &&
		pass "... and so does the login storm client's command" ||
		fail "storm command: $(cat "$root/opt/pta/bin/prosody-token-auth-storm")"
	# What the installed Python pieces import is installed beside them.
	out=$(cd / && "$PY" -c 'import sys; sys.path[0] = sys.argv[1]; import stress_driver, xmpp_storm' \
		"$root/opt/pta/share/prosody-token-auth/tests" 2>&1)
	check "... the installed stress driver and storm client find what they import" "" "$out"
else
	fail "make install: $(tail -n 5 "$WORK/install.log")"
fi

finish
