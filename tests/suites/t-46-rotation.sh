#!/bin/bash
# Rotating the secrets without a flag day. rotate-secrets writes a new pair
# into the config file, the old one becoming the previous pair until a
# deadline; helpers already running take the file by themselves (or at once
# on SIGHUP) without a restart; during the overlap tokens made by the web
# application's own code with either pair pass, each once; after it the old
# pair's are refused. Over pipes, and through a real Prosody whose
# connections to the helpers stay open. Also: what rotate-secrets keeps of
# the file (comments, order, owner, group, mode), its refusals, and that a
# crash between writing and renaming never leaves a half-written config.
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

HELPER=$(realpath -s "$HELPER")
CONF=$WORK/token-auth.conf
make_config "$CONF"
sed -i '1i # the admin'"'"'s comment, kept' "$CONF"

# rotate [OPTIONS...]: rotate-secrets on $CONF; sets NEW_SEED, NEW_SECRET.
rotate() {
	"$HELPER" --config "$CONF" rotate-secrets "$@" >"$WORK/rotate.out" 2>&1 || return 1
	NEW_SEED=$(sed -n 's/^otp_seed     = //p' "$WORK/rotate.out")
	NEW_SECRET=$(sed -n 's/^token_secret = //p' "$WORK/rotate.out")
	[ -n "$NEW_SEED" ] && [ -n "$NEW_SECRET" ]
}

# --- long-running helpers over pipes ---------------------------------------

cat >"$WORK/rotation.py" <<'EOF'
import os, signal, subprocess, time
from suite import HELPER, WORK, check, Helper
import tokengen

CONF = os.environ["CONF"]
OLD = (os.environ["OTP_SEED"], os.environ["TOKEN_SECRET"])


def rotate(*args):
    r = subprocess.run(HELPER + ["--config", CONF, "rotate-secrets"] + list(args),
                       capture_output=True, text=True, timeout=30)
    pair = {}
    for line in r.stdout.splitlines():
        if line.startswith("otp_seed     = "):
            pair["seed"] = line.split("= ", 1)[1]
        if line.startswith("token_secret = "):
            pair["secret"] = line.split("= ", 1)[1]
    return r.returncode, (pair.get("seed"), pair.get("secret")), r


def token(pair, jid="bob@example.org", offset=0):
    return tokengen.mint(pair[0], pair[1], jid, offset)


h = Helper(CONF)
check(h.auth("bob@example.org", token(OLD)) == "1",
      "before the rotation: a token of the secrets in use accepted")
rc, new, r = rotate("--overlap", "1h")
check(rc == 0 and new[0] and new[1], "rotate-secrets prints the new pair",
      r.stdout + r.stderr)
check(OLD[0] not in r.stdout and OLD[1] not in r.stdout,
      "... and not the old one")

# The running helper, never restarted, takes the file within two seconds.
deadline = time.monotonic() + 2.5
while True:
    answer = h.auth("alice@example.org", token(new, "alice@example.org"))
    if answer == "1" or time.monotonic() > deadline:
        break
    time.sleep(0.1)
check(answer == "1",
      "a helper started before the rotation accepts the new pair's tokens "
      "within two seconds", answer)
check("loaded again" in h.log(), "... and logs that it took the new file",
      h.log()[-300:])
old_tok, new_tok = token(OLD, "carol@example.org"), token(new, "dave@example.org")
check(h.auth("carol@example.org", old_tok) == "1" and
      h.auth("dave@example.org", new_tok) == "1",
      "during the overlap: tokens of the old and of the new pair both pass")
check(h.auth("carol@example.org", old_tok) == "0" and
      h.auth("dave@example.org", new_tok) == "0",
      "... each once")

# SIGHUP: the very next request is answered with the file as it is now.
rc, newer, r = rotate("--force", "--overlap", "10m")
check(rc == 0, "rotate-secrets --force drops the pair whose overlap has not "
      "ended", r.stderr)
h.p.send_signal(signal.SIGHUP)
time.sleep(0.2)
check(h.auth("erin@example.org", token(newer, "erin@example.org")) == "1",
      "after SIGHUP, at once: the newest pair's tokens pass")
check(h.auth("frank@example.org", token(new, "frank@example.org")) == "1",
      "... and the pair it replaced is the previous one")
check(h.auth("gina@example.org", token(OLD, "gina@example.org")) == "0",
      "... while the first pair, dropped by --force, is refused")

# A broken file written over the config: the helper serves on with what it
# has, and says why once.
with open(CONF) as f:
    good = f.read()
with open(CONF, "w") as f:
    f.write(good + "this line is broken\n")
h.p.send_signal(signal.SIGHUP)
time.sleep(1.2)
check(h.auth("hank@example.org", token(newer, "hank@example.org")) == "1",
      "a broken config written over the file: the helper serves on")
time.sleep(1.2)
h.auth("ivan@example.org", token(newer, "ivan@example.org"))
check(h.log().count("still serving with the config loaded before") == 1,
      "... and logs why, once for that file", h.log()[-400:])
os.chmod(CONF, 0o644)
with open(CONF, "w") as f:
    f.write(good)
os.chmod(CONF, 0o644)
time.sleep(1.2)
check(h.auth("judy@example.org", token(newer, "judy@example.org")) == "1" and
      h.log().count("still serving") == 2,
      "a config readable by others is refused too, and said so")
os.chmod(CONF, 0o600)
os.rename(CONF, CONF + ".away")
time.sleep(1.2)
check(h.auth("kim@example.org", token(newer, "kim@example.org")) == "1",
      "the config file missing: the helper serves on")
os.rename(CONF + ".away", CONF)

# A store the sandbox cannot follow (another kind, another directory): the
# helper serves on with the store it has, and says a restart is needed.
for store, what in (("redis://127.0.0.1:9/", "a Redis URL"),
                    (os.path.join(WORK, "elsewhere"), "another directory")):
    with open(CONF, "w") as f:
        f.write("".join(l for l in good.splitlines(True)
                        if not l.startswith("replay_store")) +
                "replay_store = %s\n" % store)
    before = h.log().count("cannot follow")
    h.p.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    jid = "store%d@example.org" % len(what)
    check(h.auth(jid, token(newer, jid)) == "1" and h.p.poll() is None,
          "replay_store changed to %s, SIGHUP: the helper serves on "
          "with its store" % what, h.log()[-400:])
    check(h.log().count("cannot follow") == before + 1 and
          "restart the helpers" in h.log(),
          "... and logs that a restart is needed", h.log()[-400:])
with open(CONF, "w") as f:
    f.write(good)
h.p.stdin.close()
check(h.p.wait(10) == 0, "the helper exits 0 at the end of input")
EOF

export CONF
py_checks <"$WORK/rotation.py"

# --- after the deadline ----------------------------------------------------

# (A store of its own: a store that saw the clock an hour ahead refuses
# for a while when it is set right again.)
LIBFAKETIME=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
make_config "$CONF"
sed -i "s|^replay_store = .*|replay_store = $WORK/ahead-store|" "$CONF"
rotate --overlap 1h
if command -v faketime >/dev/null && [ -n "$LIBFAKETIME" ]; then
	old=$($TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" bob@example.org --offset 3660)
	new=$($TOKENGEN "$NEW_SEED" "$NEW_SECRET" alice@example.org --offset 3660)
	out=$(printf '%s\n' "auth:bob:example.org:$old" "auth:alice:example.org:$new" |
		timeout 30 faketime -f "+3660" "$HELPER" --config "$CONF")
	check "after the deadline: the old pair's tokens refused, the new pair's pass" "0 1" "$(echo $out)"
	why=$(timeout 30 faketime -f "+3660" "$HELPER" --config "$CONF" verify bob@example.org \
		"$($TOKENGEN "$OTP_SEED" "$TOKEN_SECRET" bob@example.org --offset 3660)")
	case $why in
	"invalid: bad signature"*) pass "... refused as a bad signature ($why)" ;;
	*) fail "after the deadline, verify says: $why" ;;
	esac
	out=$(timeout 30 faketime -f "+3660" "$HELPER" --config "$CONF" check-config)
	grep -q "previous pair (line [0-9]*) ignored since .*: remove previous_otp_seed" <<<"$out" &&
		pass "... and check-config says the previous pair can be removed" ||
		fail "check-config after the deadline: $out"
else
	skip "after the deadline" "needs faketime (Debian package faketime)"
fi

# --- what rotate-secrets keeps, and refuses --------------------------------

make_config "$CONF"
sed -i '1i # the admin'"'"'s comment, kept' "$CONF"
printf '[chat.example.org]   # its own secrets\notp_seed = MFRGGZDFMZTWQ2LK\ntoken_secret = 0123456789abcdefghijklmnopqrstuv\n' >>"$CONF"
chgrp nogroup "$CONF" 2>/dev/null || chgrp "$(id -gn)" "$CONF"
chmod 0640 "$CONF"
before=$(stat -c '%U:%G %a' "$CONF")
grep -v -e '^otp_seed' -e '^token_secret' "$CONF" >"$WORK/kept.before"
rotate --domain chat.example.org --overlap 2h
check "rotate-secrets --domain: a new pair for that section" 0 $?
check "... owner, group and mode kept" "$before" "$(stat -c '%U:%G %a' "$CONF")"
check "... the global pair untouched" "otp_seed     = $OTP_SEED" "$(grep '^otp_seed     = ' "$CONF")"
grep -q "^previous_otp_seed = MFRGGZDFMZTWQ2LK$" "$CONF" &&
	grep -q "^previous_token_secret = 0123456789abcdefghijklmnopqrstuv$" "$CONF" &&
	pass "... the section's old pair is now its previous pair" ||
	fail "rotated section: $(cat "$CONF")"
grep -v -e '^otp_seed' -e '^token_secret' -e '^previous_' "$CONF" >"$WORK/kept.after"
check "... every other line, comments too, kept in its order" "" \
	"$(diff "$WORK/kept.before" "$WORK/kept.after")"
rotate --domain chat.example.org
check "a second rotation while the overlap runs: refused" 1 $?
grep -q "accepted until .*give --force to drop it" "$WORK/rotate.out" &&
	pass "... saying until when, and what --force would do" ||
	fail "second rotation: $(cat "$WORK/rotate.out")"
rotate --domain chat.example.org --force
check "... done with --force" 0 $?
check "... still one previous pair" 1 "$(grep -c '^previous_otp_seed' "$CONF")"
# Two rotations at once, of the global pair and of a section's: each waits
# for the other (a lock beside the file), and neither undoes the other.
lost=0
for round in 1 2 3 4 5 6 7 8 9 10; do
	"$HELPER" --config "$CONF" rotate-secrets --force >"$WORK/global.out" 2>&1 &
	g=$!
	"$HELPER" --config "$CONF" rotate-secrets --force --domain chat.example.org \
		>"$WORK/domain.out" 2>&1 &
	d=$!
	wait "$g"; gs=$?
	wait "$d"; ds=$?
	for out in global domain; do
		seed=$(sed -n 's/^otp_seed     = //p' "$WORK/$out.out")
		secret=$(sed -n 's/^token_secret = //p' "$WORK/$out.out")
		if [ -z "$seed" ] || ! grep -q "^otp_seed *= $seed\$" "$CONF" ||
			! grep -q "^token_secret *= $secret\$" "$CONF"; then
			lost=$((lost + 1))
			echo "round $round: the $out pair (status $gs/$ds) is not in the file" >&2
		fi
	done
done
check "two rotations at once, 10 times: every pair printed is in the file" 0 "$lost"
check "... one previous pair each" 2 "$(grep -c '^previous_otp_seed' "$CONF")"
# Changed by something else between the read and the rename: refused.
if command -v strace >/dev/null; then
	cp -p "$CONF" "$WORK/edited.conf"
	echo "# an admin's edit" >>"$WORK/edited.conf"
	# (stopped at its first fsync, once the new text is written beside)
	strace -o /dev/null -e trace=fsync -e inject=fsync:signal=SIGSTOP:when=1 \
		"$HELPER" --config "$CONF" rotate-secrets --force >"$WORK/rotate.out" 2>&1 &
	r=$!
	deadline=$((SECONDS + 10))
	until child=$(pgrep -P "$r") && [ "$(ps -o stat= -p "$child" | cut -c1)" = T ] ||
		[ $SECONDS -ge $deadline ]; do
		sleep 0.05
	done
	cp -p "$WORK/edited.conf" "$CONF"
	[ -n "$child" ] && kill -CONT "$child"
	wait "$r"
	check "the file edited during a rotation: refused" 1 $?
	grep -q "changed while being rotated" "$WORK/rotate.out" &&
		pass "... saying so" || fail "edited: $(cat "$WORK/rotate.out")"
	check "... and the edit kept" "" "$(cmp "$WORK/edited.conf" "$CONF")"
else
	skip "the file edited during a rotation" "needs strace (Debian package strace)"
fi
rotate --domain nowhere.example
check "rotate-secrets for a domain without a section: refused" 1 $?
grep -q "no \[nowhere.example\] section" "$WORK/rotate.out" || fail "no section: $(cat "$WORK/rotate.out")"
"$HELPER" --config "$CONF" rotate-secrets --overlap 31d 2>"$WORK/rotate.out"
check "an overlap of more than 30 days: refused, as a usage error" 2 $?
"$HELPER" --config "$CONF" check-config >/dev/null
check "the config still loads" 0 $?
if command -v strace >/dev/null; then
	strace -f -e trace=connect,sendto,sendmsg -o "$WORK/strace.out" \
		"$HELPER" --config "$CONF" rotate-secrets --force >/dev/null 2>&1
	check "rotate-secrets sends nothing to syslog (the secrets go to the terminal only)" 0 \
		"$(grep -c '/dev/log' "$WORK/strace.out")"
fi

# A crash between writing and renaming: the config is whole, old or new.
if command -v strace >/dev/null; then
	cp -p "$CONF" "$WORK/before.conf"
	( strace -f -o /dev/null -e inject=rename:signal=SIGKILL \
		"$HELPER" --config "$CONF" rotate-secrets --force >/dev/null 2>&1 ) 2>/dev/null
	check "killed at the rename: the config is the old one, whole" "" \
		"$(cmp "$WORK/before.conf" "$CONF")"
	ls -A "$WORK" >"$WORK/files.before"
	strace -f -o /dev/null -e inject=rename:error=EIO \
		"$HELPER" --config "$CONF" rotate-secrets --force >"$WORK/rotate.out" 2>&1
	check "the rename failing: refused, the config unchanged" "1 " \
		"$? $(cmp "$WORK/before.conf" "$CONF")"
	check "... and nothing left beside it" "" \
		"$(ls -A "$WORK" | diff "$WORK/files.before" - | grep token-auth)"
	strace -f -o /dev/null -e inject=fsync:error=EIO \
		"$HELPER" --config "$CONF" rotate-secrets --force >/dev/null 2>&1
	check "the new file not flushed: refused, the config unchanged" "1 " \
		"$? $(cmp "$WORK/before.conf" "$CONF")"
else
	skip "crash between writing and renaming" "needs strace (Debian package strace)"
fi

# --- through a real Prosody ------------------------------------------------

if e2e_need 2>/dev/null; then
	PORT=$(free_port)
	SOCK=$WORK/helper.sock
	PCONF=$WORK/prosody/prosody.cfg.lua
	mkdir -p "$WORK/prosody"
	make_config "$CONF"
	e2e_serve_helper "$SOCK" "$CONF" || fail "socket served"
	e2e_prosody_config "$PCONF" "$PORT" example.test "$SOCK" 5 600
	if e2e_start_prosody "$PCONF" "$PORT"; then
		login() { timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --mech "$1" \
			--jid "$2" --password "$3" 2>>"$WORK/client.err"; }
		check "Prosody: a token of the pair in use logs in" success \
			"$(login PLAIN alice@example.test "$(token alice@example.test)")"
		rotate --overlap 1h
		# The provider keeps its connections, and so its helpers, open.
		deadline=$((SECONDS + 5))
		until [ "$(login PLAIN bob@example.test "$($TOKENGEN "$NEW_SEED" "$NEW_SECRET" bob@example.test)")" = success ] ||
			[ $SECONDS -ge $deadline ]; do
			sleep 0.2
		done
		[ $SECONDS -lt $deadline ] &&
			pass "Prosody: the new pair's tokens log in, the helpers not restarted" ||
			fail "Prosody: the new pair's tokens log in"
		old=$(token carol@example.test)
		check "Prosody: during the overlap the old pair's tokens log in too" success \
			"$(login X-TOKEN carol@example.test "$old")"
		check "... once" not-authorized "$(login X-TOKEN carol@example.test "$old")"
	else
		fail "Prosody starts"
	fi
else
	skip "rotation through Prosody" "needs prosody, systemd-socket-activate and python3-slixmpp (tests/deps.sh)"
fi

finish
