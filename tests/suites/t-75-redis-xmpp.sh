#!/bin/bash
# Two XMPP servers, one replay store: a real Prosody (its helpers on the
# Unix socket, through mod_auth_token_socket) and a real ejabberd (a pool of
# 3 helpers as extauth_program, the shipped snippet adapted in its paths)
# serve the same domain with the same secrets, and their helpers share one
# redis-server on 127.0.0.1: Prosody's over TCP, ejabberd's over its Unix
# socket. A token accepted by one server is refused by the other, whichever
# comes first, and a token sent to both at once logs in exactly once.
#
# Needs prosody, ejabberd, redis-server, slixmpp and pyotp (tests/deps.sh);
# without Redis it is skipped, and says so. HELPER may name another build.
# About 20 s (ejabberd's start).
# (pass never fails, so "test && pass || fail" is a plain if-then-else here.)
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"
. "$TOP/tests/lib/redis-lib.sh"

DOMAIN=example.test
POOL=3

if ! redis_need; then
	skip "Prosody and ejabberd on one Redis" "no redis-server (Debian package redis-server)"
	finish
	exit $?
fi
missing=""
e2e_need 2>/dev/null || missing="$missing prosody/systemd/slixmpp/pyotp"
command -v erl >/dev/null && [ -x /usr/sbin/ejabberdctl ] || missing="$missing ejabberd"
if [ -n "$missing" ]; then
	echo "missing:$missing (tests/deps.sh installs them)" >&2
	fail "prerequisites"
	finish
	exit 1
fi
HELPER=$(realpath -s "$HELPER")

redis_start shared || { fail "redis-server started"; finish; exit 1; }
redis_seed shared

# --- Prosody, its helpers on a socket, to Redis over TCP -----------------------

PPORT=$(free_port)
PCONF=$WORK/prosody/prosody.cfg.lua
SOCK=$WORK/helper.sock
mkdir -p "$WORK/prosody"
redis_config "$WORK/prosody-helper.conf" "$(redis_url shared)"
e2e_prosody_config "$PCONF" "$PPORT" "$DOMAIN" "$SOCK" 5
e2e_serve_helper "$SOCK" "$WORK/prosody-helper.conf" || fail "the helper's socket"
e2e_start_prosody "$PCONF" "$PPORT" && pass "Prosody on 127.0.0.1:$PPORT, helpers on Redis over TCP" ||
	{ fail "Prosody started"; finish; exit 1; }

# --- ejabberd, a pool of helpers, to Redis over its Unix socket ------------------

EPORT=$(free_port)
EJ=$WORK/ejabberd
ECONF=$WORK/ejabberd-helper.conf
mkdir -p "$EJ/spool" "$EJ/log"
redis_config "$ECONF" "$(redis_unix_url shared)"
sed -e "s|/usr/bin/prosody-token-auth|$HELPER|g" \
	-e "s|/etc/ejabberd/token-auth.conf|$ECONF|g" \
	"$TOP/packaging/ejabberd.yml" >"$EJ/auth.yml"
cat >"$EJ/ejabberd.yml" <<EOF
hosts:
  - $DOMAIN
loglevel: info
acme:
  auto: false
listen:
  -
    port: $EPORT
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls: false
include_config_file: $EJ/auth.yml
EOF
ERL_LIBS=$(sed -n "s/^ERL_LIBS='\(.*\)'$/\1/p" /usr/sbin/ejabberdctl)
[ -n "$ERL_LIBS" ] || ERL_LIBS=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
(
	cd "$EJ/spool" || exit 1
	exec env HOME="$EJ" ERL_LIBS="$ERL_LIBS" EJABBERD_CONFIG_PATH="$EJ/ejabberd.yml" \
		EJABBERD_LOG_PATH="$EJ/log/ejabberd.log" \
		ERL_CRASH_DUMP="$EJ/log/erl_crash.dump" ERL_CRASH_DUMP_BYTES=0 \
		erl -noinput -noshell -start_epmd false +K true \
		-mnesia dir "\"$EJ/spool\"" -s ejabberd >"$EJ/log/erl.out" 2>&1
) &
BEAM=$!
pids+=("$BEAM")
if wait_for 60 port_open "$EPORT"; then
	pass "ejabberd on 127.0.0.1:$EPORT, a pool of $POOL helpers on Redis over its Unix socket"
else
	fail "ejabberd started"
	tail -20 "$EJ/log/erl.out" "$EJ/log/ejabberd.log" 2>/dev/null
	finish
	exit 1
fi

# login SERVER JID TOKEN: the outcome of one login to prosody or ejabberd.
login() {
	local port=$PPORT
	[ "$1" = ejabberd ] && port=$EPORT
	timeout 30 "${XMPP_CLIENT[@]}" --port "$port" --jid "$2" --password "$3" \
		--timeout 15 2>>"$WORK/client.err"
}

# --- one token, two servers ---------------------------------------------------------

T=$(token "alice@$DOMAIN")
check "Prosody accepts a token" success "$(login prosody "alice@$DOMAIN" "$T")"
check "... ejabberd then refuses it" not-authorized "$(login ejabberd "alice@$DOMAIN" "$T")"
check "... and Prosody too" not-authorized "$(login prosody "alice@$DOMAIN" "$T")"
T=$(token "bob@$DOMAIN")
check "ejabberd accepts a token" success "$(login ejabberd "bob@$DOMAIN" "$T")"
check "... Prosody then refuses it" not-authorized "$(login prosody "bob@$DOMAIN" "$T")"
check "... and ejabberd too (whichever helper of its pool)" "not-authorized not-authorized not-authorized" \
	"$(for _ in 1 2 3; do login ejabberd "bob@$DOMAIN" "$T"; done | tr '\n' ' ' | sed 's/ $//')"

# The same token to both servers at once, three times.
for round in 1 2 3; do
	T=$(token "carol@$DOMAIN")
	login prosody "carol@$DOMAIN" "$T" >"$WORK/race.p" &
	a=$!
	login ejabberd "carol@$DOMAIN" "$T" >"$WORK/race.e" &
	b=$!
	wait "$a" "$b"
	check "one token to Prosody and ejabberd at once, round $round: one in" "1" \
		"$(cat "$WORK/race.p" "$WORK/race.e" | grep -c '^success$')"
done

check "a fresh token still logs in on both (Prosody)" success "$(login prosody "dave@$DOMAIN" "$(token "dave@$DOMAIN")")"
check "... (ejabberd)" success "$(login ejabberd "dave@$DOMAIN" "$(token "dave@$DOMAIN")")"

# --- stop -------------------------------------------------------------------------

kill -TERM "$BEAM"
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_for 30 gone "$BEAM" || kill -KILL "$BEAM" 2>/dev/null
wait "$BEAM" 2>/dev/null
unspawn "$BEAM"
if grep -qi 'crash\|exit_status' "$EJ/log/ejabberd.log" 2>/dev/null; then
	grep -i 'extauth\|crash\|exit_status' "$EJ/log/ejabberd.log" | tail -5
	fail "no helper crashed while ejabberd ran"
else
	pass "no helper crashed while ejabberd ran"
fi

finish
