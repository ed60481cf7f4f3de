#!/bin/bash
# End to end: a real Prosody logs users in with tokens through the helper,
# reached on a Unix socket served by systemd-socket-activate (one helper per
# connection, as the systemd socket unit does), and a real XMPP client
# (slixmpp) proves every outcome. Everything runs on 127.0.0.1.
#
# Environment:
#   HELPER               the helper binary (default: the one built in the tree)
#   PROSODY_MODULES_DIR  where mod_auth_token_socket.lua and mod_sasl_token.lua
#                        are (default: prosody/ in the tree; installed:
#                        /usr/lib/prosody/modules)

. "$(dirname "$0")/../lib/lib.sh"
. "$TOP/tests/lib/e2e-lib.sh"

DOMAIN=example.test
TIMEOUT=2 # token_socket_timeout of this Prosody, in seconds
IDLE=3    # token_socket_idle_timeout

if ! e2e_need; then
	fail "prerequisites (see above)"
	finish
	exit 1
fi
HELPER=$(realpath -s "$HELPER")

PORT=$(free_port) || {
	fail "no free port"
	finish
	exit 1
}
SOCK=$WORK/helper.sock
CONF=$WORK/helper.conf
PCONF=$WORK/prosody/prosody.cfg.lua
PLOG=$WORK/prosody/prosody.log
mkdir -p "$WORK/replay" "$WORK/prosody"
make_config "$CONF"

# login MECH JID TOKEN [client options]: print the outcome of one login.
login() {
	local mech=$1 jid=$2 tok=$3
	shift 3
	timeout 30 "${XMPP_CLIENT[@]}" --port "$PORT" --mech "$mech" --jid "$jid" \
		--password "$tok" "$@" 2>>"$WORK/client.err"
}

# batch_file FILE PREFIX N: N lines "PREFIXi@DOMAIN TOKEN" for a batch login,
# minted by the web application's reference code (one process for all).
batch_file() {
	$PY - "$TOP/tests/harness" "$OTP_SEED" "$TOKEN_SECRET" "$2" "$3" "$DOMAIN" >"$1" <<-'EOF'
		import sys
		sys.path.insert(0, sys.argv[1])
		from tokengen import mint
		seed, secret, prefix, n, domain = sys.argv[2:7]
		for i in range(1, int(n) + 1):
		    jid = "%s%d@%s" % (prefix, i, domain)
		    print(jid, mint(seed, secret, jid))
	EOF
}

# log_mark: remember where Prosody's log ends now; log_has TEXT: a line
# written since the last mark contains TEXT.
log_start=1
log_mark() {
	log_start=$(($(wc -l <"$PLOG") + 1))
}
log_has() {
	tail -n "+$log_start" "$PLOG" | grep -qF -- "$1"
}

# start_pinger NAME: log in as NAME and ping the server until $WORK/NAME.stop
# exists; sets PINGER. stop_pinger NAME prints its report.
start_pinger() {
	rm -f "$WORK/$1.stop"
	spawn "${XMPP_CLIENT[@]}" --port "$PORT" --jid "$1@$DOMAIN" \
		--password "$(token "$1@$DOMAIN")" --ping-until "$WORK/$1.stop" \
		--timeout 60 >"$WORK/$1.out" 2>>"$WORK/client.err"
	PINGER=$!
	wait_for 15 grep -q '^ready$' "$WORK/$1.out"
}
stop_pinger() {
	touch "$WORK/$1.stop"
	wait_for 10 grep -q '^pings ' "$WORK/$1.out"
	grep '^pings ' "$WORK/$1.out"
}

# pings_ok REPORT: every ping was answered, none slower than a second.
pings_ok() {
	local sent answered rtt
	sent=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$1")
	answered=$(sed -n 's/.*answered=\([0-9]*\).*/\1/p' <<<"$1")
	rtt=$(sed -n 's/.*max_rtt=\([0-9.]*\).*/\1/p' <<<"$1")
	[ -n "$sent" ] && [ "$sent" -gt 0 ] && [ "$sent" = "$answered" ] &&
		awk -v r="$rtt" 'BEGIN { exit !(r < 1.0) }'
}

echo "# Prosody on 127.0.0.1:$PORT, helper $HELPER, modules $PROSODY_MODULES_DIR"

e2e_serve_helper "$SOCK" "$CONF" || fail "socket served"
SERVER=$E2E_SERVER
e2e_prosody_config "$PCONF" "$PORT" "$DOMAIN" "$SOCK" "$TIMEOUT" "$IDLE"
if ! e2e_start_prosody "$PCONF" "$PORT"; then
	fail "Prosody starts"
	tail -20 "$WORK/prosody/prosody.out" "$PLOG" 2>/dev/null
	finish
	exit 1
fi
pass "Prosody starts with authentication = \"token_socket\""

# --- Valid and invalid tokens, both mechanisms

check "PLAIN: a valid token logs in" success \
	"$(login PLAIN "alice@$DOMAIN" "$(token "alice@$DOMAIN")")"
check "X-TOKEN: a valid token logs in" success \
	"$(login X-TOKEN "alice@$DOMAIN" "$(token "alice@$DOMAIN")")"

tok=$(token "bob@$DOMAIN")
check "PLAIN: first use of a token" success "$(login PLAIN "bob@$DOMAIN" "$tok")"
check "PLAIN: the same token replayed is refused" not-authorized \
	"$(login PLAIN "bob@$DOMAIN" "$tok")"
check "X-TOKEN: the same token replayed is refused" not-authorized \
	"$(login X-TOKEN "bob@$DOMAIN" "$tok")"

check "PLAIN: an expired token is refused" not-authorized \
	"$(login PLAIN "alice@$DOMAIN" "$(token "alice@$DOMAIN" --offset -600)")"
check "X-TOKEN: an expired token is refused" not-authorized \
	"$(login X-TOKEN "alice@$DOMAIN" "$(token "alice@$DOMAIN" --offset -600)")"
check "PLAIN: another user's token is refused" not-authorized \
	"$(login PLAIN "alice@$DOMAIN" "$(token "carol@$DOMAIN")")"
check "X-TOKEN: another user's token is refused" not-authorized \
	"$(login X-TOKEN "alice@$DOMAIN" "$(token "carol@$DOMAIN")")"
check "PLAIN: another domain's token is refused" not-authorized \
	"$(login PLAIN "alice@$DOMAIN" "$(token "alice@other.test")")"
check "X-TOKEN: another domain's token is refused" not-authorized \
	"$(login X-TOKEN "alice@$DOMAIN" "$(token "alice@other.test")")"
check "PLAIN: garbage is refused" not-authorized \
	"$(login PLAIN "alice@$DOMAIN" "not a token")"
check "X-TOKEN: garbage is refused" not-authorized \
	"$(login X-TOKEN "alice@$DOMAIN" "12345678:9 x:y")"
check "X-TOKEN: an authzid naming another user is refused" invalid-authzid \
	"$(login X-TOKEN "alice@$DOMAIN" "$(token "alice@$DOMAIN")" --authzid "bob@$DOMAIN")"
check "X-TOKEN: an authzid naming the user itself is accepted" success \
	"$(login X-TOKEN "alice@$DOMAIN" "$(token "alice@$DOMAIN")" --authzid "alice@$DOMAIN")"
check "PLAIN: the user part is normalised (Dave logs in as dave)" success \
	"$(login PLAIN "Dave@$DOMAIN" "$(token "dave@$DOMAIN")")"

# --- The fragment switches its own host only

check "another host keeps its own accounts: a valid token is no password there" not-authorized \
	"$(login PLAIN "alice@$E2E_OTHER_DOMAIN" "$(token "alice@$E2E_OTHER_DOMAIN")")"
check "another host does not offer X-TOKEN" mechanism-not-offered \
	"$(login X-TOKEN "alice@$E2E_OTHER_DOMAIN" "$(token "alice@$E2E_OTHER_DOMAIN")")"

# --- 50 concurrent logins while a logged-in client keeps pinging

batch_file "$WORK/batch" user 50
if start_pinger pinger1; then
	started=$SECONDS
	summary=$(timeout 60 "${XMPP_CLIENT[@]}" --port "$PORT" --mech X-TOKEN \
		--batch "$WORK/batch" --timeout 30 2>>"$WORK/client.err" | tail -1)
	check "50 concurrent logins with distinct tokens all succeed" \
		"50 succeeded, 0 failed" "$summary"
	report=$(stop_pinger pinger1)
	if pings_ok "$report"; then
		pass "a logged-in client's pings are answered during them ($report, $((SECONDS - started)) s)"
	else
		fail "a logged-in client's pings are answered during them: $report"
	fi
	wait "$PINGER" 2>/dev/null
else
	fail "pinger logs in: $(cat "$WORK/pinger1.out")"
fi

# --- The helper killed

check "a login opens a connection to a helper" success \
	"$(login PLAIN "erin@$DOMAIN" "$(token "erin@$DOMAIN")")"
if [ -n "$(pgrep -P "$SERVER")" ]; then
	e2e_kill_children "$SERVER" KILL
	check "helper processes killed: the next login still works" success \
		"$(login PLAIN "erin@$DOMAIN" "$(token "erin@$DOMAIN")")"
else
	fail "a helper process is running for Prosody's connection"
fi

batch_file "$WORK/batch2" run 20
timeout 60 "${XMPP_CLIENT[@]}" --port "$PORT" --batch "$WORK/batch2" \
	>"$WORK/batch2.out" 2>>"$WORK/client.err" &
batch=$!
for _ in 1 2 3 4 5; do
	sleep 0.2
	e2e_kill_children "$SERVER" KILL
done
wait "$batch"
echo "# helpers killed during 20 logins: $(tail -1 "$WORK/batch2.out")"
check "helper processes killed in the middle of a run: the next login works" success \
	"$(login X-TOKEN "erin@$DOMAIN" "$(token "erin@$DOMAIN")")"

# A helper that dies with a request outstanding: the first connection runs a
# stub that reads the request and exits; Prosody asks again on a new
# connection, which runs the real helper.
e2e_stop_server "$SERVER" "$SOCK"
log_mark
e2e_serve "$SOCK" /bin/sh -c \
	'if mkdir "$0" 2>/dev/null; then head -c 1 >/dev/null; exit 1; fi; exec "$1" --config "$2"' \
	"$WORK/crashed-once" "$HELPER" "$CONF" || fail "crashing stub served"
SERVER=$E2E_SERVER
check "a helper dying with the request outstanding: the login still works" success \
	"$(login PLAIN "frank@$DOMAIN" "$(token "frank@$DOMAIN")")"
if [ -d "$WORK/crashed-once" ] && log_has "asking again"; then
	pass "the request was asked again on a new connection"
else
	fail "the request was asked again on a new connection"
fi

# --- The socket missing

e2e_stop_server "$SERVER" "$SOCK"
log_mark
check "socket missing: PLAIN login fails cleanly" not-authorized \
	"$(login PLAIN "gina@$DOMAIN" "$(token "gina@$DOMAIN")")"
check "socket missing: X-TOKEN login fails as temporary" temporary-auth-failure \
	"$(login X-TOKEN "gina@$DOMAIN" "$(token "gina@$DOMAIN")")"
# (Judged from Prosody's log, not a clock: the machine may be busy.)
if log_has "did not answer within"; then
	fail "socket missing: a login waited for the timeout"
else
	pass "socket missing: the failure comes at once, not after the timeout"
fi
if log_has "Cannot reach the token helper at $SOCK"; then
	pass "socket missing: Prosody logs a clear error"
else
	fail "socket missing: Prosody logs a clear error"
fi
e2e_serve_helper "$SOCK" "$CONF" || fail "socket served again"
SERVER=$E2E_SERVER
check "socket back: logins work again" success \
	"$(login PLAIN "gina@$DOMAIN" "$(token "gina@$DOMAIN")")"

# --- A helper that never answers

if start_pinger pinger2; then
	e2e_stop_server "$SERVER" "$SOCK"
	e2e_serve "$SOCK" /bin/sh -c 'exec cat >/dev/null' || fail "silent stub served"
	SERVER=$E2E_SERVER
	log_mark
	started=$(date +%s.%N)
	login PLAIN "hank@$DOMAIN" "$(token "hank@$DOMAIN")" >"$WORK/hang1" &
	hang1=$!
	login X-TOKEN "ivy@$DOMAIN" "$(token "ivy@$DOMAIN")" >"$WORK/hang2"
	wait "$hang1"
	elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	check "silent helper: PLAIN login fails" not-authorized "$(cat "$WORK/hang1")"
	check "silent helper: X-TOKEN login fails as temporary" temporary-auth-failure "$(cat "$WORK/hang2")"
	if awk -v t="$elapsed" -v max="$TIMEOUT" 'BEGIN { exit !(t >= max && t < max + 5) }'; then
		pass "silent helper: the logins end after the ${TIMEOUT} s timeout (${elapsed} s)"
	else
		fail "silent helper: the logins took ${elapsed} s with a ${TIMEOUT} s timeout"
	fi
	if log_has "The token helper at $SOCK did not answer within $TIMEOUT seconds"; then
		pass "silent helper: Prosody logs the timeout"
	else
		fail "silent helper: Prosody logs the timeout"
	fi
	report=$(stop_pinger pinger2)
	if pings_ok "$report"; then
		pass "silent helper: other sessions are unaffected ($report)"
	else
		fail "silent helper: other sessions are unaffected: $report"
	fi
	wait "$PINGER" 2>/dev/null
	e2e_stop_server "$SERVER" "$SOCK"
	e2e_serve_helper "$SOCK" "$CONF" || fail "socket served again"
	SERVER=$E2E_SERVER
	check "helper back: logins work again" success \
		"$(login X-TOKEN "hank@$DOMAIN" "$(token "hank@$DOMAIN")")"
else
	fail "pinger logs in: $(cat "$WORK/pinger2.out")"
fi

# --- Idle connections are closed (their helpers end)

no_helpers() { [ -z "$(pgrep -P "$SERVER")" ]; }
if ! no_helpers && wait_for $((3 * IDLE)) no_helpers; then
	pass "idle connections are closed after ${IDLE} s: no helper process lingers"
else
	fail "idle connections are closed after ${IDLE} s: helpers left: $(pgrep -P "$SERVER" | xargs)"
fi

# --- Accounts are the web application's

out=$(timeout 30 prosodyctl --config "$PCONF" register zed "$DOMAIN" secret 2>&1)
case $out in
*"Accounts are managed by the web application"*) pass "account creation is refused with a clear message" ;;
*) fail "account creation is refused with a clear message: $(tail -2 <<<"$out")" ;;
esac
out=$(timeout 30 prosodyctl --config "$PCONF" deluser "alice@$DOMAIN" 2>&1)
case $out in
*"Accounts are managed by the web application"*) pass "account deletion is refused with a clear message" ;;
*) fail "account deletion is refused with a clear message: $(tail -2 <<<"$out")" ;;
esac

log_start=1
if log_has "Traceback"; then
	fail "no Lua errors in Prosody's log: $(grep -m1 Traceback "$PLOG")"
else
	pass "no Lua errors in Prosody's log"
fi

kill "$E2E_PROSODY" 2>/dev/null
wait "$E2E_PROSODY" 2>/dev/null

# --- The demo

if DEMO_ONCE=1 timeout 90 bash "$TOP/tests/demo.sh" >"$WORK/demo.out" 2>&1; then
	pass "the demo runs to completion (DEMO_ONCE=1)"
else
	fail "the demo runs to completion (DEMO_ONCE=1): $(tail -5 "$WORK/demo.out")"
fi
if grep -q '^login: success' "$WORK/demo.out"; then
	pass "the demo proves a login"
else
	fail "the demo proves a login"
fi

finish
