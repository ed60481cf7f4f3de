#!/bin/bash
# Who exists (isuser = any | seen): over pipes against LMDB and a real
# redis-server from Debian, then with a real Prosody on 127.0.0.1 (the
# helper reached on a Unix socket, as in t-50) whose host has isuser = seen.
#
# Proves: isuser = any (the default) says yes for every user of a configured
# domain; with seen, no until the JID logs in with a valid token, yes after,
# a refused login marks no one, a JWT's login marks its JID as a token's
# does, another domain keeps its own rule; the config needs store_secret for
# seen and names the line; check-config shows both keys; on Redis the mark is one key with the JID's hash tag and a day-rounded
# expiry, naming nobody, and a Redis that cannot be reached says no (fail
# closed); Prosody refuses a message to a never-seen user and keeps one for a
# seen offline user, delivered at their next login (Prosody routes a message
# in the sender's session, where the provider asks the helper: the same
# holds with token_socket_isuser_cache = 0).
#
# HELPER may name another build. About 20 seconds.
# shellcheck disable=SC2015
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../lib/redis-lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

STORE_SECRET=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567
DOMAIN=example.test

# ask CONF LINE...: one helper over pipes, the answers space-separated; its
# log in $WORK/stderr.
ask() {
	local conf=$1
	shift
	printf '%s\n' "$@" | timeout 30 "$HELPER" --config "$conf" --log stderr \
		2>"$WORK/stderr" | tr '\n' ' ' | sed 's/ $//'
}
auth() { echo "auth:${1%@*}:${1#*@}:$(token "$1")"; }

# --- the config --------------------------------------------------------------

make_config "$WORK/any.conf"
check "isuser = any (the default): anyone at a configured domain exists" "1 1 0" \
	"$(ask "$WORK/any.conf" "isuser:nobody:example.org" "isuser:x:other.example" "isuser:x:")"

make_config "$WORK/nosecret.conf" "isuser = seen"
out=$("$HELPER" --config "$WORK/nosecret.conf" check-config 2>&1)
grep -q "nosecret.conf:5: isuser = seen .*store_secret" <<<"$out" &&
	pass "isuser = seen without store_secret is refused, naming the line" ||
	fail "isuser = seen without store_secret is refused, naming the line: $out"

make_config "$WORK/seen.conf" "store_secret = $STORE_SECRET" "isuser = seen" \
	"isuser_seen_days = 30" "[other.example]" "otp_seed = $OTP_SEED" \
	"token_secret = $TOKEN_SECRET" "isuser = any"
out=$("$HELPER" --config "$WORK/seen.conf" check-config 2>&1)
grep -q "isuser = seen, isuser_seen_days = 30" <<<"$out" &&
	grep -q "isuser = any, isuser_seen_days = 30" <<<"$out" &&
	pass "check-config shows isuser and isuser_seen_days per domain" ||
	fail "check-config shows isuser and isuser_seen_days per domain: $out"

# --- LMDB over pipes ----------------------------------------------------------

check "LMDB: before any login, no one exists; other.example keeps any" "0 1" \
	"$(ask "$WORK/seen.conf" "isuser:alice:example.org" "isuser:alice:other.example")"
grep -q "isuser=unknown reason=not_seen jid=alice@example.org" "$WORK/stderr" &&
	pass "LMDB: the decision is logged" || fail "LMDB: the decision is logged"
check "LMDB: a refused login marks no one" "0 0" \
	"$(ask "$WORK/seen.conf" "auth:alice:example.org:$(token bob@example.org)" "isuser:alice:example.org")"
check "LMDB: after a valid login the JID exists, and only it" "1 1 0" \
	"$(ask "$WORK/seen.conf" "$(auth alice@example.org)" "isuser:alice:example.org" "isuser:bob:example.org")"
check "LMDB: a new helper finds the mark in the store" "1" \
	"$(ask "$WORK/seen.conf" "isuser:alice:example.org")"

# A JWT's login marks its JID as a collective.converse token's does.
"$HELPER" jwt-keygen --kid k1 --jwks "$WORK/set.jwks" \
	--private-key "$WORK/k1.pem" >/dev/null || fail "jwt-keygen"
make_config "$WORK/jwt.conf" "store_secret = $STORE_SECRET" "isuser = seen" \
	"jwt_keys = $WORK/set.jwks" "jwt_audience = xmpp"
jwt=$("$HELPER" --config "$WORK/jwt.conf" mint carol@example.org --jwt \
	--private-key "$WORK/k1.pem" --kid k1)
check "LMDB: a JWT's login marks its JID seen" "0 1 1" \
	"$(ask "$WORK/jwt.conf" "isuser:carol:example.org") $(ask "$WORK/jwt.conf" "auth:carol:example.org:$jwt" "isuser:carol:example.org")"

# --- Redis over pipes ---------------------------------------------------------

if ! redis_need; then
	skip "Redis" "no redis-server (tests/deps.sh installs it)"
elif ! redis_start main; then
	fail "redis-server started"
else
	redis_seed main || fail "pta:since set"
	RCONF=$WORK/redis.conf
	redis_config "$RCONF" "$(redis_url main)" "store_secret = $STORE_SECRET" \
		"isuser = seen" "isuser_seen_days = 2"
	check "Redis: before any login, no one exists" "0" \
		"$(ask "$RCONF" "isuser:carol:example.org")"
	check "Redis: after a valid login the JID exists, and only it" "1 1 0" \
		"$(ask "$RCONF" "$(auth carol@example.org)" "isuser:carol:example.org" "isuser:dave:example.org")"
	check "Redis: another helper finds the mark" "1" "$(ask "$RCONF" "isuser:carol:example.org")"
	keys=$(rcli main --scan --pattern 'pta:*:s')
	check "Redis: one seen mark" 1 "$(grep -c . <<<"$keys")"
	grep -Eq '^pta:\{[0-9a-f]{32}\}:s$' <<<"$keys" &&
		pass "Redis: the mark's key is the JID's keyed hash as a hash tag, naming nobody" ||
		fail "Redis: the mark's key is the JID's keyed hash as a hash tag: $keys"
	# (now taken before the TTL is read: the mark is set to expire at the
	# day's end (EXAT), so its TTL is at most left)
	now=$(date +%s)
	ttl=$(rcli main TTL "$keys")
	day=$((now / 86400))
	left=$(((day + 3) * 86400 - now))
	[ "$ttl" -gt $((left - 5)) ] && [ "$ttl" -le "$left" ] &&
		pass "Redis: it expires at the end of the day isuser_seen_days ahead ($ttl s)" ||
		fail "Redis: it expires at the end of the day isuser_seen_days ahead: $ttl, expected about $left"
	check "Redis: its value is that last day" "$((day + 2))" "$(rcli main GET "$keys")"
	redis_stop main
	started=$SECONDS
	check "Redis unreachable: isuser says no" "0" "$(ask "$RCONF" "isuser:carol:example.org")"
	[ $((SECONDS - started)) -lt 5 ] && pass "Redis unreachable: answered at once" ||
		fail "Redis unreachable: answered in $((SECONDS - started)) s"
	grep -q "isuser=unknown reason=store_failed jid=carol@example.org" "$WORK/stderr" &&
		pass "Redis unreachable: logged as store_failed" ||
		fail "Redis unreachable: logged as store_failed: $(cat "$WORK/stderr")"
fi

# --- A real Prosody -------------------------------------------------------------

if ! e2e_need 2>"$WORK/need"; then
	skip "Prosody" "$(cat "$WORK/need")"
	finish
	exit $?
fi
HELPER=$(realpath -s "$HELPER")
PORT=$(free_port) || {
	fail "no free port"
	finish
	exit 1
}
SOCK=$WORK/helper.sock
PCONF=$WORK/prosody/prosody.cfg.lua
mkdir -p "$WORK/prosody"
rm -rf "$WORK/replay"
make_config "$WORK/prosody.conf" "store_secret = $STORE_SECRET" "isuser = seen"

# client JID [xmpp_client.py options]: log in with a fresh token, then as told.
client() {
	local jid=$1
	shift
	timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --jid "$jid" \
		--password "$(token "$jid")" "$@" 2>>"$WORK/client.err"
}

e2e_serve_helper "$SOCK" "$WORK/prosody.conf" || fail "socket served"
E2E_MODULES='"offline"' E2E_GLOBAL='token_socket_isuser_cache = 1000' \
	e2e_prosody_config "$PCONF" "$PORT" "$DOMAIN" "$SOCK" 5
if ! e2e_start_prosody "$PCONF" "$PORT"; then
	fail "Prosody starts"
	tail -20 "$WORK/prosody/prosody.out" "$WORK/prosody/prosody.log" 2>/dev/null
	finish
	exit 1
fi
pass "Prosody starts with mod_offline and the helper's isuser = seen"

check "Prosody: alice logs in (and is seen)" success "$(client "alice@$DOMAIN")"
check "Prosody: a message to a never-seen user is refused" error:service-unavailable \
	"$(client "bob@$DOMAIN" --send-to "ghost@$DOMAIN" --body boo)"
check "Prosody: a message to seen alice, offline, is taken" no-error \
	"$(client "bob@$DOMAIN" --send-to "alice@$DOMAIN" --body "hello alice")"
check "Prosody: alice gets it at her next login" "received:hello alice" \
	"$(client "alice@$DOMAIN" --receive --wait 5)"
! compgen -G "$WORK/prosody/data/*/offline/ghost*" >/dev/null &&
	pass "Prosody: nothing is stored for the never-seen user" ||
	fail "Prosody: nothing is stored for the never-seen user"

finish
